"""The webhook plugin from its user's side, with the fixture sluice-core gives plugin authors."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from sluice.testing import SluiceProject

Make = Callable[[Mapping[str, str]], SluiceProject]


def shop(url: str) -> dict[str, str]:
    """A project whose one model posts the orders to ``url``."""
    return {
        "stream_project.yml": f"""
            project:
              name: shop
            runtime:
              webhook:
                registry_dir: registry
            sources:
              - name: orders
                topic: orders.v1
                columns:
                  - {{ name: id, type: STRING }}
            models:
              - name: orders_hook
                materialized: webhook
                from: orders
                webhook:
                  url: {url}
            """
    }


def test_a_webhook_model_compiles_to_a_registration(sluice_project: Make) -> None:
    project = sluice_project(shop("https://hooks.example.com/orders"))

    result = project.run("compile")

    assert result.exit_code == 0, result.output
    assert project.manifest()["nodes"]["model.orders_hook"]["plugin"] == "webhook"
    written = project.path / "target" / "webhook" / "orders_hook.json"
    assert json.loads(written.read_text(encoding="utf-8"))["topics"] == ["orders.v1"]


def test_a_url_that_is_not_http_is_reported_where_it_was_written(sluice_project: Make) -> None:
    project = sluice_project(shop("ftp://files.example.com/orders"))

    result = project.run("validate")

    assert result.exit_code != 0
    assert "error: stream_project.yml:16:12: model 'orders_hook': webhook: url:" in result.output
    assert "is not an http(s) URL" in result.output


def test_without_the_plugin_its_keys_are_unknown(sluice_project: Make) -> None:
    project = sluice_project(shop("https://hooks.example.com/orders"))

    result = project.run("validate", env={"SLUICE_DISABLE_PLUGINS": "webhook"})

    assert result.exit_code != 0
    assert "error: stream_project.yml:4:3: unknown key 'webhook' in runtime" in result.output
