"""Every page of docs/ (and the README) that shows a command or YAML is checked by running it.

How each kind of block is checked is described in :mod:`doc_examples`. The YAML blocks are
validated with the plugins installed in this environment, so the whole suite wants every
first-party plugin and the example plugin installed (``bash scripts/test.sh`` installs them).
"""

from __future__ import annotations

from pathlib import Path

import importlib_metadata
import pytest
from doc_examples import check_page
from markdown_blocks import fenced_blocks

from sluice.hints import FIRST_PARTY

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
NEEDED = [d.name for d in FIRST_PARTY] + ["sluice-example-webhook"]


@pytest.fixture(scope="module", autouse=True)
def _plugins_installed() -> None:
    missing = []
    for name in NEEDED:
        try:
            importlib_metadata.distribution(name)
        except importlib_metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        pytest.skip("the docs use every plugin; not installed: " + ", ".join(missing))


def problems_of(text: str, tmp_path: Path) -> list[str]:
    return [str(p) for p in check_page("page.md", text, REPO, tmp_path)]


# -- the pages -------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_command_and_yaml_block_of_the_page_works(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLUICE_DISABLE_PLUGINS", raising=False)
    name = str(page.relative_to(REPO))
    problems = check_page(name, page.read_text(encoding="utf-8"), REPO, tmp_path)
    assert not problems, "\n".join(str(p) for p in problems)


def test_the_readme_opens_with_the_demo_and_the_test_suite() -> None:
    first = fenced_blocks("README.md", (REPO / "README.md").read_text(encoding="utf-8"))[0]
    commands = [line.split("#", 1)[0].strip() for line in first.text.splitlines()]
    assert [c for c in commands if c] == ["bash scripts/demo.sh", "bash scripts/test.sh"]


# -- the checks can fail -----------------------------------------------------------------------


def test_an_unknown_option_of_an_offline_command_is_reported(tmp_path: Path) -> None:
    page = "Compile it:\n\n```bash\nsluice compile --frobnicate\n```\n"

    (problem,) = problems_of(page, tmp_path)

    assert problem.startswith("page.md:4: `sluice compile --frobnicate`: exited with 2:")
    assert "No such option" in problem and "--frobnicate" in problem


def test_an_online_command_is_parsed_not_run(tmp_path: Path) -> None:
    page = (
        "```console\n"
        "$ sluice apply --prune --yes\n"
        "applied 3 changes\n"
        "$ sluice plan --detailed-exitcode --outptu json\n"
        "$ sluice dev up kafka --bogus\n"
        "$ sluice deploy\n"
        "```\n"
    )

    problems = problems_of(page, tmp_path)

    assert [p.split(": No such option")[0] for p in problems[:2]] == [
        "page.md:4: `sluice plan --detailed-exitcode --outptu json`",
        "page.md:5: `sluice dev up kafka --bogus`",
    ]
    assert "--outptu" in problems[0] and "--bogus" in problems[1]
    assert problems[2:] == ["page.md:6: `sluice deploy`: no such command: sluice deploy"]


def test_a_misspelt_key_in_a_yaml_block_is_reported(tmp_path: Path) -> None:
    page = (
        "```yaml\n"
        "models:\n"
        "  - name: orders_valid\n"
        "    descripton: Valid orders\n"
        "    sql: SELECT * FROM {{ source('orders') }}\n"
        "```\n"
    )

    (problem,) = problems_of(page, tmp_path)

    assert problem.startswith("page.md:2: invalid as a file of sources/models/tests/exposures: ")
    assert "unknown key 'descripton'" in problem
    assert "did you mean 'description'?" in problem


def test_a_fragment_is_only_parsed_and_must_still_be_yaml(tmp_path: Path) -> None:
    page = (
        "<!-- fragment -->\n"
        "```yaml\n"
        "flink: { parallelism: 2 }\n"
        "```\n"
        "\n"
        "<!-- fragment -->\n"
        "```yaml\n"
        "flink: { parallelism: 2\n"
        "```\n"
        "\n"
        "```yaml\n"
        "flink: { parallelism: 2 }\n"
        "```\n"
    )

    problems = problems_of(page, tmp_path)

    assert [p.split(": ", 2)[:2] for p in problems] == [
        ["page.md:8", "not YAML"],
        ["page.md:12", "cannot tell which project file this is (top-level"],
    ]


def test_a_whole_project_and_an_environment_are_validated_as_such(tmp_path: Path) -> None:
    page = (
        "```yaml\n"
        "project: { name: shop }\n"
        "runtime:\n"
        "  kafka: { bootstrap_servers: '${KAFKA_BOOTSTRAP}' }\n"
        "```\n"
        "\n"
        "```yaml\n"
        "protected: yes\n"
        "runtime:\n"
        "  flink: { rest_url: http://flink:8081, parallelizm: 4 }\n"
        "```\n"
    )

    (problem,) = problems_of(page, tmp_path)

    assert problem.startswith("page.md:8: invalid as environments/<env>.yml: ")
    assert "parallelizm" in problem


def test_paths_named_by_other_commands_must_exist(tmp_path: Path) -> None:
    page = (
        "```bash\n"
        "python3 -m venv .venv && . .venv/bin/activate\n"
        "pip install -e core -e plugins/kafka -e plugins/nope\n"
        "bash scripts/demo.sh   # fine\n"
        "bash scripts/missing.sh\n"
        "```\n"
    )

    assert problems_of(page, tmp_path) == [
        "page.md:3: `pip install -e core -e plugins/kafka -e plugins/nope`: "
        "no such file or folder: plugins/nope",
        "page.md:5: `bash scripts/missing.sh`: no such file or folder: scripts/missing.sh",
    ]


def test_commands_run_in_a_scratch_project_that_init_and_cd_change(tmp_path: Path) -> None:
    page = (
        "```bash\n"
        "sluice init my-pipeline\n"
        "cd my-pipeline\n"
        "sluice ls --select +revenue_per_minute --output json\n"
        "sluice compile --project-dir examples/card-payments\n"
        "cd nowhere\n"
        "```\n"
    )

    assert problems_of(page, tmp_path) == ["page.md:6: `cd nowhere`: cd: no folder 'nowhere'"]
    assert (tmp_path / "project" / "my-pipeline" / "stream_project.yml").is_file()
    assert (REPO / "examples" / "card-payments").is_dir()


def test_a_block_shown_as_a_file_must_be_that_file(tmp_path: Path) -> None:
    lines = (REPO / "tests/example_plugin/pyproject.toml").read_text(encoding="utf-8")
    excerpt = "".join(lines.splitlines(keepends=True)[15:17])
    page = (
        "File `tests/example_plugin/pyproject.toml`:\n\n"
        f"```toml\n{lines}```\n\n"
        "From `tests/example_plugin/pyproject.toml`:\n\n"
        f"```toml\n{excerpt}```\n\n"
        "File `tests/example_plugin/pyproject.toml`:\n\n"
        '```toml\n[project]\nname = "sluice-example-webhook"\n```\n\n'
        "From `tests/example_plugin/pyproject.toml`:\n\n"
        '```toml\nname = "sluice-example-webhook"\nversion = "9.9.9"\n```\n'
    )

    problems = problems_of(page, tmp_path)

    assert [p.split(": ", 1)[1] for p in problems] == [
        "the block differs from tests/example_plugin/pyproject.toml; copy the file again",
        "the block is not a run of lines of tests/example_plugin/pyproject.toml",
    ]


def test_the_plugin_walkthrough_shows_the_example_plugins_own_files() -> None:
    page = REPO / "docs" / "plugin-authors.md"
    shown = {b.shown_file for b in fenced_blocks(page.name, page.read_text(encoding="utf-8"))}
    example = "tests/example_plugin"
    assert {
        ("File", f"{example}/pyproject.toml"),
        ("From", f"{example}/src/sluice_webhook/plugin.py"),
        ("File", f"{example}/src/sluice_webhook/config.py"),
        ("File", f"{example}/src/sluice_webhook/compiler.py"),
        ("File", f"{example}/tests/test_example_webhook.py"),
    } <= shown
