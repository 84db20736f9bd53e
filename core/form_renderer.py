"""The panel's form renderer (settings.FORM_RENDERER): Django's own, but for the plain `<input>`
widgets, which it says in Python, character for character as Django's templates say them.

Why: each field's widget is a template render (`input.html`, which includes `attrs.html` and
loops over the attributes) of 0.3-0.5 ms; the device type page renders its dialogs' forms on
every load (five inputs of the rollout options, the site number, the cancel form: 4-5 ms of a
page whose goal is 100 ms at 100,000 sites, bench `find`). Selects, textareas, radio lists and
the admin's own widgets keep Django's templates.

What Django's templates say (django/forms/templates/django/forms/widgets/):
`input.html` is `<input type="{{ widget.type }}" name="{{ widget.name }}"` then, unless the
value is None, ` value="{{ widget.value|stringformat:'s' }}"`, then `attrs.html`: for each
attribute not False, ` name`, and unless it is True, `="{{ value|stringformat:'s' }}"`; every
value escaped unless already safe. The text inputs, number, time, checkbox and the rest below
are that template included as is. tests/test_form_renderer.py renders every widget of the
project's forms both ways.
"""

import html

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData

# Django's widget templates that are `input.html` and nothing else.
INPUTS = frozenset(f"django/forms/widgets/{name}.html" for name in (
    "input", "text", "number", "email", "url", "password", "hidden", "date", "datetime", "time", "checkbox",
    "search", "tel", "color"))


def _formatted(value) -> str:
    """`{{ value|stringformat:'s' }}`: the value's text, escaped unless the value was safe."""
    if isinstance(value, tuple):
        value = str(value)  # as the filter does: "%s" of a tuple would unpack it
    text = "%s" % value  # noqa: UP031 (the filter's own words)
    return text if isinstance(value, SafeData) else html.escape(text)


def input_html(widget: dict) -> str:
    """The `<input>` Django's `input.html` renders for the widget context `widget`."""
    parts = ['<input type="', conditional_escape(widget["type"]), '" name="', conditional_escape(widget["name"]), '"']
    if widget["value"] is not None:
        parts += [' value="', _formatted(widget["value"]), '"']
    for name, value in widget["attrs"].items():
        if value is not False:
            parts += [" ", conditional_escape(name)]
            if value is not True:
                parts += ['="', _formatted(value), '"']
    parts.append(">")
    return "".join(parts)


class PanelFormRenderer(DjangoTemplates):
    def render(self, template_name, context, request=None):
        if template_name in INPUTS:
            return input_html(context["widget"])
        return super().render(template_name, context, request=request)
