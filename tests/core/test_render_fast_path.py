"""The quickest render path (one regular expression for templates of plain calls) gives the
same SQL, the same recorded references and the same errors as Jinja's lexer path."""

from __future__ import annotations

import pytest

from sluice import render
from sluice.errors import Location, ProjectError
from sluice.project.variables import Variables

TEMPLATES = [
    'SELECT * FROM {{ ref("a") }}',
    "SELECT * FROM {{ref('a')}} JOIN {{ source(\"s\") }} USING (id)",
    '{{ ref ( "a" ) }} {{ ref("a") }} {{ source("s") }}',
    "line1\nline2 {{ source('s') }}\nline3 {{ ref('b') }}\n",
    'x {{ ref("nope") }}',
    'x\n  y {{ ref("s") }}',
    'a {{ var("k") }} b {{ var("missing") }}',
    '{{ env_var("HOME") }} {{ env_var("NOT_SET_ANYWHERE") }}',
    "no tags at all",
    "braces { alone } and }} alone",
    '{{{ ref("a") }}',
    '{{ ref("a") }}}',
    '{{- ref("a") }}',
    '{{ ref("a") -}}',
    "{% if true %}x{% endif %}",
    '{# note #} {{ ref("a") }}',
    "a\r\n{{ ref('a') }}",
    '{{ ref("a\\"b") }}',
    '{{ ref("a}}") }}',
    '{{ ref("a", "b") }}',
    '{{ upper("a") }}',
    "{{ ref(a) }}",
    'x {{ ref("nope") }} {% if %}',
    "'{{' ",
    "{{",
]


def _render(template: str) -> tuple[str, object]:
    renderer = render.SqlRenderer({}, Variables({"HOME": "/home/me"}), {"k": 5})
    try:
        result = renderer.render(
            template,
            location=Location("models/m.yml", 3, 1),
            models={"a", "b"},
            sources={"s"},
            locate=lambda line, column: Location("models/m.yml", 10 + line, column),
        )
    except ProjectError as exc:
        return "error", exc.render()
    return "rendered", result


@pytest.mark.parametrize("template", TEMPLATES)
def test_the_quick_path_agrees_with_the_lexer_path(
    template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick = _render(template)
    monkeypatch.setattr(render, "_simple_calls", lambda template: None)
    assert quick == _render(template)


def test_plain_calls_take_the_quick_path() -> None:
    assert render._simple_calls("SELECT {{ ref(\"a\") }}, {{ source('s') }}") is not None
    assert render._simple_calls("{% if x %}{% endif %}") is None
