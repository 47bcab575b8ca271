"""Reading a page's form the way a browser would post it, so tests post what the page really shows."""

from __future__ import annotations

from html.parser import HTMLParser


class FormReader(HTMLParser):
    """The fields a browser would post from the form with `id`: inputs, checked boxes, selected options
    (their value, else their text) and textareas, as Django's test client takes them. Buttons are left
    out: the test adds the one it presses."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.data = form_id, False, {}
        self.textarea: str | None = None
        self.select: str | None = None
        self.option_text_for: str | None = None  # a selected <option> without a value: its text counts

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") != "checkbox":
            self.data[name] = attrs.get("value", "")
        elif tag == "input" and name and "checked" in attrs:
            self.data[name] = "on"
        elif tag == "textarea" and name:
            self.textarea, self.data[name] = name, ""
        elif tag == "select" and name:
            self.select = name
        elif tag == "option" and self.select and "selected" in attrs:
            if "value" in attrs:
                self.data[self.select] = attrs["value"]
            else:
                self.option_text_for = self.select

    def handle_data(self, data):
        if self.textarea:
            self.data[self.textarea] += data
        elif self.option_text_for:
            self.data[self.option_text_for] = data.strip()
            self.option_text_for = None

    def handle_endtag(self, tag):
        if tag == "textarea":
            self.textarea = None
        elif tag == "select":
            self.select = None
        elif tag == "form":
            self.inside = False


def posted_form(html: str, form_id: str = "scenario-form") -> dict[str, str]:
    """The fields of the form with `form_id` in `html`."""
    reader = FormReader(form_id)
    reader.feed(html)
    return reader.data
