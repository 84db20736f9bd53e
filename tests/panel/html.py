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


class _FormReader(HTMLParser):
    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.values: dict[str, list[str]] = {}
        self._select: dict | None = None  # {"name", "first", "chosen"}: a multiple one needs no default
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside or "disabled" in attrs:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.values.setdefault(name, []).append(attrs.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "select" and name:
            self._select = {"name": name, "first": None, "chosen": "multiple" in attrs}
        elif tag == "option" and self._select is not None:
            value = attrs.get("value", "")
            if self._select["first"] is None:
                self._select["first"] = value
            if "selected" in attrs:
                self._select["chosen"] = True
                self.values.setdefault(self._select["name"], []).append(value)
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = [""]

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select is not None:
            # A single select with nothing selected submits its first option, as a browser does.
            if not self._select["chosen"] and self._select["first"] is not None:
                self.values[self._select["name"]] = [self._select["first"]]
            self._select = None
        elif tag == "textarea" and self._textarea:
            # Browsers drop the newline that may follow <textarea>.
            self.values[self._textarea][0] = self.values[self._textarea][0].removeprefix("\n")
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea][0] += data


def form_values(html: str | bytes, form_id: str) -> dict:
    """What a browser would submit from the form with id `form_id`, as it stands (no button)."""
    reader = _FormReader(form_id)
    reader.feed(html.decode() if isinstance(html, bytes) else html)
    return {name: values[0] if len(values) == 1 else values for name, values in reader.values.items()}
