"""Compile-time benchmark: synthetic projects of growing size, timed through the real CLI.

Shapes: a chain (each model filters the previous one), layered joins (each model joins two
models of the previous layer), and a fan-out (every model reads the same source). For each
size the script prints the cold compile (no cache) and the warm compile (unchanged project,
cache present), and the growth factor from 1,000 to 10,000 models.

    .venv/bin/python bench/compile_bench.py            # 1,000 and 10,000 models
    .venv/bin/python bench/compile_bench.py 200 2000   # other sizes
    .venv/bin/python bench/compile_bench.py 10000 --shapes chain --repeat 3

``--repeat N`` reports the best of N cold and N warm compiles (the machine may be shared), and
the least user and system CPU time of the cold ones: the system time is mostly the kernel
creating the artifact files, which on a shared machine varies with everyone's disk activity
(and on this VM's disk is several times slower right after many files were deleted, as the
``rm -rf target`` before each cold compile does). From 200 nodes a helper process writes those
files while the compile runs (``sluice.target_files``); its CPU time is counted too, so user
plus system can exceed the wall time.
``--against DIR`` compiles the same projects with another checkout of sluice too (for example
``git worktree add /tmp/sluice-base HEAD~3``, or ``git archive`` into a folder), alternating
the two so that both meet the same load, and prints the ratio: before/after in one run.

Goals (issue 2): 10,000 models cold <= 5 s, 10k/1k <= 12x, warm 10,000 <= 1 s, --help <= 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

SLUICE = [sys.executable, "-m", "sluice.cli.main"]

HEADER = """\
project: {{ name: bench }}
runtime:
  kafka: {{ bootstrap_servers: "localhost:9092" }}
  flink: {{ rest_url: "http://localhost:8081" }}
defaults:
  topic: {{ partitions: 3, replication_factor: 1 }}
sources:
  - name: events
    topic: events.v1
    event_time: {{ column: ts, watermark: 5s }}
    columns:
      - {{ name: id, type: STRING }}
      - {{ name: v, type: BIGINT }}
      - {{ name: ts, type: "TIMESTAMP(3)" }}
"""


def model(name: str, sql: str) -> str:
    body = "\n".join("      " + line for line in sql.splitlines())
    return f"  - name: {name}\n    description: bench model\n    sql: |\n{body}\n"


def chain(size: int) -> list[str]:
    models = [model("m0", 'SELECT id, v, ts FROM {{ source("events") }} WHERE v > 0')]
    for i in range(1, size):
        models.append(
            model(
                f"m{i}",
                f'SELECT id, v + 1 AS v, ts FROM {{{{ ref("m{i - 1}") }}}} WHERE v > {i % 7}',
            )
        )
    return models


def layered(size: int, width: int = 100) -> list[str]:
    models = []
    for i in range(size):
        layer, slot = divmod(i, width)
        if layer == 0:
            models.append(model(f"m{i}", 'SELECT id, v, ts FROM {{ source("events") }}'))
            continue
        a = (layer - 1) * width + slot
        b = (layer - 1) * width + (slot + 1) % width
        sql = (
            f"SELECT a.id, a.v + b.v AS v, a.ts\n"
            f'FROM {{{{ ref("m{a}") }}}} a\n'
            f"JOIN {{{{ ref(\"m{b}\") }}}} b ON a.id = b.id AND a.ts BETWEEN b.ts - INTERVAL '1' MINUTE AND b.ts"
        )
        models.append(model(f"m{i}", sql))
    return models


def fan_out(size: int) -> list[str]:
    return [
        model(f"m{i}", f'SELECT id, v * {i} AS v, ts FROM {{{{ source("events") }}}}')
        for i in range(size)
    ]


def write_project(root: Path, models: list[str], per_file: int = 100) -> None:
    root.mkdir(parents=True)
    (root / "stream_project.yml").write_text(HEADER.format())
    folder = root / "models"
    folder.mkdir()
    for start in range(0, len(models), per_file):
        (folder / f"part_{start // per_file:05d}.yml").write_text(
            "models:\n" + "".join(models[start : start + per_file])
        )


class Run(NamedTuple):
    wall: float
    user: float  # CPU seconds in Python and libraries
    system: float  # CPU seconds in the kernel: mostly creating the artifact files


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"command failed: {' '.join(args)}\n{result.stdout}{result.stderr}")
    return Run(elapsed, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)


def checkout_env(checkout: Path | None) -> dict[str, str]:
    """The environment that makes ``python -m sluice...`` import sluice from ``checkout``.

    The dev virtualenv installs the core and the plugins editable (paths in a .pth file), so
    putting another checkout's source folders first on PYTHONPATH runs that checkout instead.
    """
    env = {**os.environ, "NO_COLOR": "1"}
    # An installed sluice starts from compiled bytecode (pip compiles it at install); an
    # editable checkout under PYTHONDONTWRITEBYTECODE would compile every module at every
    # start instead (0.5-1 s measured here), so the first run writes __pycache__ as usual.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if checkout is not None:
        folders = [checkout / "core" / "src", *sorted(checkout.glob("plugins/*/src"))]
        env["PYTHONPATH"] = os.pathsep.join(str(f.resolve()) for f in folders)
    return env


def cold_then_warm(root: Path, env: dict[str, str]) -> tuple[Run, Run]:
    """One cold compile (no target/ at all) then one warm compile (unchanged project)."""
    shutil.rmtree(root / "target", ignore_errors=True)
    command = [*SLUICE, "compile", "--project-dir", str(root)]
    return timed(command, root, env), timed(command, root, env)


SHAPES = {"chain": chain, "layered": layered, "fan-out": fan_out}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated: %(default)s")
    parser.add_argument("--repeat", type=int, default=1, help="best of N compiles")
    parser.add_argument("--against", type=Path, help="another sluice checkout to compare with")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    shapes = {name: SHAPES[name] for name in args.shapes.split(",")}
    runs = {"this": checkout_env(None)}
    if args.against is not None:
        runs = {"against": checkout_env(args.against), **runs}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, best of {args.repeat}")
    for label, env in runs.items():
        helps = [timed([*SLUICE, "--help"], Path.cwd(), env).wall for _ in range(5)]
        print(f"{label:<8} sluice --help: best {min(helps):.3f} s of 5")
    work = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
    try:
        for shape, make in shapes.items():
            cold_by_size: dict[str, dict[int, float]] = {label: {} for label in runs}
            for size in args.sizes:
                root = work / f"{shape}_{size}"
                write_project(root, make(size))
                times: dict[str, list[tuple[Run, Run]]] = {label: [] for label in runs}
                for _ in range(args.repeat):  # alternate, so both checkouts meet the same load
                    for label, env in runs.items():
                        times[label].append(cold_then_warm(root, env))
                for label in runs:
                    colds = [c for c, _ in times[label]]
                    cold = min(c.wall for c in colds)
                    warm = min(w.wall for _, w in times[label])
                    cold_by_size[label][size] = cold
                    print(
                        f"{label:<8} {shape:<8} {size:>6} models: cold {cold:6.2f} s   "
                        f"warm {warm:5.2f} s   (cold CPU: user {min(c.user for c in colds):5.2f}"
                        f" s, system {min(c.system for c in colds):5.2f} s)"
                    )
                if args.against is not None:
                    ratio = cold_by_size["against"][size] / cold_by_size["this"][size]
                    print(f"{'':<8} {shape:<8} {size:>6} models: cold x{ratio:.2f} faster")
            if len(args.sizes) >= 2:
                low, high = args.sizes[0], args.sizes[-1]
                for label in runs:
                    growth = cold_by_size[label][high] / cold_by_size[label][low]
                    print(
                        f"{label:<8} {shape:<8} growth {low}->{high}: x{growth:.1f} "
                        f"(size x{high / low:g})"
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
