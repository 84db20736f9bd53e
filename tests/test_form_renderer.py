"""The panel's form renderer (core/form_renderer.py) says the plain `<input>` widgets in Python:
every field of every form an operator meets, in the panel and in the admin, renders exactly as
Django's own templates render it, empty, filled, and filled with what needs escaping."""

import datetime

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth.forms import AuthenticationForm
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.test import RequestFactory
from django.utils.safestring import mark_safe

from core.form_renderer import INPUTS, PanelFormRenderer
from core.forms import PreferencesForm
from firmware_updates import forms as update_forms
from firmware_updates.views.releases import ReleaseNotesForm

DJANGO, PANEL = DjangoTemplates(), PanelFormRenderer()
TRICKY = 'Fjord & "Sons" <b>\'s'


def panel_forms() -> list[type[forms.BaseForm]]:
    found = [PreferencesForm, ReleaseNotesForm, AuthenticationForm]
    found += [value for value in vars(update_forms).values()
              if isinstance(value, type) and issubclass(value, forms.BaseForm) and value.__module__ == update_forms.__name__]
    return found


def both(form_class, **kwargs) -> tuple[forms.BaseForm, forms.BaseForm]:
    return form_class(renderer=DJANGO, **kwargs), form_class(renderer=PANEL, **kwargs)


def assert_same(django_form, panel_form):
    for name in django_form.fields:
        assert str(panel_form[name]) == str(django_form[name]), name
    assert panel_form.as_div() == django_form.as_div()


def test_the_renderer_is_the_panels_and_its_templates_are_djangos_own():
    assert isinstance(get_default_renderer(), PanelFormRenderer)
    for name in INPUTS:  # no app overrides one: what is said in Python is what Django's says
        assert "django/forms/templates" in str(PANEL.get_template(name).origin.name), name


@pytest.mark.parametrize("form_class", panel_forms(), ids=lambda c: c.__name__)
def test_every_panel_form_renders_as_djangos_templates_render_it(form_class, db):
    kwargs = {"request": None} if form_class is AuthenticationForm else {}
    assert_same(*both(form_class, **kwargs))
    data = {name: TRICKY for name in form_class.base_fields}
    django_form, panel_form = both(form_class, data=data, **kwargs)
    django_form.is_valid(), panel_form.is_valid()
    assert_same(django_form, panel_form)


def test_every_admin_form_renders_as_djangos_templates_render_it(db, django_user_model):
    request = RequestFactory().get("/admin/")
    request.user = django_user_model.objects.create_superuser("root", password="x")
    checked = 0
    for model_admin in admin.site._registry.values():
        if not model_admin.has_add_permission(request):
            continue
        form_class = model_admin.get_form(request)
        assert_same(*both(form_class))
        checked += 1
    assert checked > 3


@pytest.mark.parametrize("widget, value", [
    (forms.TextInput(attrs={"placeholder": TRICKY, "autofocus": True, "disabled": False, "data-n": 3}), TRICKY),
    (forms.TextInput(), None),
    (forms.TextInput(), ""),
    (forms.TextInput(), mark_safe("<i>safe</i>")),
    (forms.TextInput(attrs={"title": mark_safe("a &amp; b")}), 0),
    (forms.NumberInput(attrs={"min": 0, "step": 0.5}), 12),
    (forms.TimeInput(format="%H:%M", attrs={"type": "time"}), datetime.time(2, 30)),
    (forms.DateInput(), datetime.date(2026, 12, 7)),
    (forms.CheckboxInput(), True),
    (forms.CheckboxInput(), False),
    (forms.HiddenInput(), ("a", "b")),
    (forms.PasswordInput(render_value=False), "secret"),
    (forms.EmailInput(attrs={"required": True}), "ops@example.org"),
    (forms.Select(choices=[("1", TRICKY)]), "1"),
])
def test_each_widget_says_what_djangos_template_says(widget, value):
    assert widget.render("field & <name>", value, renderer=PANEL) == widget.render("field & <name>", value,
                                                                                   renderer=DJANGO)
