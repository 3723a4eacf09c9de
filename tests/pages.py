"""Console pages parsed as HTML into ElementTree elements, so tests find cells, links and attributes
instead of searching the text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

# Elements HTML never closes.
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tree = ET.TreeBuilder()
        self.open: list[str] = []
        self.tree.start("document", {})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tree.start(tag, {name: value or "" for name, value in attrs})
        if tag in _VOID:
            self.tree.end(tag)
        else:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tree.start(tag, {name: value or "" for name, value in attrs})
        self.tree.end(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        # A well-formed page closes what it opened; anything else is a defect the test should see.
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()
        self.tree.end(tag)

    def handle_data(self, data: str) -> None:
        self.tree.data(data)


def parse_html(text: str) -> ET.Element:
    """The page as a tree under a `document` root; fails on a page whose tags do not nest."""
    builder = _Builder()
    builder.feed(text)
    builder.close()
    assert not builder.open, f"unclosed: {builder.open}"
    builder.tree.end("document")
    return builder.tree.close()


def text_of(element: ET.Element) -> str:
    """The element's text as a reader sees it, whitespace runs made one space."""
    return " ".join("".join(element.itertext()).split())
