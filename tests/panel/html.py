"""Reading the panel's HTML in tests: elements by their data-testid, as a browser test would."""

from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Finder(HTMLParser):
    def __init__(self, testid: str):
        super().__init__(convert_charrefs=True)
        self.testid = testid
        self.found: list[dict] = []
        self._open: list[list] = []  # [element dict, depth] being captured

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for entry in self._open:
            entry[1] += tag not in VOID
        if attrs.get("data-testid") == self.testid:
            element = {"tag": tag, "attrs": attrs, "text": ""}
            self.found.append(element)
            if tag not in VOID:
                self._open.append([element, 1])

    def handle_endtag(self, tag):
        for entry in self._open:
            entry[1] -= 1
        self._open = [entry for entry in self._open if entry[1] > 0]

    def handle_data(self, data):
        for element, _ in self._open:
            element["text"] += data


def find_all(html: str | bytes, testid: str) -> list[dict]:
    """Every element with data-testid=`testid`: {"tag", "attrs", "text" (whitespace collapsed)}."""
    finder = _Finder(testid)
    finder.feed(html.decode() if isinstance(html, bytes) else html)
    for element in finder.found:
        element["text"] = " ".join(element["text"].split())
    return finder.found


def text_of(html, testid: str) -> str:
    found = find_all(html, testid)
    assert len(found) == 1, f"expected one element data-testid={testid!r}, found {len(found)}"
    return found[0]["text"]


def texts_of(html, testid: str) -> list[str]:
    return [element["text"] for element in find_all(html, testid)]
