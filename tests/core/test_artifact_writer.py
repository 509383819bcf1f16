"""Manifest.write creates many artifact files on a thread while it builds the manifest JSON
(encoded node by node, so that the thread gets the GIL meanwhile)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sluice.manifest import _WRITER_THREAD_FROM, _compact_json, _written_meanwhile


def _items(folder: Path, count: int) -> list[tuple[Path, str]]:
    return [(folder / "flink" / f"m{i}.sql", f"SELECT {i};\n") for i in range(count)]


@pytest.mark.parametrize("count", [3, _WRITER_THREAD_FROM + 50])
def test_every_file_is_written_when_the_block_ends(tmp_path: Path, count: int) -> None:
    items = _items(tmp_path, count)
    interval = sys.getswitchinterval()
    with _written_meanwhile(items):
        pass
    assert all(path.read_text(encoding="utf-8") == text for path, text in items)
    assert sys.getswitchinterval() == interval


def test_an_error_of_the_writer_thread_reaches_the_caller(tmp_path: Path) -> None:
    items = _items(tmp_path, _WRITER_THREAD_FROM + 1)
    (tmp_path / "flink").mkdir()
    (tmp_path / "flink" / "m7.sql").mkdir()  # a folder where a file should go
    with pytest.raises(IsADirectoryError), _written_meanwhile(items):
        pass


def test_the_manifest_text_is_compact_sorted_json_of_the_value() -> None:
    value = {
        "metadata": {"b": 1.5, "a": [None, True], "é": "ü\n"},
        "nodes": {"model.b": {"z": {2, 1}, "a": "x"}, "model.a": {}, "source.é": [1]},
        "parent_map": {},
    }
    text = _compact_json(value)

    assert text == (
        '{"metadata":{"a":[null,true],"b":1.5,"é":"ü\\n"},'
        '"nodes":{"model.a":{},"model.b":{"a":"x","z":"{1, 2}"},"source.é":[1]},'
        '"parent_map":{}}'
    )
    assert json.loads(text) == json.loads(json.dumps(value, default=str))
