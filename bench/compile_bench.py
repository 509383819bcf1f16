"""Compile-time benchmark: synthetic projects of growing size, timed through the real CLI.

Shapes: a chain (each model filters the previous one), layered joins (each model joins two
models of the previous layer), and a fan-out (every model reads the same source). For each
size the script prints the cold compile (no cache) and the warm compile (unchanged project,
cache present), and the growth factor from 1,000 to 10,000 models.

    .venv/bin/python bench/compile_bench.py            # 1,000 and 10,000 models
    .venv/bin/python bench/compile_bench.py 200 2000   # other sizes

Goals (issue 2): 10,000 models cold <= 5 s, 10k/1k <= 12x, warm 10,000 <= 1 s, --help <= 0.3 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def timed(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"command failed: {' '.join(args)}\n{result.stdout}{result.stderr}")
    return elapsed


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 10000]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    helps = [timed([*SLUICE, "--help"], Path.cwd()) for _ in range(5)]
    print(f"sluice --help: best {min(helps):.3f} s of 5")
    shapes = {"chain": chain, "layered joins": layered, "fan-out": fan_out}
    work = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
    try:
        for shape, make in shapes.items():
            cold_by_size = {}
            for size in sizes:
                root = work / f"{shape.replace(' ', '_')}_{size}"
                write_project(root, make(size))
                cold = timed([*SLUICE, "compile", "--project-dir", str(root)], root)
                warm = timed([*SLUICE, "compile", "--project-dir", str(root)], root)
                cold_by_size[size] = cold
                print(f"{shape:<14} {size:>6} models: cold {cold:6.2f} s   warm {warm:5.2f} s")
            if len(sizes) >= 2:
                low, high = sizes[0], sizes[-1]
                print(
                    f"{shape:<14} growth {low}->{high}: x{cold_by_size[high] / cold_by_size[low]:.1f} (size x{high / low:g})"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
