"""sluice.runtime helpers that plugins share."""

from __future__ import annotations

from types import SimpleNamespace

from pydantic import SecretStr

from sluice.runtime import kafka_client_settings


def test_kafka_client_settings_reveal_secrets_and_leave_out_unset_fields() -> None:
    section = SimpleNamespace(
        bootstrap_servers="broker:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="app",
        sasl_password=SecretStr("pw"),
        ssl_ca_location="",
        client_id=None,
    )
    assert kafka_client_settings(section) == {
        "bootstrap.servers": "broker:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "app",
        "sasl.password": "pw",
    }
