"""The documentation that is generated must match the code it describes."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from sluice.capability_reference import PluginsMissing, render_capability_reference
from sluice.cli_reference import render_cli_reference
from sluice.reference import render_reference

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_format_reference_is_regenerated_from_the_models() -> None:
    committed = (DOCS / "project-format.md").read_text(encoding="utf-8")
    assert committed == render_reference(), (
        "docs/project-format.md is stale: run `python -m sluice.reference > docs/project-format.md`"
    )


def test_the_reference_lists_every_key_of_a_model() -> None:
    text = render_reference()
    for key in (
        "materialized",
        "mask_fallback",
        "event_time",
        "consumer_group",
        "on_failure",
        "from",
    ):
        assert f"| `{key}` |" in text


# -- the command-line reference ----------------------------------------------------------------


def test_the_cli_reference_is_regenerated_from_the_commands() -> None:
    committed = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert committed == render_cli_reference(), (
        "docs/cli.md is stale: run `python -m sluice.cli_reference > docs/cli.md`"
    )


def test_the_cli_reference_walks_groups_and_shows_each_option() -> None:
    @click.group()
    def tool() -> None:
        """A tool."""

    @tool.group()
    def site() -> None:
        """Work on the site."""

    @site.command()
    @click.argument("target", required=False)
    @click.option("--port", default=8000, show_default=True, help="Port | to listen on.")
    @click.option("--open/--no-open", default=False, help="Open a browser.")
    @click.option("--format", type=click.Choice(["html", "json"]), default="html")
    @click.option("--tag", multiple=True, envvar="TOOL_TAG", help="Tags.")
    def serve() -> None:
        """Serve the site.

        It never stops by itself.
        """

    @tool.command(hidden=True)
    def secret() -> None:
        """Not for users."""

    text = render_cli_reference(tool)

    assert "## `sluice site serve`" in text
    assert "sluice site serve [OPTIONS] [TARGET]" in text
    assert "Serve the site.\n\nIt never stops by itself." in text
    assert "| `--port` | integer | `8000` | Port \\| to listen on. |" in text
    assert "| `--open` / `--no-open` | flag | `--no-open` | Open a browser. |" in text
    assert "| `--format` | `html` \\| `json` | `html` |  |" in text
    assert "| `--tag` | text, repeatable | - | Tags. Also read from `TOOL_TAG`. |" in text
    assert "secret" not in text


# -- what works with which plugins -------------------------------------------------------------


@pytest.fixture
def capability_reference() -> str:
    try:
        return render_capability_reference()
    except PluginsMissing as exc:  # e.g. tox's core environment has only the example plugin
        pytest.skip(str(exc))


def test_the_capability_table_is_regenerated_from_the_plugins(capability_reference: str) -> None:
    committed = (DOCS / "capabilities.md").read_text(encoding="utf-8")
    assert committed == capability_reference, (
        "docs/capabilities.md is stale: run "
        "`python -m sluice.capability_reference > docs/capabilities.md`"
    )


def test_kafka_alone_gives_topics_and_each_plugin_adds_its_kind(capability_reference: str) -> None:
    # a kind two plugins provide has a row for each: key the rows by kind and plugin
    rows = {
        tuple(line.removeprefix("| ").split(" | ")[:2]): line
        for line in capability_reference.splitlines()
        if line.startswith("| `")
    }
    # columns: kafka only, + flink, + connect, + conduktor, + redpanda, all
    assert rows["`topic` without SQL", "`kafka`"].endswith("| yes | yes | yes | yes | yes | yes |")
    assert rows["`topic` with SQL", "`kafka`"].endswith("| - | yes | - | - | - | yes |")
    assert rows["`flink` (SQL)", "`flink`"].endswith("| - | yes | - | - | - | yes |")
    assert rows["`sink` (from:, no SQL)", "`connect`"].endswith("| - | - | yes | - | - | yes |")
    assert rows["`sink` (from:, no SQL)", "`redpanda`"].endswith("| - | - | - | - | yes | yes |")
    assert rows["`virtual_topic` (SQL)", "`conduktor`"].endswith("| - | - | - | yes | - | yes |")
    assert not any("`webhook`" in key for key in rows)  # third-party plugins are not listed
