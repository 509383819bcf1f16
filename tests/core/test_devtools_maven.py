"""sluice.devtools.maven with a stand-in ``mvn`` (no network): cache, lock, unpacking, errors."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import sys
import tarfile
from pathlib import Path

import pytest

from sluice.devtools import maven
from sluice.devtools.maven import ChecksumMismatch, Coordinate
from sluice.devtools.ports import choose_ports, is_free
from sluice.errors import RemoteError, SluiceError

# Writes what the real mvn would: jars into -DoutputDirectory (copy-dependencies: a and b as
# listed, and c, a dependency of theirs, unless the pom excludes it) or the archive into -Ddest
# (get). FAKE_MVN_CONTENT varies the bytes; FAKE_MVN_LOG counts calls.
FAKE_MVN = """\
#!{python}
import io, os, sys, tarfile
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_MVN_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
if os.environ.get("FAKE_MVN_FAIL"):
    print("[ERROR] Failed to execute goal: Could not find artifact x:y:1 in central")
    print("[ERROR] ")
    print("[ERROR] To see the full stack trace of the errors, re-run Maven with the -e switch.")
    sys.exit(1)
content = os.environ.get("FAKE_MVN_CONTENT", "v1").encode()
options = dict(a[2:].split("=", 1) for a in args if a.startswith("-D") and "=" in a)
if "-C" not in args and not os.environ.get("FAKE_MVN_LAX_OK"):
    sys.exit("strict checksums (-C) missing")
if "outputDirectory" in options:
    out = Path(options["outputDirectory"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "a-1.0.jar").write_bytes(b"a" + content)
    (out / "b-2.0.jar").write_bytes(b"b" + content)
    pom = Path(args[args.index("-f") + 1]).read_text()
    if "<exclusions>" not in pom:
        (out / "c-3.0.jar").write_bytes(b"c" + content)
elif "package" in args:
    target = Path(args[args.index("-f") + 1]).parent / "target"
    target.mkdir(exist_ok=True)
    (target / "built.jar").write_bytes(content)
else:
    dest = Path(options["dest"])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name in ("app-1.0/run.jar", "app-1.0/lib/x.jar"):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            bundle.addfile(info, io.BytesIO(content))
    (dest / "app-1.0-all.tar.gz").write_bytes(buffer.getvalue())
"""

COORDS = ["org.example:a:1.0", "org.example:b:2.0"]


@pytest.fixture
def fake_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "mvn"
    script.write_text(FAKE_MVN.format(python=sys.executable), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "mvn.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_MVN_LOG", str(log))
    monkeypatch.setenv("SLUICE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SLUICE_MAVEN_REPO", raising=False)
    return log


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines())


def test_coordinates_must_be_pinned() -> None:
    assert str(Coordinate.parse("g:a:1.0:tar.gz:all")) == "g:a:1.0:tar.gz:all"
    assert Coordinate.parse("g:a:1.0:tar.gz:all").file_name == "a-1.0-all.tar.gz"
    for text in ("g:a", "g:a:LATEST", "g:a:1.0-SNAPSHOT", "g:a:[1.0,2.0)", "g::1"):
        with pytest.raises(SluiceError):
            Coordinate.parse(text)


def test_resolve_caches_and_locks(fake_mvn: Path, tmp_path: Path) -> None:
    links = maven.resolve(COORDS, tmp_path / "lib")
    assert [link.name for link in links] == ["a-1.0.jar", "b-2.0.jar", "c-3.0.jar"]
    assert all(link.is_symlink() for link in links)
    assert links[0].read_bytes() == b"av1"
    assert "copy-dependencies" in fake_mvn.read_text()
    assert "maven.repo.local" not in fake_mvn.read_text()  # the user's ~/.m2
    lock = next((tmp_path / "cache" / "maven").glob("*.lock.json"))
    files = set(json.loads(lock.read_text())["files"])
    assert files == {"lib/a-1.0.jar", "lib/b-2.0.jar", "lib/c-3.0.jar"}

    # the same list in another order is the same entry: no second mvn run
    again = maven.resolve(list(reversed(COORDS)))
    assert _calls(fake_mvn) == 1
    assert all(path.is_relative_to(tmp_path / "cache") for path in again)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_resolve_without_transitive_dependencies(fake_mvn: Path, tmp_path: Path) -> None:
    both = maven.resolve(COORDS)
    direct = maven.resolve(COORDS, tmp_path / "lib", transitive=False)
    assert [path.name for path in direct] == ["a-1.0.jar", "b-2.0.jar"]
    # another entry than the transitive one (which keeps c), filled by a second mvn run
    assert direct[0].resolve().parent != both[0].parent
    assert _calls(fake_mvn) == 2
    maven.resolve(COORDS, transitive=False)
    assert _calls(fake_mvn) == 2


def test_excluding_transitive_dependencies_writes_exclusions() -> None:
    coord = Coordinate.parse("org.example:a:1.0")
    assert "<exclusions>" not in coord.pom_dependency()
    excluded = coord.pom_dependency(transitive=False)
    assert "<exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion>" in excluded


def test_pinned_sha256_is_checked(fake_mvn: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MVN_LAX_OK", "1")
    pins = {"org.example:a:1.0": _sha(b"av1"), "org.example:b:2.0": _sha(b"bv1")}
    jars = maven.resolve(COORDS, transitive=False, sha256=pins, throwaway_repository=True)
    assert jars[1].read_bytes() == b"bv1"
    # every jar is pinned: Maven's own checksums only warn (some artifacts have none)
    assert " -c " in fake_mvn.read_text() and " -C " not in fake_mvn.read_text()
    # mvn downloaded into a local repository of its own, inside the (deleted) work directory
    assert "-Dmaven.repo.local=" + str(jars[0].parent.parent.parent) in fake_mvn.read_text()
    assert not list(jars[0].parent.parent.parent.glob(".*/repository"))

    wrong = {**pins, "org.example:b:2.0": _sha(b"other")}
    with pytest.raises(ChecksumMismatch, match=r"b-2\.0\.jar: sha256 \w+, pinned"):
        maven.resolve(COORDS, transitive=False, sha256=wrong)  # the cached entry is checked


def test_a_download_that_differs_from_its_pin_never_enters_the_cache(
    fake_mvn: Path, tmp_path: Path
) -> None:
    pins = {"org.example:a:1.0": _sha(b"av2")}
    with pytest.raises(ChecksumMismatch, match="fresh download"):
        maven.resolve(COORDS, sha256=pins)  # strict -C: b and c are not pinned
    cache = tmp_path / "cache" / "maven"
    assert not list(cache.glob("*.lock.json"))  # nothing trusted, so no lock either
    assert not [path for path in cache.iterdir() if path.is_dir()]


def test_pins_must_name_listed_coordinates(fake_mvn: Path) -> None:
    with pytest.raises(SluiceError, match="not in the list"):
        maven.resolve(COORDS, sha256={"org.example:z:1.0": _sha(b"")})
    with pytest.raises(SluiceError, match="64 lowercase hex"):
        maven.resolve(COORDS, sha256={"org.example:a:1.0": "abc"})
    assert _calls(fake_mvn) == 0


def test_a_changed_cached_jar_is_refused(fake_mvn: Path) -> None:
    jar = maven.resolve(COORDS)[0]
    jar.write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatch, match=r"a-1\.0\.jar: sha256"):
        maven.resolve(COORDS)


def test_a_fresh_download_must_match_the_lock(
    fake_mvn: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = maven.resolve(COORDS)[0].parent.parent
    for path in sorted(entry.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    entry.rmdir()
    monkeypatch.setenv("FAKE_MVN_CONTENT", "v2")  # the repository now serves other bytes
    with pytest.raises(ChecksumMismatch, match="fresh download"):
        maven.resolve(COORDS)
    assert not entry.exists()  # the refused download never entered the cache
    monkeypatch.setenv("FAKE_MVN_CONTENT", "v1")
    assert maven.resolve(COORDS)[0].read_bytes() == b"av1"


def test_fetch_and_unpack(fake_mvn: Path, tmp_path: Path) -> None:
    app = maven.fetch_and_unpack("org.example:app:1.0:tar.gz:all", tmp_path / "app")
    assert app.is_symlink()
    assert (app / "run.jar").read_bytes() == b"v1"  # the single top-level dir is the root
    assert (app / "lib" / "x.jar").is_file()
    lock = json.loads(next((tmp_path / "cache" / "maven").glob("app-*.lock.json")).read_text())
    assert len(lock["archive_sha256"]) == 64
    maven.fetch_and_unpack("org.example:app:1.0:tar.gz:all", tmp_path / "app")
    assert _calls(fake_mvn) == 1
    with pytest.raises(SluiceError, match="needs an archive"):
        maven.fetch_and_unpack("org.example:app:1.0")


def test_mvn_failure_names_the_cause(fake_mvn: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MVN_FAIL", "1")
    with pytest.raises(RemoteError) as caught:
        maven.resolve(COORDS)
    assert "Could not find artifact x:y:1" in caught.value.message
    assert "re-run Maven" not in caught.value.message


def test_package_builds_a_project_in_place_and_names_it_when_it_fails(
    fake_mvn: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "helper"
    project.mkdir()
    (project / "pom.xml").write_text("<project/>", encoding="utf-8")
    maven.package(project, "the helper jar", {"flink.version": "2.2.1"})
    assert (project / "target" / "built.jar").is_file()
    call = fake_mvn.read_text().split()
    assert call[-1] == "package" and "-Dflink.version=2.2.1" in call and "-C" in call

    monkeypatch.setenv("FAKE_MVN_FAIL", "1")
    with pytest.raises(RemoteError, match="mvn could not build the helper jar"):
        maven.package(project, "the helper jar")


def test_unpack_refuses_paths_outside(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        bundle.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(tarfile.TarError):
        maven._unpack(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_ports_are_chosen_once(tmp_path: Path) -> None:
    path = tmp_path / "ports.json"
    first = choose_ports(path, {"a": 1, "b": 1})  # both prefer one port: b gets another
    assert first["a"] != first["b"]
    assert all(is_free(port) for port in first.values())
    assert choose_ports(path, {"a": 1, "b": 1}) == first
