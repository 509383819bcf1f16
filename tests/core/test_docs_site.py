"""`sluice docs generate` and `sluice docs serve`, told as stories and checked without a browser:
a page for every node, an index that lists them, escaping, no network, no secrets, stable bytes,
and a server that serves the site and stops on Ctrl-C."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sluice.docs_site.serve import make_server
from sluice.errors import DocsError
from sluice.testing import SluiceProject

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "card-payments"
SECRET = "hunter2-secret"
ENV = {"DB_PASSWORD": SECRET}
SCRIPT = "<script>alert('owned')</script>"

SHOP = {
    "stream_project.yml": """
        project:
          name: shop
          version: "2.1.0"
        runtime:
          stream:
            servers: localhost:9092
            password: ${DB_PASSWORD}
        sources:
          - name: payments_raw
            topic: payments.raw.v1
            description: "Raw payments <b>as sent</b> & more"
            owner: gateway-team
            columns:
              - { name: payment_id, type: STRING }
              - { name: card_number, type: STRING, classification: sensitive }
              - { name: amount, type: "DECIMAL(12,2)" }
        """,
    "models/payments_clean.yml": f"""
        models:
          - name: payments_clean
            description: "{SCRIPT}"
            owner: payments-team
            tags: [pii, finance]
            sql: |
              SELECT payment_id, amount
              FROM {{{{ source("payments_raw") }}}} WHERE amount > 0
        """,
    "models/totals.sql": (
        "SELECT payment_id, SUM(amount) AS total\n"
        "FROM {{ ref('payments_clean') }} GROUP BY payment_id\n"
    ),
    "exposures/dash.yml": """
        exposures:
          - name: dash
            type: dashboard
            owner: bi-team
            url: https://bi.example.com/dash
            depends_on: [ref('totals')]
        """,
    "tests/clean.yml": """
        tests:
          - name: clean_ok
            model: payments_clean
            assertions:
              - not_null: { columns: [payment_id] }
        """,
}
SHOP_NODES = {
    "source.payments_raw",
    "model.payments_clean",
    "model.totals",
    "test.clean_ok",
    "exposure.dash",
}


def site_files(project_path: Path) -> dict[str, bytes]:
    site = project_path / "target" / "docs"
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()}


class _Links(HTMLParser):
    """Every src= and href= of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.targets += [value or "" for name, value in attrs if name in ("src", "href")]


def links_of(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.targets


@pytest.fixture
def shop(sluice_project, stream_installed):
    project = sluice_project(SHOP)
    result = project.run("docs", "generate", env=ENV)
    assert result.exit_code == 0, result.output
    return project


# -- what the site holds -----------------------------------------------------------------------


def test_generate_says_where_the_site_is(sluice_project, stream_installed):
    project = sluice_project(SHOP)

    result = project.run("docs", "generate", env=ENV)

    assert result.exit_code == 0, result.output
    assert result.output == (
        "wrote the docs site to target/docs/index.html\n"
        "open it in a browser, or run: sluice docs serve\n"
    )
    # it compiled first, as `sluice compile` does
    assert (project.path / "target" / "manifest.json").is_file()


def test_every_node_has_a_page_and_the_index_lists_them_with_owners_and_tags(shop):
    files = site_files(shop.path)
    index = files["index.html"].decode()

    assert {f"nodes/{uid}.html" for uid in SHOP_NODES} <= set(files)
    for uid in SHOP_NODES:
        assert f'<tr data-uid="{uid}">' in index
        assert f'href="nodes/{uid}.html"' in index
    for owner in ("gateway-team", "payments-team", "bi-team"):
        assert owner in index
    assert '<span class="tag">pii</span><span class="tag">finance</span>' in index
    # grouped by kind, in the order data flows
    headings = re.findall(r'<section class="group" id="kind-(\w+)"', index)
    assert headings == ["source", "model", "test", "exposure"]


def test_a_node_page_shows_columns_lineage_sql_tests_and_neighbours(shop):
    page = (shop.path / "target" / "docs" / "nodes" / "model.payments_clean.html").read_text()

    assert '<h1 id="node-name" data-uid="model.payments_clean">payments_clean' in page
    assert '<tr id="column-amount">' in page
    assert '<a href="../nodes/source.payments_raw.html#column-amount">payments_raw.amount</a>' in (
        page
    )
    assert "FROM `payments_raw` WHERE amount &gt; 0" in page
    assert 'href="../nodes/test.clean_ok.html"' in page  # its test
    assert 'href="../nodes/model.totals.html"' in page  # downstream
    assert 'href="../nodes/source.payments_raw.html"' in page  # upstream
    assert "target/stream/topics.json (payments_clean)" in page  # its entry of a shared file

    source = (shop.path / "target" / "docs" / "nodes" / "source.payments_raw.html").read_text()
    assert '<span class="classification">sensitive</span>' in source

    test = (shop.path / "target" / "docs" / "nodes" / "test.clean_ok.html").read_text()
    assert "<h2>Checks</h2>" in test
    assert "<code>not_null: {&#34;columns&#34;: [&#34;payment_id&#34;]}</code>" in test


def test_text_from_the_project_is_escaped(shop):
    files = site_files(shop.path)

    for name, content in files.items():
        assert b"<script>alert" not in content, name
        assert b"<b>as sent</b>" not in content, name
    page = files["nodes/model.payments_clean.html"].decode()
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page
    assert "Raw payments &lt;b&gt;as sent&lt;/b&gt; &amp; more" in files["index.html"].decode()
    # the search data is JSON a script cannot break out of
    data = files["data.js"].decode()
    assert "\\u003cscript\\u003ealert" in data
    payload = json.loads(data.removeprefix("window.SLUICE_DOCS = ").rstrip(";\n"))
    clean = next(n for n in payload["nodes"] if n["uid"] == "model.payments_clean")
    assert clean["description"] == SCRIPT


def test_the_site_loads_nothing_from_the_network(shop):
    files = site_files(shop.path)
    pages = [name for name in files if name.endswith(".html")]

    for name in pages:
        for target in links_of(files[name].decode()):
            assert not re.match(r"^(https?:)?//", target), (name, target)
            assert not target.startswith(("javascript:", "data:")), (name, target)
    for name in ("site.css", "site.js"):
        assert b"http" not in files[name], name  # no url(), import or fetch of anything remote
    # the exposure's url is shown as text, not followed
    assert "https://bi.example.com/dash</dd>" in files["nodes/exposure.dash.html"].decode()


def test_secrets_stay_masked(shop):
    for name, content in site_files(shop.path).items():
        assert SECRET.encode() not in content, name


def test_the_same_project_gives_the_same_bytes(shop, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # the footer's "as of" stamp
    assert shop.run("docs", "generate", env=ENV).exit_code == 0
    first = site_files(shop.path)
    assert shop.run("docs", "generate", env=ENV).exit_code == 0
    assert site_files(shop.path) == first

    # and elsewhere: no absolute path or order of the file system leaks into the files
    copy = SluiceProject(tmp_path / "elsewhere")
    shutil.copytree(shop.path, copy.path, ignore=shutil.ignore_patterns("target"))
    assert copy.run("docs", "generate", env=ENV).exit_code == 0
    assert site_files(copy.path) == first


def test_a_selection_limits_the_site_and_stale_pages_go(shop):
    result = shop.run("docs", "generate", "--select", "payments_clean+", env=ENV)

    assert result.exit_code == 0, result.output
    pages = {n for n in site_files(shop.path) if n.startswith("nodes/")}
    assert pages == {
        "nodes/model.payments_clean.html",
        "nodes/model.totals.html",
        "nodes/test.clean_ok.html",
        "nodes/exposure.dash.html",
    }
    page = (shop.path / "target" / "docs" / "nodes" / "model.payments_clean.html").read_text()
    # a neighbour left out of the site is named, not linked
    assert '<span class="node-link outside" title="not in this site">source.payments_raw' in page


def test_a_project_error_is_reported_as_compile_reports_it(sluice_project, stream_installed):
    project = sluice_project({**SHOP, "models/totals.sql": "SELECT * FROM {{ ref('nosuch') }}\n"})

    result = project.run("docs", "generate", env=ENV)

    assert result.exit_code == 1
    assert result.output.startswith("error: models/totals.sql")
    assert "Traceback" not in result.output


# -- the example project (the real Kafka, Flink and Connect plugins) ------------------------------


@pytest.fixture
def card_payments(sluice_project, monkeypatch):
    for plugin in ("sluice_kafka", "sluice_flink", "sluice_connect"):
        pytest.importorskip(plugin)
    monkeypatch.delenv("SLUICE_DISABLE_PLUGINS", raising=False)
    project = sluice_project({})
    shutil.copytree(EXAMPLE, project.path, dirs_exist_ok=True, ignore=_generated)
    return project


def _generated(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in ("target", ".sluice")}


CONNECT_ENV = {
    "PG_JDBC_URL": "jdbc:postgresql://ledger-db.internal:5432/ledger",
    "PG_USER": "ledger_writer",
    "PG_PASSWORD": "s3cr3t-ledger-pw",
}


def test_the_example_project_gets_a_page_per_node_and_keeps_connector_secrets(card_payments):
    result = card_payments.run("docs", "generate", env=CONNECT_ENV)

    assert result.exit_code == 0, result.output
    manifest = card_payments.manifest()
    files = site_files(card_payments.path)
    for uid, node in manifest["nodes"].items():
        assert f"nodes/{uid}.html" in files
        assert f'data-uid="{uid}"' in files["index.html"].decode()
        if node["owner"]:
            assert node["owner"] in files["index.html"].decode()
    assert '<section class="group" id="kind-sink"' in files["index.html"].decode()
    sink = files["nodes/model.payments_to_ledger.html"].decode()
    assert "target/connect/card-payments-payments_to_ledger.json" in sink
    assert "${PG_PASSWORD}" in sink
    for value in CONNECT_ENV.values():
        for name, content in files.items():
            assert value.encode() not in content, (value, name)
    flink = files["nodes/model.merchant_minute_totals.html"].decode()
    assert "<code>target/flink/merchant_minute_totals.sql</code>" in flink
    assert "INSERT INTO `merchant_minute_totals`" in flink


def test_the_graph_has_a_node_per_manifest_node_and_an_edge_per_dependency(card_payments):
    assert card_payments.run("docs", "generate").exit_code == 0
    manifest = card_payments.manifest()
    index = (card_payments.path / "target" / "docs" / "index.html").read_text()

    graph_nodes = re.findall(r'<a class="node kind-\w+" href="[^"]+" data-uid="([^"]+)"', index)
    assert sorted(graph_nodes) == sorted(manifest["nodes"])
    edges = re.findall(r'data-source="([^"]+)" data-target="([^"]+)"', index)
    expected = {(p, c) for c, parents in manifest["parent_map"].items() for p in parents}
    assert set(edges) == expected
    # data flows rightwards: every parent's box lies left of its child's
    x_of = dict(re.findall(r'data-uid="([^"]+)">\s*<title>[^<]*</title>\s*<rect x="(\d+)"', index))
    assert all(int(x_of[p]) < int(x_of[c]) for p, c in expected)


# -- serving ------------------------------------------------------------------------------------


def test_serve_serves_the_site_and_stops_on_ctrl_c(shop):
    command = ["docs", "serve", "--no-generate", "--port", "0", "--project-dir", str(shop.path)]
    server = subprocess.Popen(
        [sys.executable, "-m", "sluice.cli.main", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        match = re.search(r"serving the docs at (http://127\.0\.0\.1:\d+/) ", first)
        assert match, first
        with urllib.request.urlopen(match.group(1) + "index.html", timeout=10) as response:
            body = response.read()
        assert response.status == 200
        assert body == (shop.path / "target" / "docs" / "index.html").read_bytes()
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err
    assert out == "stopped\n"
    assert "Traceback" not in err


def test_serving_without_a_site_says_to_generate_it(sluice_project):
    project = sluice_project({})

    result = project.run("docs", "serve", "--no-generate")

    assert result.exit_code == 1
    assert result.output == (
        f"error: no docs site in {project.path / 'target' / 'docs'}\n"
        "  hint: run sluice docs generate first (or drop --no-generate)\n"
    )


def test_a_port_in_use_is_an_error_with_a_hint(shop):
    site = shop.path / "target" / "docs"
    with make_server(site, "127.0.0.1", 0) as taken:
        port = taken.server_address[1]
        with pytest.raises(DocsError) as caught:
            make_server(site, "127.0.0.1", port)
    assert f"cannot listen on 127.0.0.1:{port}" in caught.value.message
    assert caught.value.hint == "choose another port with --port (0 picks a free one)"


# -- the graph's layout -------------------------------------------------------------------------


def test_the_layout_puts_each_node_right_of_its_parents_without_overlaps():
    from sluice.docs_site.layout import NODE_HEIGHT, NODE_WIDTH, lay_out

    nodes = ["source.a", "source.late", "model.b", "model.c", "model.d", "exposure.e"]
    edges = [
        ("source.a", "model.b"),
        ("model.b", "model.c"),
        ("model.c", "model.d"),
        ("source.late", "model.d"),
        ("model.d", "exposure.e"),
    ]

    layout = lay_out(nodes, edges)

    boxes = {box.uid: box for box in layout.boxes}
    assert all(boxes[p].layer < boxes[c].layer for p, c in edges)
    assert boxes["source.late"].layer == boxes["model.d"].layer - 1  # next to its only child
    corners = {(box.x, box.y) for box in layout.boxes}
    assert len(corners) == len(nodes)
    assert all(
        box.x >= 0 and box.x + NODE_WIDTH <= layout.width and box.y + NODE_HEIGHT <= layout.height
        for box in layout.boxes
    )
    assert lay_out(nodes, edges) == layout
