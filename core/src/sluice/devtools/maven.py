"""Pinned artifacts from Maven repositories, cached outside the project and locked by SHA-256.

Dev services run real JVM systems (a Kafka broker, a Flink cluster, a Connect worker, a schema
registry). Their jars come through the ordinary ``mvn`` client, so the user's Maven settings
(mirrors, proxies, credentials) apply, and Maven itself checks the SHA-1/MD5 of every download
(``-C``: a wrong checksum fails instead of warning; only where the caller pins the SHA-256 of
every file does Maven merely warn, see :func:`resolve`).

On top of that each cache entry gets a lock file beside it that records the SHA-256 of every
file it holds. The first resolution writes the lock; every later use (a cached entry or a
fresh download after the entry was deleted) is compared with it and a difference is an error.
The lock outlives its entry, so deleting an entry re-downloads and checks the new bytes against
what was trusted before. Delete the lock too only when a change is expected. A caller that pins
the SHA-256 of its jars in code (``resolve(..., sha256=...)``) has them checked as well, before
the first lock is written and on every later use.

Layout under :func:`cache_root` (``$SLUICE_CACHE_DIR`` or ``~/.cache/sluice``)::

    maven/<name>-<key>/            one entry: lib/*.jar (resolve) or root/ (fetch_and_unpack)
    maven/<name>-<key>.lock.json   coordinates and the SHA-256 of each file of that entry
    maven/<name>-<key>.flock       serialises processes resolving the same entry

``<key>`` hashes the sorted coordinates, the kind of entry (with or without transitive
dependencies) and the Maven plugin used, so a new pin makes a new entry and an old entry is
never reused for another list.

Coordinates are written as for ``mvn dependency:get``: ``group:artifact:version`` or
``group:artifact:version:type[:classifier]``, with an exact version (no ranges, no LATEST or
SNAPSHOT), since the cache and the lock assume that a coordinate always means the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from sluice.devtools.cache import cache_root, flocked
from sluice.errors import RemoteError, SluiceError

__all__ = [
    "ChecksumMismatch",
    "Coordinate",
    "cache_root",
    "fetch_and_unpack",
    "mvn_executable",
    "package",
    "resolve",
]

# The maven-dependency-plugin that copies a dependency tree, pinned (Maven 3.8 would pick 2.8).
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
# The one that fetches a single archive. 3.x reads the artifact's pom and all its parents first
# and fails when a parent was never published (so it is with Apicurio 3.0.9); the ``get`` goal
# of 2.8 fetches the file alone and can copy it out (``-Ddest``).
GET_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:2.8"
MVN_TIMEOUT_SECONDS = 1800.0
_LOCK_FORMAT = 1
_PART = re.compile(r"^[A-Za-z0-9_.\-]+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ARCHIVE_TYPES = ("zip", "tar.gz", "tgz", "tar")


class ChecksumMismatch(SluiceError):
    """A cached or downloaded file differs from the SHA-256 its lock file recorded."""


@dataclass(frozen=True)
class Coordinate:
    """``group:artifact:version[:type[:classifier]]`` with an exact version."""

    group: str
    artifact: str
    version: str
    type: str = "jar"
    classifier: str | None = None

    @classmethod
    def parse(cls, text: str) -> Coordinate:
        parts = text.strip().split(":")
        if not 3 <= len(parts) <= 5 or not all(parts) or not all(map(_PART.match, parts)):
            raise SluiceError(
                f"not a Maven coordinate: {text!r}",
                hint="write group:artifact:version or group:artifact:version:type:classifier",
            )
        group, artifact, version = parts[:3]
        if version.upper() in ("LATEST", "RELEASE") or version.upper().endswith("SNAPSHOT"):
            raise SluiceError(
                f"Maven coordinate {text!r} is not pinned to one version",
                hint="name an exact release, e.g. 4.1.1",
            )
        kind = parts[3] if len(parts) > 3 else "jar"
        classifier = parts[4] if len(parts) > 4 else None
        return cls(group, artifact, version, kind, classifier)

    def __str__(self) -> str:
        text = f"{self.group}:{self.artifact}:{self.version}"
        if self.type != "jar" or self.classifier:
            text += f":{self.type}"
        if self.classifier:
            text += f":{self.classifier}"
        return text

    @property
    def file_name(self) -> str:
        """The name Maven gives the artifact's file: ``artifact-version[-classifier].type``."""
        suffix = f"-{self.classifier}" if self.classifier else ""
        return f"{self.artifact}-{self.version}{suffix}.{self.type}"

    def pom_dependency(self, *, transitive: bool = True) -> str:
        lines = [
            "    <dependency>",
            f"      <groupId>{escape(self.group)}</groupId>",
            f"      <artifactId>{escape(self.artifact)}</artifactId>",
            f"      <version>{escape(self.version)}</version>",
        ]
        if self.type != "jar":
            lines.append(f"      <type>{escape(self.type)}</type>")
        if self.classifier:
            lines.append(f"      <classifier>{escape(self.classifier)}</classifier>")
        if not transitive:
            lines += [
                "      <exclusions>",
                "        <exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion>",
                "      </exclusions>",
            ]
        lines.append("    </dependency>")
        return "\n".join(lines)


def resolve(
    coordinates: Sequence[str],
    dest: Path | None = None,
    *,
    transitive: bool = True,
    sha256: Mapping[str, str] | None = None,
    throwaway_repository: bool = False,
) -> list[Path]:
    """The jars of ``coordinates`` and of everything they need at run time, sorted by name.

    The first call runs ``mvn dependency:copy-dependencies`` on a throwaway pom listing the
    coordinates and keeps the jars in the cache; later calls only check them against the lock.
    With ``dest``, that directory receives one symbolic link per jar (links of an earlier,
    different list are removed) and the links are returned; otherwise the cached files are.

    ``transitive=False`` fetches the named jars alone (each dependency of the pom excludes
    ``*:*``): for fat jars, or jars whose dependencies the caller's class path already holds.
    ``sha256`` maps coordinates of the list to the SHA-256 of their jar; a jar that differs is
    refused (:class:`ChecksumMismatch`) before it enters the cache and on every later call.
    When the pins cover every jar (``transitive=False`` and a pin per coordinate), mvn checks
    Maven's own SHA-1/MD5 files leniently (``-c``, not ``-C``): some artifacts on Central have
    none (flink-sql-avro-confluent-registry 2.2.0), and the pins check more than they would.
    ``throwaway_repository=True`` lets mvn download into a local repository that is deleted
    afterwards instead of ``~/.m2`` (or ``$SLUICE_MAVEN_REPO``), so the cache holds the only
    copy.
    """
    coords = _parse_all(coordinates)
    if not coords:
        raise SluiceError("resolve() needs at least one Maven coordinate")
    kind = "resolve" if transitive else "resolve-direct"
    entry = _entry_path(kind, coords, DEPENDENCY_PLUGIN)
    pinned = _pinned_files(sha256 or {}, coords)
    all_pinned = not transitive and len(pinned) == len(coords)

    def fill(work: Path) -> None:
        _write_pom(work / "pom.xml", coords, transitive=transitive)
        _run_mvn(
            [
                "-f",
                str(work / "pom.xml"),
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={work / 'out' / 'lib'}",
                "-DincludeScope=runtime",
            ],
            work,
            coords,
            repository=work / "repository" if throwaway_repository else None,
            strict_checksums=not all_pinned,
        )

    _ensure_entry(entry, coords, fill, pinned)
    jars = sorted((entry / "lib").iterdir(), key=lambda path: path.name)
    if dest is None:
        return jars
    return _link_files(jars, Path(dest))


def fetch_and_unpack(coordinate: str, dest: Path | None = None) -> Path:
    """Fetch one archive (``type`` zip, tar.gz, tgz or tar) without its dependencies, unpacked.

    For example ``io.apicurio:apicurio-registry-app:3.3.3:tar.gz:all``. The archive is unpacked
    in the cache (then deleted; its SHA-256 stays in the lock, beside that of every unpacked
    file). Returns the unpacked tree, or its single top-level directory when it has just one;
    with ``dest``, ``dest`` becomes a symbolic link to that directory and is returned.
    """
    coord = Coordinate.parse(coordinate)
    if coord.type not in _ARCHIVE_TYPES:
        raise SluiceError(
            f"fetch_and_unpack() needs an archive, but {coordinate!r} has type '{coord.type}'",
            hint=f"name the type in the coordinate: one of {', '.join(_ARCHIVE_TYPES)}",
        )
    entry = _entry_path("unpack", [coord], GET_PLUGIN)

    def fill(work: Path) -> None:
        _write_pom(work / "pom.xml", [])
        (work / "archive").mkdir()
        _run_mvn(
            [
                "-f",
                str(work / "pom.xml"),
                f"{GET_PLUGIN}:get",
                f"-Dartifact={coord}",
                "-Dtransitive=false",
                f"-Ddest={work / 'archive'}/",
            ],
            work,
            [coord],
        )
        archive = work / "archive" / coord.file_name
        if not archive.is_file():
            raise RemoteError(f"mvn reported success but did not write {archive.name}")
        (work / "archive.sha256").write_text(_sha256(archive) + "\n", encoding="utf-8")
        _unpack(archive, work / "out" / "root")
        archive.unlink()

    _ensure_entry(entry, [coord], fill)
    root = entry / "root"
    children = list(root.iterdir())
    if len(children) == 1 and children[0].is_dir():
        root = children[0]
    if dest is None:
        return root
    return _link_dir(root, Path(dest))


def package(project: Path, what: str, properties: Mapping[str, str] | None = None) -> None:
    """Build the Maven project in ``project`` with ``mvn -q package`` (output in its ``target/``).

    For small helper jars that sluice compiles itself. Plugins and dependencies come from the
    user's local repository (``~/.m2``, or ``$SLUICE_MAVEN_REPO``) with strict checksums, as
    for :func:`resolve`; ``properties`` become ``-Dkey=value``; ``what`` names the build in
    errors.
    """
    defines = [f"-D{key}={value}" for key, value in sorted((properties or {}).items())]
    _run_mvn(
        ["-f", str(project / "pom.xml"), *defines, "package"], project, [], task=f"build {what}"
    )


# -- cache entries -----------------------------------------------------------------------


def _parse_all(coordinates: Sequence[str]) -> list[Coordinate]:
    if isinstance(coordinates, str):
        raise TypeError("resolve() takes a list of coordinates, not one string")
    seen: dict[str, Coordinate] = {}
    for text in coordinates:
        coord = Coordinate.parse(text)
        seen.setdefault(str(coord), coord)
    return [seen[key] for key in sorted(seen)]


def _pinned_files(sha256: Mapping[str, str], coords: Sequence[Coordinate]) -> dict[str, str]:
    """``lib/<file> -> sha256`` for the pins of ``resolve(..., sha256=...)``, checked."""
    listed = {str(c) for c in coords}
    pinned = {}
    for text, digest in sha256.items():
        coord = Coordinate.parse(text)
        if str(coord) not in listed:
            raise SluiceError(f"a SHA-256 is pinned for {text}, which is not in the list")
        if not _SHA256.match(digest):
            raise SluiceError(f"the SHA-256 pinned for {text} is not 64 lowercase hex digits")
        pinned[f"lib/{coord.file_name}"] = digest
    return pinned


def _entry_path(kind: str, coords: Sequence[Coordinate], plugin: str) -> Path:
    """``<cache>/maven/<first artifact>-<version>-<hash>`` for this kind and coordinate list."""
    identity = json.dumps(
        {"kind": kind, "plugin": plugin, "coordinates": [str(c) for c in coords]},
        sort_keys=True,
    )
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    first = coords[0]
    return cache_root() / "maven" / f"{first.artifact}-{first.version}-{key}"


def _lock_path(entry: Path) -> Path:
    return entry.with_name(entry.name + ".lock.json")


def _ensure_entry(
    entry: Path,
    coords: Sequence[Coordinate],
    fill: Callable[[Path], None],
    pinned: Mapping[str, str] | None = None,
) -> None:
    """Make ``entry`` exist and match its lock, downloading it with ``fill`` when missing.

    ``fill(work)`` puts the entry's content into ``work/out`` (and may leave an
    ``archive.sha256`` beside it). The result is checked against ``pinned`` (relative path ->
    SHA-256) and the lock before it replaces anything, so a download that differs from the
    trusted one never enters the cache.
    """
    entry.parent.mkdir(parents=True, exist_ok=True)
    with flocked(entry.with_name(entry.name + ".flock")):
        lock = _read_lock(entry)
        if entry.is_dir():
            files = _hash_tree(entry)
            _check_pins(entry, coords, files, pinned or {}, fresh=False)
            _verify(entry, lock, files, archive=None)
            return
        work = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
        try:
            (work / "out").mkdir()
            fill(work)
            files = _hash_tree(work / "out")
            _check_pins(entry, coords, files, pinned or {}, fresh=True)
            archive_file = work / "archive.sha256"
            archive = archive_file.read_text().strip() if archive_file.exists() else None
            if lock is None:
                _write_lock(entry, coords, files, archive)
            else:
                _verify(entry, lock, files, archive=archive, fresh=True)
            os.replace(work / "out", entry)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _hash_tree(root: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every regular file under ``root``."""
    result = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            result[path.relative_to(root).as_posix()] = _sha256(path)
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_lock(entry: Path) -> dict[str, object] | None:
    path = _lock_path(entry)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ChecksumMismatch(
            f"cannot read the lock file {path}: {error}",
            hint="delete it and the cache entry beside it to resolve and lock again",
        ) from error
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ChecksumMismatch(
            f"the lock file {path} has no 'files' table",
            hint="delete it and the cache entry beside it to resolve and lock again",
        )
    return data


def _write_lock(
    entry: Path, coords: Sequence[Coordinate], files: Mapping[str, str], archive: str | None
) -> None:
    data: dict[str, object] = {
        "format": _LOCK_FORMAT,
        "coordinates": [str(c) for c in coords],
        "files": dict(sorted(files.items())),
    }
    if archive is not None:
        data["archive_sha256"] = archive
    path = _lock_path(entry)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _verify(
    entry: Path,
    lock: Mapping[str, object] | None,
    files: Mapping[str, str],
    *,
    archive: str | None,
    fresh: bool = False,
) -> None:
    """Raise :class:`ChecksumMismatch` naming every file that differs from ``lock``."""
    lock_path = _lock_path(entry)
    if lock is None:
        raise ChecksumMismatch(
            f"the cache entry {entry} has no lock file ({lock_path.name} is missing)",
            hint=f"delete {entry} to download it again and write a new lock",
        )
    expected = lock["files"]
    assert isinstance(expected, dict)
    problems = []
    locked_archive = lock.get("archive_sha256")
    if archive is not None and locked_archive is not None and archive != locked_archive:
        problems.append(f"the archive: sha256 {archive}, locked {locked_archive}")
    for name in sorted(set(expected) | set(files)):
        if name not in files:
            problems.append(f"{name}: missing")
        elif name not in expected:
            problems.append(f"{name}: not in the lock")
        elif files[name] != expected[name]:
            problems.append(f"{name}: sha256 {files[name]}, locked {expected[name]}")
    if not problems:
        return
    shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
    where = "the fresh download of" if fresh else "the cached"
    if fresh:
        hint = (
            "the repository served other bytes than when this entry was first locked; "
            f"if that is expected (a republished artifact), delete {lock_path} and retry"
        )
    else:
        hint = (
            f"delete {entry} to download it again (the download is checked against the "
            f"lock); delete {lock_path} as well only if the change is expected"
        )
    coordinates = lock.get("coordinates")
    what = ", ".join(map(str, coordinates)) if isinstance(coordinates, list) else entry.name
    raise ChecksumMismatch(
        f"{where} {what} does not match {lock_path}:\n  " + "\n  ".join(shown),
        hint=hint,
    )


def _check_pins(
    entry: Path,
    coords: Sequence[Coordinate],
    files: Mapping[str, str],
    pinned: Mapping[str, str],
    *,
    fresh: bool,
) -> None:
    """Raise :class:`ChecksumMismatch` naming every file that differs from its pinned SHA-256."""
    problems = []
    for name, digest in sorted(pinned.items()):
        actual = files.get(name)
        if actual is None:
            problems.append(f"{name}: missing")
        elif actual != digest:
            problems.append(f"{name}: sha256 {actual}, pinned {digest}")
    if not problems:
        return
    what = ", ".join(map(str, coords))
    where = "the fresh download of" if fresh else "the cached"
    raise ChecksumMismatch(
        f"{where} {what} does not match the pinned SHA-256:\n  " + "\n  ".join(problems),
        hint="if the pin is right, the artifact changed upstream or a Maven mirror serves "
        "other bytes" + ("" if fresh else f"; delete {entry} to download it again"),
    )


# -- running mvn -------------------------------------------------------------------------


def _write_pom(path: Path, coords: Sequence[Coordinate], *, transitive: bool = True) -> None:
    dependencies = "\n".join(c.pom_dependency(transitive=transitive) for c in coords)
    path.write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- written by sluice.devtools.maven to resolve pinned artifacts; safe to delete -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sluice.devtools</groupId>
  <artifactId>resolve</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
{dependencies}
  </dependencies>
</project>
""",
        encoding="utf-8",
    )


def mvn_executable() -> str:
    """``mvn`` from ``PATH``; :class:`SluiceError` when Maven is not installed."""
    found = shutil.which("mvn")
    if found is None:
        raise SluiceError(
            "Maven ('mvn') is needed to fetch the jars of the local stack, but it is not on PATH",
            hint="install Maven 3.8+ (e.g. apt-get install maven) and a Java 17+ runtime",
        )
    return found


def _run_mvn(
    args: Sequence[str],
    work: Path,
    coords: Sequence[Coordinate],
    *,
    repository: Path | None = None,
    strict_checksums: bool = True,
    task: str | None = None,
) -> None:
    checksums = "-C" if strict_checksums else "-c"  # fail on a wrong checksum, or only warn
    argv = [mvn_executable(), "-q", "-B", checksums, "-Dstyle.color=never", *args]
    repo = os.environ.get("SLUICE_MAVEN_REPO")
    if repository is not None:  # the caller's own local repository (a throwaway one)
        argv.append(f"-Dmaven.repo.local={repository}")
    elif repo:  # a separate local repository, e.g. for a CI cache or a cold-start measurement
        argv.append(f"-Dmaven.repo.local={Path(repo).expanduser()}")
    task = task or "fetch " + (", ".join(map(str, coords)) or "nothing")
    try:
        done = subprocess.run(
            argv,
            cwd=work,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=MVN_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise RemoteError(
            f"mvn did not {task} within {MVN_TIMEOUT_SECONDS:g}s",
            hint="check the network and your Maven settings (~/.m2/settings.xml), then retry",
        ) from error
    if done.returncode != 0:
        output = _ANSI.sub("", done.stdout + done.stderr).strip().splitlines()
        errors = [line for line in output if _useful_error(line)] or output
        tail = "\n  ".join(errors[:12])
        raise RemoteError(
            f"mvn could not {task} (exit code {done.returncode}):\n  {tail}",
            hint="the command was: " + " ".join(argv),
        )


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_BOILERPLATE = ("To see the full", "Re-run Maven", "For more information", "[Help ")


def _useful_error(line: str) -> bool:
    """An ``[ERROR]`` line of mvn that says something (not its closing advice)."""
    if not line.startswith("[ERROR]"):
        return False
    text = line[len("[ERROR]") :].strip()
    return bool(text) and not text.startswith(_BOILERPLATE)


# -- unpacking and linking ---------------------------------------------------------------


def _unpack(archive: Path, target: Path) -> None:
    """Unpack a zip or tar archive into ``target``, refusing members that escape it."""
    target.mkdir(parents=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as bundle:
            root = target.resolve()
            for member in bundle.infolist():
                destination = (target / member.filename).resolve()
                if not destination.is_relative_to(root):
                    raise SluiceError(f"{archive.name} holds a path outside itself: {member}")
                bundle.extract(member, target)
                mode = (member.external_attr >> 16) & 0o777
                if mode and not member.is_dir():
                    destination.chmod(mode)
        return
    with tarfile.open(archive) as bundle:
        bundle.extractall(target, filter="data")


def _link_files(files: Sequence[Path], dest: Path) -> list[Path]:
    """Symbolic links in ``dest`` to ``files``; links to anything else there are removed."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {path.name: path for path in files}
    for existing in dest.iterdir():
        if existing.is_symlink() and existing.name not in wanted:
            existing.unlink()
    links = []
    for name, target in wanted.items():
        link = dest / name
        if link.is_symlink() and Path(os.readlink(link)) == target:
            links.append(link)
            continue
        if link.exists() and not link.is_symlink():
            raise SluiceError(f"{link} exists and is not a link made by sluice")
        link.unlink(missing_ok=True)
        link.symlink_to(target)
        links.append(link)
    return links


def _link_dir(target: Path, dest: Path) -> Path:
    """Make ``dest`` a symbolic link to the directory ``target``."""
    if dest.is_symlink():
        if Path(os.readlink(dest)) == target:
            return dest
        dest.unlink()
    elif dest.exists():
        raise SluiceError(f"{dest} exists and is not a link made by sluice")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(target, target_is_directory=True)
    return dest
