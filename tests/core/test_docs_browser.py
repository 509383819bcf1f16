"""The docs site in a real browser: a headless Chromium (the system's, driven by Playwright)
opens the example project's site and a user searches, pans, zooms and clicks through it.

Chromium is installed with apt-get when missing and the tests run as root; otherwise they are
skipped, except in CI (``CI=true``), where a missing browser is a failure."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from sluice.testing import SluiceProject

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "card-payments"
SCREENSHOT = ROOT / "target" / "test-artifacts" / "docs-site.png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT_MS = 15_000


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


def _apt_install_chromium() -> str | None:
    """``apt-get install chromium`` (after ``apt-get update`` when the first try fails); the
    reason it could not, or None."""
    if os.geteuid() != 0:
        return "no chromium on PATH; install it as root (apt-get install chromium)"
    if shutil.which("apt-get") is None:
        return "no chromium on PATH and no apt-get to install it"
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False
        )

    install = ("apt-get", "install", "-y", "--no-install-recommends", "chromium")
    done = run(*install)
    if done.returncode != 0:
        update = run("apt-get", "update")
        done = update if update.returncode != 0 else run(*install)
    if done.returncode != 0:
        return f"apt-get could not install chromium: {(done.stdout + done.stderr).strip()[-500:]}"
    return None


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        problem = _apt_install_chromium()
        found = shutil.which("chromium")
        if found is None:
            _unavailable(problem or "apt-get installed chromium, yet it is not on PATH")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install playwright)")
    executable = _chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any], Path]]:
    """The example project's site, generated and served over HTTP: (url, manifest, folder)."""
    for plugin in ("sluice_kafka", "sluice_flink", "sluice_connect"):
        pytest.importorskip(plugin)
    from sluice.docs_site.serve import make_server, site_url

    project = SluiceProject(tmp_path_factory.mktemp("docs") / "card-payments")
    shutil.copytree(EXAMPLE, project.path, ignore=shutil.ignore_patterns("target", ".sluice"))
    result = project.run("docs", "generate")
    assert result.exit_code == 0, result.output
    folder = project.path / "target" / "docs"
    server = make_server(folder, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site_url(server), project.manifest(), folder
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that records console errors and uncaught exceptions in ``page.problems``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.problems = problems
    yield opened
    context.close()


def _transform(page: Any) -> str:
    return str(page.get_attribute("#viewport", "transform"))


def _wait_for_change(page: Any, transform: str) -> None:
    page.wait_for_function(
        "old => document.getElementById('viewport').getAttribute('transform') !== old",
        arg=transform,
    )


def test_the_index_shows_every_node_in_the_graph(page, site):
    url, manifest, _ = site

    page.goto(url + "index.html")

    nodes = page.locator("#graph .node")
    assert nodes.count() == len(manifest["nodes"])
    shown = {
        nodes.nth(i).get_attribute("data-uid"): nodes.nth(i).locator("text.label").text_content()
        for i in range(nodes.count())
    }
    assert shown == {uid: node["name"] for uid, node in manifest["nodes"].items()}
    assert page.locator("#graph .edge").count() == sum(map(len, manifest["parent_map"].values()))
    assert page.problems == []


def test_search_filters_the_lists_and_the_graph(page, site):
    url, manifest, _ = site
    page.goto(url + "index.html")

    page.fill("#search", "fraud")

    expected = {
        uid
        for uid, node in manifest["nodes"].items()
        if "fraud" in json.dumps([node["name"], node["description"], node["owner"], node["tags"]])
    }
    assert expected  # the example has fraud models and a fraud dashboard
    rows = page.locator("tr[data-uid]:visible")
    assert {rows.nth(i).get_attribute("data-uid") for i in range(rows.count())} == expected
    lit = page.locator("#graph .node:not(.dim)")
    assert {lit.nth(i).get_attribute("data-uid") for i in range(lit.count())} == expected
    assert page.text_content("#search-status") == (
        f"{len(expected)} of {len(manifest['nodes'])} nodes match"
    )

    page.fill("#search", "")
    assert page.locator("tr[data-uid]:visible").count() == len(manifest["nodes"])
    assert page.problems == []


def test_searching_from_a_node_page_opens_the_filtered_index(page, site):
    url, _, _ = site
    page.goto(url + "nodes/source.merchants.html")

    page.fill("#search", "ledger")
    page.press("#search", "Enter")

    page.wait_for_url("**/index.html?q=ledger")
    rows = page.locator("tr[data-uid]:visible")
    assert [rows.nth(i).get_attribute("data-uid") for i in range(rows.count())] == [
        "model.payments_to_ledger"
    ]
    assert page.problems == []


def test_the_graph_pans_and_zooms(page, site):
    url, _, _ = site
    page.goto(url + "index.html")
    fitted = _transform(page)
    assert fitted != "translate(0 0) scale(1)"  # the script fitted the graph to its box

    page.click("#zoom-in")
    zoomed_in = _transform(page)
    assert zoomed_in != fitted
    page.click("#zoom-out")
    assert _transform(page) != zoomed_in

    box = page.locator("#graph").bounding_box()
    x, y = box["x"] + 8, box["y"] + 8
    before = _transform(page)
    page.mouse.move(x + 200, y + 200)
    page.mouse.wheel(0, -400)
    _wait_for_change(page, before)
    before = _transform(page)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 120, y + 60, steps=6)
    page.mouse.up()
    _wait_for_change(page, before)
    assert page.url == url + "index.html"  # a drag is not a click
    assert page.problems == []


def test_clicking_a_graph_node_opens_its_page(page, site):
    url, _, _ = site
    page.goto(url + "index.html")

    page.click('#graph .node[data-uid="model.payments_clean"]')

    page.wait_for_url(url + "nodes/model.payments_clean.html")
    heading = page.locator("h1#node-name")
    assert heading.get_attribute("data-uid") == "model.payments_clean"
    assert heading.text_content().startswith("payments_clean")
    assert page.locator("#column-payment_id").count() == 1
    assert page.problems == []


def test_the_site_works_opened_from_disk(page, site):
    _, manifest, folder = site

    page.goto((folder / "index.html").as_uri())

    assert page.locator("#graph .node").count() == len(manifest["nodes"])
    assert _transform(page) != "translate(0 0) scale(1)"
    page.fill("#search", "merchant")
    assert page.locator("tr[data-uid]:visible").count() < len(manifest["nodes"])
    assert page.problems == []


def test_a_screenshot_is_kept_as_a_test_artifact(page, site):
    url, _, _ = site
    page.goto(url + "index.html")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    data = SCREENSHOT.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000  # a rendered page, not an empty canvas
