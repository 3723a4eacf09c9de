"""Console pages parsed as HTML into ElementTree elements, so tests find cells, links and attributes
instead of searching the text; and the console as ops reach it (signed in, or through the API)."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from conftest import OPS_PASSWORD

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


def by_id(page: ET.Element, id_: str) -> ET.Element:
    return next(e for e in page.iter() if e.get("id") == id_)


def rows(table: ET.Element) -> list[dict[str | None, str]]:
    """A table's body rows, each cell's text by its `data-label`."""
    return [{td.get("data-label"): text_of(td) for td in tr.iter("td")} for tr in table.find("tbody").iter("tr")]


def basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"ops:{OPS_PASSWORD}".encode()).decode()}


def api(client, path: str):
    reply = client.get(path, headers=basic())
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_json()


def signed_in(app):
    """A test client signed in to the console, with a session (and CSRF token) of its own."""
    client = app.test_client()
    assert client.post("/ops/login", data={"password": OPS_PASSWORD}).status_code == 302
    return client


def page_of(browser, path: str) -> ET.Element:
    reply = browser.get(path)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return parse_html(reply.get_data(as_text=True))


def token(page: str) -> str:
    """The form token of a page's forms."""
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)[1]
