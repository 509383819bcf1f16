"""``sluice dev``: the local stack starts real processes, waits for them, and stops only them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.dev import DevStack, order_services
from sluice.errors import RemoteError, SluiceError
from sluice.plugin.api import DevService

PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=0.3) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def is_alive(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def web_service(name: str, *, after: tuple[str, ...] = (), greeting: str = "hi") -> DevService:
    """A real HTTP server on a free port, ready once it answers GET /."""
    port = free_port()
    return DevService(
        name=name,
        command=lambda d: [PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        ready=lambda d: answers(port),
        env=lambda d: {
            f"{name.upper()}_URL": f"http://127.0.0.1:{port}",
            f"{name.upper()}_GREETING": greeting,
        },
        after=after,
        start_timeout=10,
    )


def script_service(name: str, code: str, **options: object) -> DevService:
    """A service running ``python -c code`` that never answers."""
    return DevService(
        name=name,
        command=lambda d: [PYTHON, "-c", code],
        ready=lambda d: False,
        env=lambda d: {},
        **options,  # type: ignore[arg-type]
    )


# Writes its pid into its working directory (the service dir), then sleeps.
SLEEPER = "import os, time; open('pid', 'w').write(str(os.getpid())); time.sleep(60)"


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def make_stack(tmp_path: Path, lines: list[str]) -> Iterator[object]:
    stacks: list[DevStack] = []

    def make(*services: tuple[str, DevService], stop_timeout: float = 20.0) -> DevStack:
        stack = DevStack(tmp_path, list(services), echo=lines.append, stop_timeout=stop_timeout)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:  # never leave a server behind, even when a test fails
        stack.down()


def pids(stack: DevStack) -> dict[str, int]:
    return {s.name: s.pid for s in stack.status() if s.pid is not None}


def test_up_starts_in_dependency_order_and_writes_the_env(make_stack, lines, tmp_path):
    api = web_service("api", after=("web",), greeting="hello 'world'")
    web = web_service("web")
    stack = make_stack(("demo", api), ("demo", web))

    env = stack.up()

    starts = [line for line in lines if line.startswith("starting ")]
    assert starts == ["starting web ...", "starting api ..."]
    assert any(line.startswith("api ready in ") and line.endswith("s") for line in lines)
    web_url = web.env(tmp_path)["WEB_URL"]
    api_url = api.env(tmp_path)["API_URL"]
    assert (tmp_path / ".sluice/dev/env").read_text() == (
        "export API_GREETING='hello '\"'\"'world'\"'\"''\n"
        f"export API_URL={api_url}\n"
        "export WEB_GREETING=hi\n"
        f"export WEB_URL={web_url}\n"
    )
    assert env == {
        "API_GREETING": "hello 'world'",
        "API_URL": api_url,
        "WEB_GREETING": "hi",
        "WEB_URL": web_url,
    }
    assert json.loads((tmp_path / ".sluice/dev/env.json").read_text()) == env

    state = json.loads((tmp_path / ".sluice/dev/state.json").read_text())["services"]
    assert set(state) == {"api", "web"}
    assert state["web"]["argv"][1:3] == ["-m", "http.server"]
    assert state["web"]["pgid"] == state["web"]["pid"]
    assert isinstance(state["web"]["proc_start"], int)
    assert (tmp_path / ".sluice/dev/web").is_dir()  # the service's own working directory

    statuses = {s.name: s for s in stack.status()}
    assert statuses["web"].state == statuses["api"].state == "running"
    assert statuses["web"].plugin == "demo"
    assert statuses["web"].log == str(tmp_path / ".sluice/dev/logs/web.log")
    assert statuses["web"].started_at is not None
    assert stack.log_path("web").exists()

    running = pids(stack)
    assert stack.down() == ["api", "web"]  # dependants stop first
    assert not any(is_alive(pid) for pid in running.values())
    assert not answers(int(web_url.rsplit(":", 1)[1]))
    assert {s.state for s in stack.status()} == {"stopped"}
    assert json.loads((tmp_path / ".sluice/dev/state.json").read_text()) == {"services": {}}
    assert not (tmp_path / ".sluice/dev/env").exists()


def test_independent_services_start_side_by_side(make_stack, lines):
    # A service is ready only once all three have been polled: started one after the other,
    # the first would wait for the others forever and time out.
    polled: set[str] = set()

    def waits_for_the_others(name: str) -> DevService:
        service = web_service(name)

        def ready(d: Path) -> bool:
            polled.add(name)
            return polled == {"one", "two", "three"} and service.ready(d)

        return DevService(name, service.command, ready, service.env, start_timeout=8)

    stack = make_stack(*(("demo", waits_for_the_others(n)) for n in ("one", "two", "three")))
    stack.up()

    state = json.loads((stack.state_dir / "state.json").read_text())["services"]
    assert set(state) == {"one", "two", "three"}  # no thread lost another's record
    assert {s.state for s in stack.status()} == {"running"}


def test_up_twice_starts_each_service_once(make_stack, lines):
    stack = make_stack(("demo", web_service("web")))
    stack.up()
    first = pids(stack)

    stack.up()

    assert pids(stack) == first
    assert lines.count("starting web ...") == 1
    assert f"web already running (pid {first['web']})" in lines


def test_up_only_starts_what_the_service_needs(make_stack):
    stack = make_stack(
        ("demo", web_service("web")),
        ("demo", web_service("api", after=("web",))),
        ("other", web_service("docs")),
    )

    stack.up(only=["api"])

    assert {s.name: s.state for s in stack.status()} == {
        "web": "running",
        "api": "running",
        "docs": "not started",
    }


def test_a_service_that_exits_at_once_fails_with_its_log_and_stops_the_others(make_stack, tmp_path):
    web = web_service("web")
    broken = script_service(
        "broken", "import sys; print('boom: bad config'); sys.exit(3)", after=("web",)
    )
    stack = make_stack(("demo", web), ("demo", broken))

    with pytest.raises(RemoteError) as caught:
        stack.up()

    message = caught.value.message
    assert "boom: bad config" in message
    assert "exited with code 3" in message
    assert "stopped the services this call had started: web, broken" in message
    assert str(tmp_path / ".sluice/dev/logs/broken.log") in (caught.value.hint or "")
    assert not answers(int(web.env(tmp_path)["WEB_URL"].rsplit(":", 1)[1]))
    assert json.loads((tmp_path / ".sluice/dev/state.json").read_text()) == {"services": {}}
    assert not (tmp_path / ".sluice/dev/env").exists()


def test_a_service_that_never_gets_ready_times_out_and_is_stopped(make_stack, tmp_path):
    stack = make_stack(("demo", script_service("stuck", SLEEPER, start_timeout=1)))

    with pytest.raises(RemoteError, match="was not ready within 1s"):
        stack.up()

    pid = int((tmp_path / ".sluice/dev/stuck/pid").read_text())
    assert not is_alive(pid)
    assert [s.state for s in stack.status()] == ["stopped"]


def test_down_stops_only_what_up_started(make_stack, tmp_path):
    bystander = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(60)"])
    try:
        stack = make_stack(("demo", web_service("web")))
        stack.up()
        state_file = tmp_path / ".sluice/dev/state.json"
        state = json.loads(state_file.read_text())
        # A record whose pid now belongs to someone else (same pid, other start time).
        state["services"]["ghost"] = {
            "pid": bystander.pid,
            "pgid": bystander.pid,
            "argv": ["ghost"],
            "started_at": "2020-01-01T00:00:00+00:00",
            "proc_start": 1,
        }
        state_file.write_text(json.dumps(state))

        assert stack.down() == ["web"]

        assert bystander.poll() is None
        assert json.loads(state_file.read_text()) == {"services": {}}
    finally:
        bystander.kill()
        bystander.wait()


def test_a_stale_pid_in_state_is_reported_dead_and_started_again(make_stack, tmp_path):
    finished = subprocess.Popen([PYTHON, "-c", "pass"])
    finished.wait()
    state_dir = tmp_path / ".sluice/dev"
    state_dir.mkdir(parents=True)
    (state_dir / "state.json").write_text(
        json.dumps(
            {"services": {"web": {"pid": finished.pid, "pgid": finished.pid, "proc_start": 5}}}
        )
    )
    stack = make_stack(("demo", web_service("web")))

    assert [(s.state, s.pid) for s in stack.status()] == [("dead", finished.pid)]

    stack.up()

    [web] = stack.status()
    assert web.state == "running"
    assert web.pid != finished.pid


def test_down_of_a_dead_service_just_forgets_it(make_stack, tmp_path, lines):
    stack = make_stack(("demo", web_service("web")))
    stack.up()
    pid = pids(stack)["web"]
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert [s.state for s in stack.status()] == ["dead"]
    assert stack.down() == []
    assert f"web was not running (pid {pid} is gone), forgetting it" in lines
    assert [s.state for s in stack.status()] == ["stopped"]


def test_down_of_one_service_also_stops_its_dependants(make_stack):
    stack = make_stack(
        ("demo", web_service("web")),
        ("demo", web_service("api", after=("web",))),
        ("other", web_service("docs")),
    )
    stack.up()

    assert stack.down(only=["web"]) == ["api", "web"]
    states = {s.name: s.state for s in stack.status()}
    assert states == {"web": "stopped", "api": "stopped", "docs": "running"}
    assert set(json.loads(stack.env_path.with_suffix(".json").read_text())) == {
        "DOCS_URL",
        "DOCS_GREETING",
    }


def test_a_process_that_ignores_sigterm_is_killed(make_stack, tmp_path):
    code = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + SLEEPER
    stubborn = DevService(
        name="stubborn",
        command=lambda d: [PYTHON, "-c", code],
        ready=lambda d: (d / "pid").exists(),
        env=lambda d: {},
    )
    stack = make_stack(("demo", stubborn), stop_timeout=0.5)
    stack.up()
    pid = int((tmp_path / ".sluice/dev/stubborn/pid").read_text())

    assert stack.down() == ["stubborn"]
    assert not is_alive(pid)


def test_unknown_dependency_and_cycles_are_named():
    web = web_service("web", after=("kafak",))
    kafka = web_service("kafka")
    with pytest.raises(SluiceError, match="'kafak'") as caught:
        order_services([("demo", web), ("demo", kafka)])
    assert caught.value.hint == "did you mean 'kafka'?"

    a = web_service("a", after=("b",))
    b = web_service("b", after=("a",))
    with pytest.raises(SluiceError, match="cycle: a -> b -> a"):
        order_services([("demo", a), ("demo", b)])


def test_unknown_service_names_are_refused(make_stack):
    stack = make_stack(("demo", web_service("web")))
    with pytest.raises(SluiceError, match="no dev service named 'wbe'"):
        stack.up(only=["wbe"])
