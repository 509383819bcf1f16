"""The local stack behind ``sluice dev up|down|status|logs``.

Plugins contribute :class:`~sluice.plugin.api.DevService` values (Kafka as a java process, a
Flink session cluster, a Connect worker ...). :class:`DevStack` starts them as ordinary child
processes, in dependency order, each in its own session so it outlives the CLI, and records
what it started in ``.sluice/dev/state.json``::

    .sluice/dev/
        state.json        pid, process group, argv and start times of what ``up`` started
        env, env.json     the NAME=value pairs of the running services, once they are ready
        logs/<name>.log   stdout and stderr of each service
        <name>/           the service's own directory, given to its callbacks

A process is identified by its pid *and* the start time the kernel reports in
``/proc/<pid>/stat``, so ``down`` never signals a process that merely reused a pid. This makes
the module Linux-only, like the stack it runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sluice.errors import ConcurrencyError, PluginError, RemoteError, SluiceError, did_you_mean
from sluice.plugin.api import DevService

READY_POLL_SECONDS = 0.5
STOP_TIMEOUT_SECONDS = 20.0
LOG_TAIL_LINES = 20

# Names that would collide with the files ``DevStack`` keeps next to the service directories.
_RESERVED_NAMES = frozenset({"logs", "env", "env.json", "state.json", ".lock"})
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ServiceState:
    """What ``sluice dev status`` reports for one service.

    ``state`` is ``running`` (the recorded process is alive), ``dead`` (a pid is recorded but
    that process is gone or the pid now belongs to another process), ``stopped`` (not running,
    but it ran before: its log exists) or ``not started``.
    """

    name: str
    plugin: str
    pid: int | None
    state: str
    started_at: str | None
    log: str


@dataclass(frozen=True)
class _ProcStat:
    """The fields of ``/proc/<pid>/stat`` this module needs."""

    state: str
    pgrp: int
    start_ticks: int


def _read_proc_stat(pid: int) -> _ProcStat | None:
    """The kernel's view of ``pid``, or None when no such process exists."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state), so field N of proc(5) is fields[N - 3].
    return _ProcStat(state=fields[0], pgrp=int(fields[2]), start_ticks=int(fields[19]))


def _is_same_process(pid: int, start_ticks: int | None) -> bool:
    """Whether ``pid`` still runs and is the process that started at ``start_ticks``."""
    stat = _read_proc_stat(pid)
    if stat is None or stat.state in ("Z", "X"):
        return False
    return start_ticks is not None and stat.start_ticks == start_ticks


def _group_has_live_members(pgid: int) -> bool:
    """Whether any process that is not a zombie still belongs to process group ``pgid``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read_proc_stat(int(entry.name))
        if stat is not None and stat.pgrp == pgid and stat.state not in ("Z", "X"):
            return True
    return False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def order_services(services: Sequence[tuple[str, DevService]]) -> list[str]:
    """The service names ordered so each comes after every service named in its ``after``.

    Ties keep the order the plugins gave. Raises :class:`SluiceError` naming an unknown
    ``after`` entry or the services of a dependency cycle.
    """
    return [name for wave in start_waves(services) for name in wave]


def start_waves(services: Sequence[tuple[str, DevService]]) -> list[list[str]]:
    """The services in waves: each wave needs only services of earlier waves, so the
    services of one wave can start at the same time."""
    by_name = {service.name: (plugin, service) for plugin, service in services}
    for plugin, service in services:
        for dependency in service.after:
            if dependency not in by_name:
                raise SluiceError(
                    f"dev service '{service.name}' (plugin {plugin}) must start after "
                    f"'{dependency}', but no installed plugin provides a service of that name",
                    hint=did_you_mean(dependency, by_name)
                    or "install the plugin that provides it, or fix the plugin's 'after'",
                )
    waiting = {name: set(entry[1].after) for name, entry in by_name.items()}
    waves: list[list[str]] = []
    while waiting:
        free = [name for name, deps in waiting.items() if not deps]
        if not free:
            raise SluiceError(
                f"dev services depend on each other in a cycle: {_find_cycle(waiting)}",
                hint="fix the 'after' of one of these services",
            )
        waves.append(free)
        for name in free:
            del waiting[name]
        for deps in waiting.values():
            deps.difference_update(free)
    return waves


def _find_cycle(waiting: Mapping[str, set[str]]) -> str:
    """``a -> b -> a`` for one cycle among services none of which can start."""
    path = [next(iter(waiting))]
    while True:
        step = min(waiting[path[-1]])
        if step in path:
            cycle = [*path[path.index(step) :], step]
            return " -> ".join(cycle)
        path.append(step)


class DevStack:
    """The local services of one project: start, stop, inspect.

    ``services`` is what :meth:`PluginManager.dev_services` returns: ``(plugin, DevService)``
    pairs. ``echo`` receives one progress line at a time.
    """

    def __init__(
        self,
        project_dir: Path,
        services: Sequence[tuple[str, DevService]],
        *,
        echo: Callable[[str], None] = print,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
    ) -> None:
        # absolute: services get paths under it and run with other working directories
        self.project_dir = Path(project_dir).resolve()
        self.echo = echo
        self.stop_timeout = stop_timeout
        self._services: dict[str, tuple[str, DevService]] = {}
        for plugin, service in services:
            self._check_name(plugin, service.name)
            self._services[service.name] = (plugin, service)
        # Popen objects of the processes this instance spawned, so they can be reaped.
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._state_lock = threading.Lock()
        self._prepare_lock = threading.Lock()

    # -- paths ---------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        """``<project>/.sluice/dev``: everything the local stack keeps."""
        return self.project_dir / ".sluice" / "dev"

    def service_dir(self, name: str) -> Path:
        """The directory handed to the callbacks of service ``name`` (its working directory)."""
        return self.state_dir / name

    def log_path(self, name: str) -> Path:
        """The file that receives the stdout and stderr of service ``name``."""
        return self.state_dir / "logs" / f"{name}.log"

    @property
    def env_path(self) -> Path:
        """``.sluice/dev/env``: ``export NAME=value`` lines, for ``source``."""
        return self.state_dir / "env"

    @property
    def _state_file(self) -> Path:
        return self.state_dir / "state.json"

    # -- public commands -----------------------------------------------------------------

    def up(self, only: Sequence[str] = ()) -> dict[str, str]:
        """Start the services (``only`` these and what they need), wait until each is ready.

        Services already running are left alone. If one exits early or is not ready within
        its ``start_timeout``, the services this call started are stopped again and a
        :class:`RemoteError` carries the end of its log. Returns the environment written to
        ``.sluice/dev/env`` (merged from every running service).
        """
        waves = start_waves(list(self._services.values()))
        order = [name for wave in waves for name in wave]
        wanted = set(self._with_dependencies(only, order))
        with self._locked():
            started: list[str] = []
            try:
                for wave in waves:
                    self._start_wave([name for name in wave if name in wanted], started)
            except BaseException as error:
                # A half-started stack is worse than none: stop what this call started.
                self._stop_many(list(reversed(started)), quiet=True)
                if isinstance(error, SluiceError):
                    what = ", ".join(started) if started else "none"
                    error.message += f"\nstopped the services this call had started: {what}"
                    error.args = (error.message,)
                raise
            return self._write_env(order)

    def down(self, only: Sequence[str] = ()) -> list[str]:
        """Stop the services ``up`` recorded (``only`` these and what depends on them).

        Each process group gets SIGTERM, then SIGKILL after ``stop_timeout`` seconds; later
        services stop first. A recorded process that is gone, or whose pid now belongs to
        another process, is forgotten without a signal. Returns the names actually stopped.
        """
        with self._locked():
            records = self._load_state()
            names = self._stop_order(records, only)
            stopped = self._stop_many(names, quiet=False)
            self._write_env(self._known_order())
            return stopped

    def status(self) -> list[ServiceState]:
        """One :class:`ServiceState` per service known from the plugins or from state.json."""
        records = self._load_state()
        names = self._known_order() + sorted(set(records) - set(self._services))
        result = []
        for name in names:
            record = records.get(name)
            log = self.log_path(name)
            known = self._services.get(name)
            plugin = known[0] if known else str((record or {}).get("plugin", "?"))
            if record is None:
                state = "stopped" if log.exists() else "not started"
                result.append(ServiceState(name, plugin, None, state, None, str(log)))
                continue
            alive = _is_same_process(record["pid"], record.get("proc_start"))
            result.append(
                ServiceState(
                    name=name,
                    plugin=plugin,
                    pid=record["pid"],
                    state="running" if alive else "dead",
                    started_at=record.get("started_at"),
                    log=str(log),
                )
            )
        return result

    # -- starting ------------------------------------------------------------------------

    def _start_wave(self, names: Sequence[str], started: list[str]) -> None:
        """Start ``names`` side by side (they do not need each other) and wait for them all."""
        if len(names) <= 1:
            for name in names:
                self._start_one(name, started)
            return
        with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="dev-up") as pool:
            futures = [pool.submit(self._start_one, name, started) for name in names]
        for future in futures:
            error = future.exception()
            if error is not None:
                raise error  # the first in plugin order; `up` stops all the wave started

    def _start_one(self, name: str, started: list[str]) -> None:
        """Make service ``name`` run and answer; append it to ``started`` if it is spawned."""
        plugin, service = self._services[name]
        workdir = self.service_dir(name)
        workdir.mkdir(parents=True, exist_ok=True)
        records = self._load_state()
        record = records.get(name)
        if record is not None:
            if _is_same_process(record["pid"], record.get("proc_start")):
                if self._safe_ready(service, workdir):
                    self.echo(f"{name} already running (pid {record['pid']})")
                    return
                # Running but not answering yet (e.g. an earlier up was interrupted): wait
                # for it rather than start a second copy.
                self.echo(f"{name} is running (pid {record['pid']}), waiting until ready ...")
                self._wait_ready(name, service, record, None, time.monotonic())
                return
            self.echo(f"{name}: recorded pid {record['pid']} is gone, starting it again")
            self._record(name, None)

        if service.prepare is not None:
            # one at a time: preparing downloads into shared caches (Maven's among them)
            with self._prepare_lock:
                self.echo(f"preparing {name} ...")
                service.prepare(workdir)
        argv = [str(part) for part in service.command(workdir)]
        extra_env = dict(service.process_env(workdir)) if service.process_env else {}
        log = self.log_path(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        self.echo(f"starting {name} ...")
        began = time.monotonic()
        with log.open("wb") as log_file:
            try:
                process = subprocess.Popen(
                    argv,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    cwd=workdir,
                    env=os.environ | extra_env,
                )
            except OSError as error:
                raise RemoteError(
                    f"could not start dev service '{name}' (plugin {plugin}): {error}",
                    hint=f"the command was: {shlex.join(argv)}",
                ) from error
        self._children[process.pid] = process
        started.append(name)
        stat = _read_proc_stat(process.pid)
        record = {
            "plugin": plugin,
            "pid": process.pid,
            "pgid": process.pid,  # start_new_session makes it the leader of its own group
            "argv": argv,
            "started_at": _now(),
            "proc_start": stat.start_ticks if stat else None,
            "stop_signal": int(service.stop_signal),
        }
        self._record(name, record)
        self._wait_ready(name, service, record, process, began)

    def _wait_ready(
        self,
        name: str,
        service: DevService,
        record: Mapping[str, Any],
        process: subprocess.Popen[bytes] | None,
        began: float,
    ) -> None:
        """Poll ``ready`` until it answers; raise when the process exits or time runs out."""
        workdir = self.service_dir(name)
        deadline = began + service.start_timeout
        while True:
            if process is not None and process.poll() is not None:
                raise self._start_failure(
                    name, f"exited with code {process.returncode} before it was ready"
                )
            if process is None and not _is_same_process(record["pid"], record.get("proc_start")):
                raise self._start_failure(name, "exited before it was ready")
            if self._safe_ready(service, workdir):
                self.echo(f"{name} ready in {time.monotonic() - began:.1f}s")
                return
            if time.monotonic() >= deadline:
                raise self._start_failure(name, f"was not ready within {service.start_timeout:g}s")
            time.sleep(min(READY_POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    @staticmethod
    def _safe_ready(service: DevService, workdir: Path) -> bool:
        # A readiness probe that raises (connection refused ...) simply means "not yet".
        try:
            return bool(service.ready(workdir))
        except Exception:
            return False

    def _start_failure(self, name: str, what: str) -> RemoteError:
        plugin = self._services[name][0]
        log = self.log_path(name)
        tail = _tail(log, LOG_TAIL_LINES)
        body = f"\nlast lines of its log:\n{tail}" if tail else "\nits log is empty"
        return RemoteError(
            f"dev service '{name}' (plugin {plugin}) {what}{body}",
            hint=f"full log: {log}",
        )

    def _with_dependencies(self, only: Sequence[str], order: list[str]) -> list[str]:
        """``only`` plus everything they need, in start order (all services when empty)."""
        if not only:
            return order
        self._check_known(only, self._services)
        needed = set(only)
        # Walking the start order backwards sees each service before its dependencies.
        for name in reversed(order):
            if name in needed:
                needed.update(self._services[name][1].after)
        return [name for name in order if name in needed]

    # -- stopping ------------------------------------------------------------------------

    def _stop_order(self, records: Mapping[str, Any], only: Sequence[str]) -> list[str]:
        """Recorded services to stop, dependants first (``only`` and what needs them)."""
        known = self._known_order()
        unknown = sorted(set(records) - set(known))  # their plugin is no longer installed
        if not only:
            return unknown + [name for name in reversed(known) if name in records]
        self._check_known(only, {**self._services, **records})
        chosen = set(only)
        for name in known:  # start order sees each dependency before its dependants
            if chosen.intersection(self._services[name][1].after):
                chosen.add(name)
        ordered = [name for name in unknown if name in chosen]
        ordered += [name for name in reversed(known) if name in chosen]
        return [name for name in ordered if name in records]

    def _stop_many(self, names: Sequence[str], *, quiet: bool) -> list[str]:
        """Stop the recorded services ``names`` in that order; forget each one's record."""
        stopped = []
        for name in names:
            records = self._load_state()
            record = records.get(name)
            if record is None:
                continue
            if self._stop_process(name, record, quiet=quiet):
                stopped.append(name)
            records = self._load_state()
            records.pop(name, None)
            self._save_state(records)
        return stopped

    def _stop_process(self, name: str, record: Mapping[str, Any], *, quiet: bool) -> bool:
        """Signal the process group of ``record`` until it is gone. False if already gone."""
        pid = int(record["pid"])
        pgid = int(record.get("pgid", pid))
        if not _is_same_process(pid, record.get("proc_start")):
            self._reap(pid)
            if not quiet:
                self.echo(f"{name} was not running (pid {pid} is gone), forgetting it")
            return False
        if not quiet:
            self.echo(f"stopping {name} (pid {pid}) ...")
        self._signal_group(pgid, signal.Signals(int(record.get("stop_signal", signal.SIGTERM))))
        if not self._wait_group_gone(pid, pgid, self.stop_timeout):
            self.echo(f"{name} did not stop within {self.stop_timeout:g}s, killing it")
            self._signal_group(pgid, signal.SIGKILL)
            self._wait_group_gone(pid, pgid, 5.0)
        if not quiet:
            self.echo(f"{name} stopped")
        return True

    @staticmethod
    def _signal_group(pgid: int, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signum)

    def _wait_group_gone(self, pid: int, pgid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            self._reap(pid)
            if not _group_has_live_members(pgid):
                self._reap(pid)  # the leader may have become a zombie since the last look
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _reap(self, pid: int) -> None:
        """Collect the exit status of ``pid`` if it is our child, so no zombie lingers."""
        process = self._children.get(pid)
        if process is not None:
            if process.poll() is not None:
                del self._children[pid]
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)

    # -- environment ---------------------------------------------------------------------

    def _write_env(self, order: Sequence[str]) -> dict[str, str]:
        """Write ``env`` and ``env.json`` from the running services; remove them if none."""
        records = self._load_state()
        env: dict[str, str] = {}
        for name in order:
            record = records.get(name)
            if record is None or not _is_same_process(record["pid"], record.get("proc_start")):
                continue
            plugin, service = self._services[name]
            for key, value in service.env(self.service_dir(name)).items():
                if not _ENV_NAME.match(key):
                    raise PluginError(
                        f"dev service '{name}' (plugin {plugin}) gave the environment "
                        f"variable name {key!r}, which a shell cannot export"
                    )
                env[key] = str(value)
        json_path = self.state_dir / "env.json"
        if not env:
            self.env_path.unlink(missing_ok=True)
            json_path.unlink(missing_ok=True)
            return env
        lines = [f"export {key}={shlex.quote(env[key])}\n" for key in sorted(env)]
        _write_atomic(self.env_path, "".join(lines))
        _write_atomic(json_path, json.dumps(env, indent=2, sort_keys=True) + "\n")
        return dict(sorted(env.items()))

    # -- state ---------------------------------------------------------------------------

    def _load_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise SluiceError(
                f"cannot read {self._state_file}: {error}",
                hint="stop the processes it lists by hand, then delete the file",
            ) from error
        services = data.get("services", {}) if isinstance(data, dict) else {}
        return {
            name: record
            for name, record in services.items()
            if isinstance(record, dict) and isinstance(record.get("pid"), int)
        }

    def _record(self, name: str, record: Mapping[str, Any] | None) -> None:
        """Set (or with None, forget) the record of one service; safe across threads."""
        with self._state_lock:
            records = self._load_state()
            if record is None:
                records.pop(name, None)
            else:
                records[name] = record
            self._save_state(records)

    def _save_state(self, records: Mapping[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"services": dict(records)}, indent=2, sort_keys=True) + "\n"
        _write_atomic(self._state_file, text)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold ``.sluice/dev/.lock`` so two dev commands never edit state.json at once."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / ".lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as error:
                raise ConcurrencyError(
                    "another 'sluice dev' command is running in this project",
                    hint="wait for it to finish",
                ) from error
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- helpers -------------------------------------------------------------------------

    def _known_order(self) -> list[str]:
        """The plugins' services in start order, or as given when the order is broken."""
        try:
            return order_services(list(self._services.values()))
        except SluiceError:
            return list(self._services)

    @staticmethod
    def _check_known(names: Sequence[str], known: Mapping[str, Any]) -> None:
        for name in names:
            if name not in known:
                raise SluiceError(
                    f"no dev service named '{name}'",
                    hint=did_you_mean(name, known)
                    or f"known services: {', '.join(sorted(known)) or 'none'}",
                )

    def _check_name(self, plugin: str, name: str) -> None:
        if not _SERVICE_NAME.match(name) or name in _RESERVED_NAMES:
            raise PluginError(
                f"plugin {plugin} contributes a dev service named {name!r}, which cannot "
                "be used as a directory name under .sluice/dev/"
            )
        if name in self._services:
            raise PluginError(
                f"two plugins contribute a dev service named '{name}': "
                f"{self._services[name][0]} and {plugin}"
            )


def _tail(path: Path, count: int) -> str:
    """The last ``count`` lines of a text file ('' when it is missing or empty)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-count:])


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
