"""Submission through Flink's REST API, without a cluster: the path chosen, the run request,
the arguments, the jar's upload and build, and what a refused run tells the user."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from sluice.errors import RemoteError
from sluice_flink import runner
from sluice_flink.client import FlinkRest
from sluice_flink.config import FlinkConfig
from sluice_flink.devstack import FLINK_VERSION
from sluice_flink.planner import session_properties, submission_path

Handler = Callable[[httpx.Request], httpx.Response]


def fake_rest(handler: Handler, secrets: tuple[str, ...] = ()) -> FlinkRest:
    rest = FlinkRest("http://flink:8081", secrets=secrets)
    rest._client = httpx.Client(base_url=rest.url, transport=httpx.MockTransport(handler))
    return rest


def test_jobs_go_through_the_gateway_when_there_is_one_and_the_rest_api_otherwise():
    gateway = FlinkConfig(rest_url="http://flink:8081", sql_gateway_url="http://flink:8083")
    assert submission_path(gateway) == "gateway"
    assert submission_path(FlinkConfig(rest_url="http://flink:8081")) == "rest"


def test_the_run_request_carries_the_runner_the_statements_and_the_jobs_identity():
    spec = {"pipeline_name": "sluice.shop.a", "spec_hash": "ab12"}
    statements = ["SET 'pipeline.name' = 'sluice.shop.a'", "INSERT INTO `a` SELECT 1"]
    body = runner.run_request(statements, session_properties(spec, None), 3, None)
    assert body == {
        "entryClass": "dev.sluice.flink.SqlRunner",
        "programArgsList": runner.program_args(statements),
        # the same name and recorded hash as a job submitted through the gateway
        "flinkConfiguration": {
            "pipeline.name": "sluice.shop.a",
            "pipeline.global-job-parameters": "sluice.spec-hash:ab12",
        },
        "parallelism": 3,
    }
    assert "parallelism" not in runner.run_request(statements, {}, None, None)


def test_an_upgrade_resumes_from_the_savepoint_and_refuses_state_it_cannot_map():
    body = runner.run_request(["INSERT INTO `a` SELECT 1"], {}, None, "file:/sp/savepoint-1")
    assert body["savepointPath"] == "file:/sp/savepoint-1"
    assert body["allowNonRestoredState"] is False


def test_each_statement_is_one_base64_argument_that_keeps_quotes_and_line_breaks():
    statements = [
        "SET 'table.exec.state.ttl' = '3600000 ms'",
        "CREATE TEMPORARY TABLE `o` (\n  `a` STRING\n) WITH (\n  'x' = 'it''s; -- not a comment'\n)",
        "INSERT INTO `o`\nSELECT 'é' AS `a`",
    ]
    arguments = runner.program_args(statements)
    assert len(arguments) == 3
    assert all(arg.isascii() and "\n" not in arg and " " not in arg for arg in arguments)
    assert [base64.b64decode(arg).decode() for arg in arguments] == statements


def test_the_jar_is_named_for_the_flink_version_and_its_sources():
    assert runner.jar_name("2.2.1") == f"sluice-sql-runner-2.2.1-{runner.source_hash()[:12]}.jar"
    assert runner.build_version("2.1.0") == "2.1.0"
    # a snapshot or odd version string has no release on Maven Central to compile against
    assert runner.build_version("2.3-SNAPSHOT") == FLINK_VERSION
    assert runner.build_version(None) == FLINK_VERSION


def test_the_jar_is_uploaded_once_and_found_again_by_a_later_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    jar = tmp_path / "runner.jar"
    jar.write_bytes(b"PK fake jar")
    monkeypatch.setattr(runner, "build_jar", lambda version: jar)
    name = runner.jar_name("2.2.1")
    uploaded: list[dict[str, object]] = []
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/overview":
            return httpx.Response(200, json={"flink-version": "2.2.1"})
        if request.url.path == "/jars":
            return httpx.Response(200, json={"files": uploaded})
        assert request.url.path == "/jars/upload"
        body = request.read()
        assert b'name="jarfile"' in body and f'filename="{name}"'.encode() in body
        uploaded.append({"id": f"u1_{name}", "name": name, "uploaded": 1})
        return httpx.Response(200, json={"filename": f"/tmp/up/u1_{name}", "status": "success"})

    rest = fake_rest(handler)
    scratch: dict[str, object] = {}
    assert runner.uploaded_jar(rest, scratch) == f"u1_{name}"
    assert runner.uploaded_jar(rest, scratch) == f"u1_{name}"  # the same apply: no request
    assert seen == ["GET /overview", "GET /jars", "POST /jars/upload"]

    seen.clear()
    assert runner.uploaded_jar(rest, {}) == f"u1_{name}"  # the next apply finds it
    assert seen == ["GET /overview", "GET /jars"]


def test_a_refused_run_names_the_failed_statement_and_shows_no_secret():
    secret = "hunter2"
    statements = [f"CREATE TEMPORARY TABLE `t` (\n) WITH ('password' = '{secret}')"]
    argument = runner.program_args(statements)[0]
    trace = (
        "org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute "
        "application.\nCaused by: java.lang.IllegalStateException: sluice SQL runner: "
        "statement 1 (CREATE TEMPORARY TABLE `t` ( ...) failed\n"
        f"Caused by: org.apache.flink.table.api.ValidationException: bad {argument}\n"
        f"Caused by: org.apache.flink.table.api.ValidationException: 'password'='{secret}'\n"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/run"):
            assert json.loads(request.read())["programArgsList"] == [argument]
            return httpx.Response(400, json={"errors": [trace]})
        return httpx.Response(200, json={})

    rest = fake_rest(handler, secrets=(secret,))
    scratch = {f"{runner.SCRATCH}:{rest.url}": "u1_runner.jar"}
    with pytest.raises(RemoteError) as caught:
        runner.run_job(rest, scratch, "sluice.shop.t", statements, {}, None, None)
    message = caught.value.message
    assert message.startswith(
        "job sluice.shop.t: statement 1 (CREATE TEMPORARY TABLE `t` ( ...) failed: "
    )
    assert secret not in message and argument not in message and "****" in message


def test_without_maven_the_error_says_what_to_install_or_to_use_a_gateway(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(runner.shutil, "which", lambda tool: None)
    with pytest.raises(runner.RunnerBuildError) as caught:
        runner.check_build_tools()
    assert "mvn and javac are not on PATH" in caught.value.message
    assert caught.value.hint and "sql_gateway_url" in caught.value.hint
    assert "needs mvn and javac" in runner.describe("9.9.9")


def test_the_jar_is_built_once_into_the_cache_and_never_into_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SLUICE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(runner, "check_build_tools", lambda: None)
    builds: list[dict[str, str]] = []

    def package(project: Path, what: str, properties: dict[str, str]) -> None:
        builds.append(properties)
        assert (project / "pom.xml").is_file() and project != runner.SOURCES
        (project / "target").mkdir()
        (project / "target" / runner.BUILT_JAR).write_bytes(b"PK built")

    monkeypatch.setattr(runner.maven, "package", package)
    jar = runner.build_jar("2.2.1")
    assert jar == runner.cached_jar("2.2.1") and jar.read_bytes() == b"PK built"
    assert jar.is_relative_to(tmp_path / "cache" / "flink-sql-runner")
    assert runner.build_jar("2.2.1") == jar
    assert builds == [{"flink.version": "2.2.1"}]
    assert not (runner.SOURCES / "target").exists()
