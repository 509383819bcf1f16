"""The files a compile writes under ``target/``, written while the compile still runs.

A compile of 10,000 models makes 10,000 artifact files. Creating them is kernel work: 0.4 s
on this project's CI machine, and up to 4 s right after many files were deleted (measured with
``bench/compile_bench.py``). For a big project a helper process (``python -m
sluice.target_files``, standard library only) receives each file's text as soon as a plugin
has compiled it and writes it on another core while the compile goes on; a small project
writes in-process, where a helper would cost more than it saves.

The rules are the same either way (:class:`TargetFiles`):

- files are staged under ``target/.cache/staging`` and moved into place only when the compile
  succeeded (:meth:`TargetFiles.commit`), so a failing compile leaves ``target/`` as it was;
- one compile at a time writes a ``target/``: a second one (another terminal, an editor's
  save hook) waits for the lock ``target/.cache/lock`` instead of staging into the same folder;
- a file whose text did not change since the last compile is not rewritten;
- files of the last compile that this one did not produce are removed, and nothing else in
  ``target/`` is touched: the index ``.cache/files.json`` (each file -> the SHA-1 of its text)
  records what sluice wrote. It is removed before the first file moves and written last, so a
  commit cut short leaves no index and the next compile writes every file again.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import queue
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

INDEX = ".cache/files.json"
STAGING = ".cache/staging"
LOCK = ".cache/lock"
# From this many nodes a compile hands its files to a helper process (about 60 ms to start,
# in parallel with the compile); below it they are written in-process. Measured on a
# 2-core machine like CI's, cold compiles of chains right after `rm -rf target` (median wall):
# 300 models 1.36 s with the helper, 1.55 s in-process; 1,000 models 2.44 s / 3.59 s.
HELPER_FROM_NODES = 200
_BATCH = 128  # files per message to the helper


class TargetFiles:
    """Stage files under ``target/`` and commit them (see the module's docstring)."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.staging = target / STAGING
        shutil.rmtree(self.staging, ignore_errors=True)  # left by a compile that was killed
        try:
            self.previous: dict[str, str] = json.loads((target / INDEX).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.previous = {}
        self.current: dict[str, str] = {}
        self.staged: set[str] = set()
        self._listings: dict[str, set[str]] = {}
        self._folders: set[Path] = set()

    def add(self, relative: str, text: str) -> None:
        """Stage ``text`` as ``target/<relative>`` unless the file already holds it; a file
        added again replaces what was added before."""
        content = text.encode("utf-8")
        digest = hashlib.sha1(content).hexdigest()
        self.current[relative] = digest
        if self.previous.get(relative) == digest and self._exists(relative):
            self.staged.discard(relative)
            return
        path = self.staging / relative
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)
        _write(path, content)
        self.staged.add(relative)

    def commit(self) -> None:
        """Move the staged files into place, remove stale ones, record the index."""
        index = self.target / INDEX
        try:
            index.unlink(missing_ok=True)
            if self.staged:
                self._move(self.staging, self.target, self.staged)
            for relative in self.previous.keys() - self.current.keys():
                (self.target / relative).unlink(missing_ok=True)
            index.parent.mkdir(parents=True, exist_ok=True)
            index.write_text(json.dumps(self.current, sort_keys=True), encoding="utf-8")
        finally:
            self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def _move(self, source: Path, destination: Path, staged: set[str], prefix: str = "") -> None:
        """Move the staged files under ``source``: a whole folder at once when its place in
        ``target/`` is free (the first compile: one rename instead of one per file)."""
        with os.scandir(source) as listing:
            entries = list(listing)  # listed before any of them moves away
        for entry in entries:
            relative, place = prefix + entry.name, destination / entry.name
            if not entry.is_dir():
                if relative in staged:
                    _replace(entry.path, place)
            elif not place.exists() and _all_staged(Path(entry.path), relative, staged):
                _replace(entry.path, place)
            else:
                place.mkdir(exist_ok=True)
                self._move(Path(entry.path), place, staged, relative + "/")

    def _exists(self, relative: str) -> bool:
        """One directory listing per folder instead of a stat per file."""
        folder, _, name = relative.rpartition("/")
        if folder not in self._listings:
            try:
                with os.scandir(self.target / folder) as entries:
                    self._listings[folder] = {e.name for e in entries if e.is_file()}
            except OSError:
                self._listings[folder] = set()
        return name in self._listings[folder]


def _replace(staged: str, place: Path) -> None:
    """``os.replace``, failing with the file's place in ``target/``, which a user knows."""
    try:
        os.replace(staged, place)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(place)) from exc


def _all_staged(folder: Path, relative: str, staged: set[str]) -> bool:
    """Whether every file under ``folder`` (``relative`` in target/) is one to move."""
    return all(
        f"{relative}/{(Path(root) / name).relative_to(folder).as_posix()}" in staged
        for root, _, names in os.walk(folder)
        for name in names
    )


def _write(path: Path, content: bytes) -> None:
    """``path.write_bytes(content)`` without a file object, which costs more than the write
    itself for a small file."""
    if os.linesep != "\n":
        content = content.replace(b"\n", os.linesep.encode())
    view = memoryview(content)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        while view:
            view = view[os.write(handle, view) :]
    finally:
        os.close(handle)


class TargetWriter:
    """What a compile hands its files to: :class:`TargetFiles` in this process, or in a helper
    process for a big project. Leaving the ``with`` block without :meth:`commit` discards."""

    def __init__(self, target: Path, *, helper: bool) -> None:
        self.target = target
        self._lock = _lock(target)  # held until the ``with`` block ends
        self.sent: dict[str, str] = {}
        self._files: TargetFiles | _Helper = _Helper(target) if helper else TargetFiles(target)
        self._done = False

    def add(self, relative: str, text: str) -> None:
        """Write ``text`` as ``target/<relative>`` at commit; the same text twice is sent once."""
        if self.sent.get(relative) != text:
            self.sent[relative] = text
            self._files.add(relative, text)

    def commit(self) -> None:
        """Put every file in place; raises the :class:`OSError` of a file that failed."""
        self._done = True
        self._files.commit()

    def __enter__(self) -> TargetWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._done:
                self._files.discard()
        except (OSError, RuntimeError):
            if error is None:
                raise
        finally:
            if self._lock is not None:
                self._lock.close()  # closing the file releases the lock


def _lock(target: Path) -> IO[str] | None:
    """Take ``target/.cache/lock``, waiting while another process holds it (none on systems
    without ``flock``)."""
    if fcntl is None:
        return None
    path = target / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"waiting for another sluice command writing {target} ...", file=sys.stderr)
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


class _Helper:
    """The client of a helper process running :func:`_serve`."""

    def __init__(self, target: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sluice.target_files", str(target)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.batch: list[tuple[str, str]] = []

    def add(self, relative: str, text: str) -> None:
        self.batch.append((relative, text))
        if len(self.batch) >= _BATCH:
            self._flush()

    def commit(self) -> None:
        self._flush()
        self._last(("commit",))

    def discard(self) -> None:
        self._last(("discard",))

    def _flush(self) -> None:
        if self.batch:
            self._send(("add", self.batch))
            self.batch = []

    def _send(self, message: tuple[Any, ...]) -> None:
        assert self.process.stdin is not None
        try:
            _put(self.process.stdin, message)
        except BrokenPipeError:
            self._stopped()

    def _last(self, message: tuple[str]) -> None:
        """Send the last message, then wait for the answer and for the helper to exit."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self._send(message)
        self.process.stdin.close()
        answer = _get(self.process.stdout)
        self.process.wait()
        if answer is None:
            self._stopped()
        if answer[0] == "error":
            _, number, reason, filename = answer
            raise OSError(number, reason, filename)

    def _stopped(self) -> None:
        assert self.process.stderr is not None
        self.process.wait()
        detail = self.process.stderr.read().decode("utf-8", "replace").strip()
        raise RuntimeError(
            f"the process writing target/ stopped (exit code {self.process.returncode})"
            + (f": {detail.splitlines()[-1]}" if detail else "")
        )


def _put(stream: IO[bytes], message: tuple[Any, ...]) -> None:
    data = marshal.dumps(message)
    stream.write(struct.pack(">Q", len(data)) + data)
    stream.flush()


def _get(stream: IO[bytes]) -> Any:
    header = stream.read(8)
    if len(header) < 8:
        return None
    return marshal.loads(stream.read(struct.unpack(">Q", header)[0]))


def _serve(target: Path, requests: IO[bytes], answers: IO[bytes]) -> None:
    """The helper: messages are read on a thread, so the compile never waits on a full pipe
    while files are written here. The first failure is answered at commit."""
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def read() -> None:
        message: Any = ("add",)
        while message is not None and message[0] == "add":
            message = _get(requests)
            inbox.put(message)

    threading.Thread(target=read, daemon=True).start()
    files = TargetFiles(target)
    failure: OSError | None = None
    while True:
        message = inbox.get()
        kind = "discard" if message is None else message[0]
        try:
            if kind == "add" and failure is None:
                for relative, text in message[1]:
                    files.add(relative, text)
            elif kind == "commit" and failure is None:
                files.commit()
        except OSError as exc:
            failure = exc
        if kind != "add":
            break
    if kind == "discard" or failure is not None:
        files.discard()
    if failure is None:
        _put(answers, ("ok",))
    else:
        _put(answers, ("error", failure.errno, failure.strerror, failure.filename))


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), sys.stdin.buffer, sys.stdout.buffer)
