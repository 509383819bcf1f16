"""The card-payments example in enhanced mode: the same models, with ``runtime.conduktor`` from
``environments/enhanced.yml`` (``--env enhanced``), against the fake Conduktor Gateway and
Console.

Compiling uses every real plugin (it contacts nothing). Plan and apply load the stand-ins of
sluice-kafka, sluice-flink and sluice-connect (``offline_stack_plugins``: they compile as the
real ones and plan nothing), so the only systems these runs reach are the fakes, and the
addresses of Kafka, Flink and Connect point nowhere to prove it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from plugins.conduktor.fake_console import API_KEY, FakeConsole
from plugins.conduktor.fake_gateway import PASSWORD, USER, FakeGateway
from sluice.testing import RunResult, SluiceProject

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "card-payments"
PROXY = "gateway.test:6969"
NOWHERE = {
    "KAFKA_BOOTSTRAP": "127.0.0.1:1",
    "FLINK_REST_URL": "http://127.0.0.1:1",
    "FLINK_SQL_GATEWAY_URL": "http://127.0.0.1:1",
    "CONNECT_REST_URL": "http://127.0.0.1:1",
}
INTERCEPTOR = "sluice.card-payments.large_payments.sql"
MASKING = "sluice.card-payments.card_activity.mask"
SQL_TOPIC = "io.conduktor.gateway.interceptor.VirtualSqlTopicPlugin"
FOREIGN = {
    "kind": "Interceptor",
    "apiVersion": "gateway/v2",
    "metadata": {"name": "another-team-guard", "scope": {}},
    "spec": {"pluginClass": "io.example.Guard", "priority": 1, "config": {}},
}


def copy_example(tmp_path: Path) -> SluiceProject:
    project = SluiceProject(tmp_path / "card-payments")
    shutil.copytree(EXAMPLE, project.path, ignore=shutil.ignore_patterns(".sluice", "target"))
    return project


def conduktor_env(gateway_url: str, console_url: str) -> dict[str, str]:
    """The variables environments/enhanced.yml reads."""
    return {
        "GATEWAY_URL": gateway_url,
        "GATEWAY_BOOTSTRAP": PROXY,
        "GATEWAY_USER": USER,
        "GATEWAY_PASSWORD": PASSWORD,
        "CONSOLE_URL": console_url,
        "CONDUKTOR_API_KEY": API_KEY,
    }


def run(project: SluiceProject, env: dict[str, str], *args: str) -> RunResult:
    result = project.run(*args, "--env", "enhanced", env={**NOWHERE, **env})
    assert PASSWORD not in result.output and API_KEY not in result.output
    return result


def artifact(project: SluiceProject, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project.path / "target" / "conduktor" / name).read_text())
    return data


def jobs_and_connectors(project: SluiceProject) -> dict[str, str]:
    """The compiled Flink jobs and connectors, by file."""
    target = project.path / "target"
    files = [*(target / "flink").glob("*.sql"), *(target / "connect").glob("*.json")]
    return {str(f.relative_to(target)): f.read_text() for f in files}


def writes(gateway: FakeGateway) -> list[tuple[str, str]]:
    return [(e.method, e.path) for e in gateway.state.exchanges if e.method != "GET"]


def remove_large_payments(project: SluiceProject) -> None:
    """Delete the model large_payments, and the exposure's reference to it."""
    fraud = project.path / "models" / "fraud" / "fraud.yml"
    dashboards = project.path / "exposures" / "dashboards.yml"
    models = yaml.safe_load(fraud.read_text())
    models["models"] = [m for m in models["models"] if m["name"] != "large_payments"]
    fraud.write_text(yaml.safe_dump(models, sort_keys=False))
    exposures = yaml.safe_load(dashboards.read_text())
    for exposure in exposures["exposures"]:
        exposure["depends_on"] = [d for d in exposure["depends_on"] if "large_payments" not in d]
    dashboards.write_text(yaml.safe_dump(exposures, sort_keys=False))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SluiceProject:
    monkeypatch.delenv("SLUICE_ENV", raising=False)
    return copy_example(tmp_path)


def test_compile_serves_the_stateless_model_from_the_gateway_and_keeps_the_flink_jobs(
    project: SluiceProject,
) -> None:
    standalone = project.run("compile", env=NOWHERE)
    assert standalone.exit_code == 0, standalone.output
    standalone_nodes = project.manifest()["nodes"]
    standalone_jobs = jobs_and_connectors(project)

    # compiling contacts nothing: the addresses need not answer
    env = conduktor_env("http://gateway.test:8888", "http://console.test:8080")
    result = run(project, env, "compile")
    assert result.exit_code == 0, result.output
    nodes = project.manifest()["nodes"]

    # large_payments, stateless and with no materialized: declared, becomes a virtual topic;
    # payments_clean is stateless too but declares materialized: topic (and its IN is outside
    # the Gateway's SQL), so it stays a real topic filled by Flink
    virtual = sorted(uid for uid, n in nodes.items() if n.get("materialized") == "virtual_topic")
    assert virtual == ["model.large_payments"]
    assert standalone_nodes["model.large_payments"]["materialized"] == "topic"
    assert not nodes["model.large_payments"]["stateful"]
    assert not nodes["model.payments_clean"]["stateful"]
    assert nodes["model.payments_clean"]["materialized"] == "topic"

    # no real topic and no Flink job for it: one SQL topic interceptor at the Gateway
    kinds = [(a["plugin"], a["kind"]) for a in nodes["model.large_payments"]["artifacts"]]
    assert kinds == [("conduktor", "interceptor")]
    body = artifact(project, "large_payments.sql.json")
    assert body["metadata"] == {"name": INTERCEPTOR, "scope": {}}
    assert body["spec"]["pluginClass"] == SQL_TOPIC
    assert body["spec"]["config"] == {
        "virtualTopic": "large_payments",
        # the model's projection and filter, with vars.large_amount and the macro rendered
        "statement": "SELECT payment_id, merchant_id, amount, ts FROM payments_clean "
        "WHERE amount >= 5000",
    }

    # the other models compile exactly as in standalone mode: Flink jobs and the ledger sink
    # reading the brokers, since none of them reads large_payments (only the fraud dashboard,
    # outside sluice, does)
    for uid in ("model.payments_clean", "model.payments_enriched", "model.merchant_minute_totals"):
        assert nodes[uid]["materialized"] == standalone_nodes[uid]["materialized"]
    del standalone_jobs["flink/large_payments.sql"]
    jobs = jobs_and_connectors(project)

    # card_activity's card numbers: masked by its own job standalone, by the Gateway here
    masking = artifact(project, "card_activity.mask.json")
    assert masking["metadata"] == {"name": MASKING, "scope": {}}
    assert masking["spec"]["config"]["topic"] == "^card_activity$"  # a pattern at the Gateway
    assert masking["spec"]["config"]["policies"] == [
        {
            "name": "mask_first card_number",
            "fields": ["card_number"],
            "rule": {"type": "MASK_FIRST_N", "maskingChar": "X", "numberOfChars": 12},
        }
    ]
    masked_by_job = standalone_jobs.pop("flink/card_activity.sql")
    assert "AS `card_number`" in masked_by_job
    assert "AS `card_number`" not in jobs.pop("flink/card_activity.sql")

    assert jobs == standalone_jobs
    assert sorted(standalone_jobs) == [
        "connect/card-payments-payments_to_ledger.json",
        "flink/merchant_minute_totals.sql",
        "flink/payments_clean.sql",
        "flink/payments_enriched.sql",
    ]
    assert not any(PROXY in text for text in standalone_jobs.values())


def test_plan_apply_and_prune_the_interceptor_against_the_fakes(
    project: SluiceProject,
    gateway: FakeGateway,
    console: FakeConsole,
    offline_stack_plugins: None,
) -> None:
    env = conduktor_env(gateway.url, console.url)
    gateway.state.interceptors[("another-team-guard", ())] = FOREIGN

    compiled = run(project, env, "compile")
    assert compiled.exit_code == 0, compiled.output
    interceptor = artifact(project, "large_payments.sql.json")
    masking = artifact(project, "card_activity.mask.json")
    put = ("PUT", "/gateway/v2/interceptor")

    # plan shows the two interceptors to create (a virtual topic, a masking) and creates nothing
    plan = run(project, env, "plan")
    assert plan.exit_code == 0, plan.output
    assert f"+ create interceptor {INTERCEPTOR} (conduktor)" in plan.output
    assert f"+ create interceptor {MASKING} (conduktor)" in plan.output
    assert "Plan: 2 to create, 0 to update, 0 to replace, 0 to delete." in plan.output
    assert writes(gateway) == []

    # apply creates them at the Gateway, as compiled
    applied = run(project, env, "apply")
    assert applied.exit_code == 0, applied.output
    assert "apply: 2 success" in applied.output
    assert writes(gateway) == [put, put]
    assert set(gateway.state.interceptors) == {
        (INTERCEPTOR, ()),
        (MASKING, ()),
        ("another-team-guard", ()),
    }
    assert gateway.state.interceptors[(INTERCEPTOR, ())] == interceptor
    assert gateway.state.interceptors[(MASKING, ())] == masking

    # a second plan has nothing to do, and a second apply sends nothing
    again = run(project, env, "plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes: the live systems match the project." in again.output
    reapplied = run(project, env, "apply")
    assert reapplied.exit_code == 0, reapplied.output
    assert "No changes" in reapplied.output
    assert writes(gateway) == [put, put]

    # without the model, plan shows its interceptor leaving; only --prune deletes it
    remove_large_payments(project)
    held = run(project, env, "plan")
    assert held.exit_code == 0, held.output
    assert f"- delete interceptor {INTERCEPTOR} (conduktor)" in held.output
    assert "pass --prune to delete" in held.output
    assert "another-team-guard" not in held.output
    pruning = run(project, env, "plan", "--prune")
    assert f"- delete interceptor {INTERCEPTOR} (conduktor)" in pruning.output
    assert "Plan: 0 to create, 0 to update, 0 to replace, 1 to delete." in pruning.output
    pruned = run(project, env, "apply", "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert set(gateway.state.interceptors) == {(MASKING, ()), ("another-team-guard", ())}
    deletes = [(e.path, e.body, e.status) for e in gateway.state.exchanges if e.method == "DELETE"]
    assert deletes == [(f"/gateway/v2/interceptor/{INTERCEPTOR}", {}, 204)]
