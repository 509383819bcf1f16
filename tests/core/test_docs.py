"""The documentation that is generated must match the code it describes."""

from pathlib import Path

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
