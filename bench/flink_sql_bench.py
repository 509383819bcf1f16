"""Flink SQL generation benchmark: the time sluice-flink spends turning models into the
statements of their jobs, for the synthetic projects of ``compile_bench.py``.

The project is compiled in this process; sluice-flink's compile hook is wrapped with a timer
before the plugin manager registers it, so the figure is the hook's own time (input and output
tables, options, masking, hashes), without rendering, SQL analysis or file writing.

    .venv/bin/python bench/flink_sql_bench.py                # 10,000 models, every shape
    .venv/bin/python bench/flink_sql_bench.py 1000 --repeat 3

Goal (issue 4): Flink SQL for 10,000 models in at most 5 s.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from compile_bench import chain, fan_out, layered, write_project  # the same projects

SHAPES: dict[str, Callable[[int], list[str]]] = {
    "chain": chain,
    "layered": layered,
    "fan-out": fan_out,
}


class HookTimer:
    """Wraps sluice-flink's ``sluice_compile`` (keeping its hookimpl marker) and sums its time."""

    def __init__(self) -> None:
        import sluice_flink.plugin as plugin

        self.seconds = 0.0
        self.calls = 0
        self.jobs = 0
        original = plugin.sluice_compile

        @functools.wraps(original)  # copies the hookimpl marker, so pluggy registers the wrapper
        def timed(**kwargs: Any) -> Any:
            started = time.perf_counter()
            result = original(**kwargs)
            self.seconds += time.perf_counter() - started
            self.calls += 1
            self.jobs += len(result or ())
            return result

        plugin.sluice_compile = timed  # type: ignore[assignment]

    def reset(self) -> None:
        self.seconds, self.calls, self.jobs = 0.0, 0, 0


def compile_once(root: Path) -> None:
    from click.testing import CliRunner

    from sluice.cli.main import cli

    result = CliRunner().invoke(
        cli, ["compile", "--project-dir", str(root)], catch_exceptions=False
    )
    if result.exit_code != 0:
        sys.exit(f"compile failed:\n{result.output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10000])
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--repeat", type=int, default=1, help="best of N compiles")
    args = parser.parse_args()
    os.environ["NO_COLOR"] = "1"
    timer = HookTimer()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, best of {args.repeat}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for shape in args.shapes.split(","):
                root = Path(tmp) / f"{shape}-{size}"
                write_project(root, SHAPES[shape](size))
                best = float("inf")
                for _ in range(args.repeat):
                    shutil.rmtree(root / "target", ignore_errors=True)  # a cold compile
                    timer.reset()
                    compile_once(root)
                    best = min(best, timer.seconds)
                per_job = best / max(timer.jobs, 1) * 1e6
                print(
                    f"{shape:8} {size:6} models: Flink SQL of {timer.jobs} jobs in {best:6.2f} s "
                    f"({per_job:.0f} us per job)"
                )


if __name__ == "__main__":
    main()
