"""The Connect plugin's dev services without starting anything: wiring and generated files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from sluice.errors import SluiceError
from sluice.plugin.manager import PluginManager
from sluice_connect import devstack


def test_services_and_their_order() -> None:
    services = {service.name: service for service in devstack.dev_services()}
    assert set(services) == {"postgres", "connect"}
    assert services["connect"].after == ("kafka", "postgres")
    assert services["postgres"].after == ()
    installed = {service.name: plugin for plugin, service in PluginManager().dev_services()}
    assert installed["connect"] == installed["postgres"] == "connect"


def test_worker_is_no_older_than_the_broker_and_has_schema_content() -> None:
    kafka = pytest.importorskip("sluice_kafka.devstack")

    def minor(version: str) -> tuple[int, int]:
        major, minor_, *_ = version.split(".")
        return int(major), int(minor_)

    # schema.content of the JsonConverter (KIP-1054) arrived in Kafka 4.2
    assert minor(devstack.KAFKA_VERSION) >= max(minor(kafka.KAFKA_VERSION), (4, 2))
    assert all(devstack.KAFKA_VERSION in c for c in devstack.WORKER_ARTIFACTS if "kafka" in c)


def test_worker_finds_the_broker_in_the_kafka_service_dir(tmp_path: Path) -> None:
    state = tmp_path / "connect"
    state.mkdir()
    with pytest.raises(SluiceError, match="needs the Kafka broker's port") as caught:
        devstack.kafka_bootstrap(state)
    assert "sluice dev up kafka" in (caught.value.hint or "")
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "ports.json").write_text(json.dumps({"plaintext": 19092}))
    assert devstack.kafka_bootstrap(state) == "localhost:19092"
    properties = devstack._worker_properties(state, 18084, devstack.kafka_bootstrap(state))
    lines = dict(line.split("=", 1) for line in properties.splitlines() if "=" in line)
    assert lines["bootstrap.servers"] == "localhost:19092"
    assert lines["listeners"] == "http://127.0.0.1:18084"
    assert lines["plugin.path"] == str(state / "plugins")
    assert lines["value.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    for store in ("config", "offset", "status"):
        assert lines[f"{store}.storage.replication.factor"] == "1"


def test_plugin_leaves_out_the_jars_the_worker_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_resolve(coordinates: Sequence[str], dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        links = []
        for name in ("jackson-databind-2.19.0.jar", "jakarta.xml.bind-api-4.0.2.jar", "x-1.jar"):
            (dest / name).symlink_to(tmp_path / name)
            links.append(dest / name)
        return links

    monkeypatch.setattr(devstack.maven, "resolve", fake_resolve)
    plugin = tmp_path / "plugins" / "p"
    worker = ("jackson-databind-2.19.2.jar", "jakarta.xml.bind-api-3.0.1.jar")
    devstack._link_plugin(plugin, ["g:a:1"], {devstack._library(name) for name in worker})
    # the same artifact in the same major version goes; another major stays private to the plugin
    assert sorted(p.name for p in plugin.iterdir()) == ["jakarta.xml.bind-api-4.0.2.jar", "x-1.jar"]


def test_postgres_env_and_socket_dir(tmp_path: Path) -> None:
    (tmp_path / "ports.json").write_text(json.dumps({"postgres": 15432}))
    assert devstack.postgres_env(tmp_path) == {
        "PG_DSN": "postgresql://sluice:sluice-dev-password@127.0.0.1:15432/sluice",
        "PG_JDBC_URL": "jdbc:postgresql://127.0.0.1:15432/sluice",
        "PG_USER": "sluice",
        "PG_PASSWORD": "sluice-dev-password",
    }
    assert devstack._socket_dir(tmp_path) == tmp_path / "run"
    assert devstack._socket_dir(tmp_path / ("x" * 100)) is None
