"""The compile cache pickles parsed YAML documents: positions come back as they were."""

from __future__ import annotations

import pickle

from sluice.project.yamlfile import Position, parse_yaml


def test_a_document_survives_the_cache_file() -> None:
    doc = parse_yaml("models:\n  - name: m\n    sql: |\n      SELECT 1\n", "models/m.yml")
    again = pickle.loads(pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL))
    assert again == doc
    assert all(type(p) is Position for p in again.positions.values())
    assert again.locate(("models", 0, "sql")) == doc.locate(("models", 0, "sql"))
    assert again.text_column(("models", 0, "sql")) == 7
