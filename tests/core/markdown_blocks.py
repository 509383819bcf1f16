"""The fenced code blocks of a Markdown page, with what the page says about each.

Two things on the lines above a fence matter to the checks of the docs:

- a marker, an HTML comment on the line right above (``<!-- fragment -->``), which readers of
  the rendered page never see;
- a caption, the nearest line of prose above, which may name the file the block shows
  (``File `path`:`` for a whole file, ``From `path`:`` for consecutive lines of it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<text>.*?)\s*-->\s*$")
_CAPTION = re.compile(r"^(?P<how>File|From) `(?P<path>[^`]+)`:?$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # 1-based line of the block's first line of content
    language: str  # first word of the info string, lower case; "" when there is none
    text: str
    marker: str | None = None
    caption: str | None = None

    @property
    def shown_file(self) -> tuple[str, str] | None:
        """("File" or "From", repository path) when the caption names a file."""
        found = _CAPTION.match(self.caption or "")
        return (found["how"], found["path"]) if found else None

    def where(self, offset: int = 0) -> str:
        return f"{self.page}:{self.line + offset}"


def fenced_blocks(page: str, text: str) -> list[Block]:
    """Every fenced block of ``text`` in order; an unclosed fence runs to the end, as
    CommonMark says."""
    lines = text.splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        start = index + 1
        end = start
        while end < len(lines) and not _closes(lines[end], fence):
            end += 1
        content = [line[indent:] if line[:indent].isspace() else line for line in lines[start:end]]
        words = opening["info"].strip().split()
        blocks.append(
            Block(
                page,
                start + 1,
                words[0].lower() if words else "",
                "\n".join(content) + "\n" if content else "",
                _marker(lines, index),
                _caption(lines, index),
            )
        )
        index = end + 1
    return blocks


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


def _marker(lines: list[str], fence_index: int) -> str | None:
    if fence_index == 0:
        return None
    found = _MARKER.match(lines[fence_index - 1])
    return found["text"] if found else None


def _caption(lines: list[str], fence_index: int) -> str | None:
    for line in reversed(lines[:fence_index]):
        if not line.strip() or _MARKER.match(line):
            continue
        return line.strip()
    return None
