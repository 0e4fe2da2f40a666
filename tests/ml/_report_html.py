"""Reading the HTML report back as a reader's browser would (stdlib html.parser): tables by id,
cells as text, images' sources, the summary, headings and section ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Page:
    tables: dict[str, list[list[str]]] = field(default_factory=dict)  # id → rows of cell texts (header first)
    images: list[str] = field(default_factory=list)  # every <img src>
    links: list[str] = field(default_factory=list)  # every <a href>
    summary: str = ""
    captions: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)  # every <h2>/<h3> text, in page order
    sections: list[str] = field(default_factory=list)  # ids of the <section> elements

    def rows(self, table: str) -> list[dict[str, str]]:
        """Data rows of a table as {header: cell text}."""
        head, *body = self.tables[table]
        return [dict(zip(head, row, strict=True)) for row in body]


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._summary_depth = 0
        self._div_depth = 0
        self._caption: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id") or f"table{len(self.page.tables)}"
            self.page.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")
        elif tag == "img":
            self.page.images.append(a.get("src", ""))
        elif tag == "a":
            self.page.links.append(a.get("href", ""))
        elif tag == "div":
            self._div_depth += 1
            if "summary" in (a.get("class") or "").split():
                self._summary_depth = self._div_depth
        elif tag == "p" and "caption" in (a.get("class") or "").split():
            self._caption = []
        elif tag in ("h2", "h3"):
            self._heading = []
        elif tag == "section":
            self.page.sections.append(a.get("id", ""))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.page.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "div":
            if self._summary_depth == self._div_depth:
                self._summary_depth = 0
            self._div_depth -= 1
        elif tag == "p" and self._caption is not None:
            self.page.captions.append(" ".join("".join(self._caption).split()))
            self._caption = None
        elif tag in ("h2", "h3") and self._heading is not None:
            self.page.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._summary_depth:
            self.page.summary += data
        if self._caption is not None:
            self._caption.append(data)
        if self._heading is not None:
            self._heading.append(data)


def parse(html_text: str) -> Page:
    parser = _Parser()
    parser.feed(html_text)
    parser.close()
    return parser.page
