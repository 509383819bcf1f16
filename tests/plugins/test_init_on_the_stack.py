"""`sluice init` makes a project that runs on the local stack as it is, by the steps it prints."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.testing import SluiceProject, local_stack

pytestmark = pytest.mark.integration
pytest.importorskip("sluice_kafka")
pytest.importorskip("sluice_flink")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with local_stack(tmp_path_factory.mktemp("stack"), ["kafka", "flink-sql-gateway"]) as env:
        yield env


def test_the_scaffolded_project_applies_runs_and_passes_its_tests(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = SluiceProject(tmp_path / "shop")
    created = project.run("init", str(project.path))
    assert created.exit_code == 0, created.output
    assert "python feed.py" in created.output and "sluice apply" in created.output

    fed = subprocess.run(
        [sys.executable, "feed.py", "--orders", "60"],
        cwd=project.path,
        env={"KAFKA_BOOTSTRAP": env["KAFKA_BOOTSTRAP"], "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    valid = json.loads(fed.stdout.splitlines()[-1])["valid"]
    try:
        applied = project.run("apply", env=env)
        assert applied.exit_code == 0, applied.output
        assert "done    job sluice.shop.orders_valid" in applied.output
        assert "done    job sluice.shop.revenue_per_minute" in applied.output
        status = project.run("status", env=env).output
        for job in ("orders_valid", "revenue_per_minute"):
            assert re.search(rf"sluice\.shop\.{job}\s+RUNNING", status), status

        # every valid order reaches orders_valid, and the scaffold's data test holds on them
        deadline, tested = time.monotonic() + 120, ""
        while time.monotonic() < deadline:
            tested = project.run("test", env=env).output
            if f"hold on {valid} records of 'orders_valid'" in tested:
                break
            time.sleep(2)
        assert "PASS  orders_valid_quality" in tested and f"on {valid} records" in tested, tested
    finally:
        project.run("destroy", "--yes", env=env)
