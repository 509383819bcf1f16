"""What a compile leaves under target/: files staged while it runs, put in place only when it
succeeds, unchanged files untouched, stale ones removed. Each rule holds both in-process and
through the helper process that big projects use."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from test_cli import ENV, SHOP

import sluice.session
from sluice.manifest import _compact_json
from sluice.target_files import TargetWriter

pytestmark = pytest.mark.usefixtures("stream_installed")

MODES = pytest.mark.parametrize("helper", [False, True], ids=["in-process", "helper"])


def _tree(target: Path) -> dict[str, str]:
    """Every text file under ``target`` (the compile cache is a pickle; the lock is empty)."""
    return {
        p.relative_to(target).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(target.rglob("*"))
        if p.is_file() and p.suffix != ".pickle" and p.name != "lock"
    }


def _write(target: Path, files: dict[str, str], *, helper: bool) -> None:
    with TargetWriter(target, helper=helper) as writer:
        for relative, text in files.items():
            writer.add(relative, text)
        writer.commit()


@MODES
def test_the_files_of_a_compile_and_an_index_of_them_are_written(tmp_path: Path, helper: bool):
    files = {f"flink/m{i}.sql": f"SELECT {i};\n" for i in range(50)} | {"manifest.json": "{}\n"}

    _write(tmp_path, files, helper=helper)

    index = json.loads((tmp_path / ".cache" / "files.json").read_text(encoding="utf-8"))
    assert _tree(tmp_path) == files | {".cache/files.json": json.dumps(index, sort_keys=True)}
    assert sorted(index) == sorted(files)


@MODES
def test_unchanged_files_stay_stale_ones_go_and_other_files_are_left_alone(
    tmp_path: Path, helper: bool
):
    _write(
        tmp_path,
        {"flink/a.sql": "A\n", "flink/b.sql": "B\n", "kafka/t.json": "[]\n"},
        helper=helper,
    )
    (tmp_path / "flink" / "notes.txt").write_text("mine\n", encoding="utf-8")
    kept = (tmp_path / "flink" / "a.sql").stat()

    _write(tmp_path, {"flink/a.sql": "A\n", "flink/c.sql": "C\n"}, helper=helper)

    tree = _tree(tmp_path)
    del tree[".cache/files.json"]
    assert tree == {"flink/a.sql": "A\n", "flink/c.sql": "C\n", "flink/notes.txt": "mine\n"}
    assert (tmp_path / "flink" / "a.sql").stat().st_mtime_ns == kept.st_mtime_ns
    assert (tmp_path / "flink" / "a.sql").stat().st_ino == kept.st_ino


@MODES
def test_a_file_added_again_holds_the_last_text(tmp_path: Path, helper: bool):
    _write(tmp_path, {"flink/a.sql": "A\n"}, helper=helper)
    with TargetWriter(tmp_path, helper=helper) as writer:
        writer.add("flink/a.sql", "B\n")  # handed over while compiling ...
        writer.add("flink/a.sql", "A\n")  # ... and in the end unchanged after all
        writer.add("kafka/t.json", "1\n")
        writer.add("kafka/t.json", "2\n")
        writer.commit()

    assert _tree(tmp_path)["flink/a.sql"] == "A\n"
    assert _tree(tmp_path)["kafka/t.json"] == "2\n"
    assert not (tmp_path / ".cache" / "staging").exists()


@MODES
def test_nothing_moves_when_the_writer_is_left_without_commit(tmp_path: Path, helper: bool):
    _write(tmp_path, {"flink/a.sql": "A\n"}, helper=helper)
    before = _tree(tmp_path)

    with (
        pytest.raises(ValueError, match="compile failed"),
        TargetWriter(tmp_path, helper=helper) as writer,
    ):
        writer.add("flink/a.sql", "changed\n")
        writer.add("flink/new.sql", "new\n")
        raise ValueError("compile failed")

    assert _tree(tmp_path) == before
    assert not (tmp_path / ".cache" / "staging").exists()


@MODES
def test_a_file_that_cannot_be_put_in_place_is_an_os_error_naming_it(tmp_path: Path, helper: bool):
    (tmp_path / "flink" / "b.sql").mkdir(parents=True)  # a folder where a file should go

    with pytest.raises(OSError) as raised, TargetWriter(tmp_path, helper=helper) as writer:
        writer.add("flink/a.sql", "A\n")
        writer.add("flink/b.sql", "B\n")
        writer.commit()

    assert isinstance(raised.value, IsADirectoryError)
    assert raised.value.filename == str(tmp_path / "flink" / "b.sql")
    # the index went before anything moved, so the next compile writes every file again
    assert not (tmp_path / ".cache" / "files.json").exists()


# -- through the command line ---------------------------------------------------------------------


@MODES
def test_a_compile_that_fails_leaves_target_as_it_was(
    sluice_project, monkeypatch: pytest.MonkeyPatch, helper: bool
):
    monkeypatch.setattr(sluice.session, "HELPER_FROM_NODES", 0 if helper else 10**9)
    project = sluice_project(SHOP)
    assert project.run("compile", env=ENV).exit_code == 0
    before = _tree(project.path / "target")
    project.write({"models/marts/totals.sql": "SELECT nosuch FROM {{ ref('payments_clean') }}\n"})

    result = project.run("compile", env=ENV)

    assert result.exit_code == 1
    assert "nosuch" in result.output
    assert _tree(project.path / "target") == before


@MODES
def test_a_target_the_file_system_refuses_is_a_user_error(
    sluice_project, monkeypatch: pytest.MonkeyPatch, helper: bool
):
    monkeypatch.setattr(sluice.session, "HELPER_FROM_NODES", 0 if helper else 10**9)
    project = sluice_project(SHOP)
    (project.path / "target" / "stream" / "topics.json").mkdir(parents=True)

    result = project.run("compile", env=ENV)

    path = project.path / "target" / "stream" / "topics.json"
    assert (result.exit_code, result.output) == (
        1,
        f"error: {path}: Is a directory\n"
        "  hint: check that the path exists and that sluice may read and write it\n",
    )


@MODES
def test_a_second_writer_waits_until_the_first_has_committed(
    tmp_path: Path, helper: bool, capfd: pytest.CaptureFixture[str]
):
    # two compiles of one project at once (two terminals, an editor's save hook) would
    # otherwise stage into the same folder and each remove what the other staged
    first = TargetWriter(tmp_path, helper=helper)
    first.add("flink/a.sql", "first\n")
    second_done = threading.Event()

    def second() -> None:
        _write(tmp_path, {"flink/a.sql": "second\n", "flink/b.sql": "B\n"}, helper=helper)
        second_done.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not second_done.wait(1.0)  # it waits for the lock the first writer holds
    with first:
        first.commit()
    thread.join(30)

    assert second_done.is_set()
    tree = _tree(tmp_path)
    assert (tree["flink/a.sql"], tree["flink/b.sql"]) == ("second\n", "B\n")  # written last
    assert f"waiting for another sluice command writing {tmp_path} ..." in capfd.readouterr().err


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
