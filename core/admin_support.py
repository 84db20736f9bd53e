"""What the Django admins share: forms checked by the services' own rules, saves through them.

The admin is one more entry point: it saves through the same services as the panel and the
API, which also record the operator's action (core.audit). So it must not log those
additions and changes a second time, and a form shows a service's refusal on its field.
"""

from django import forms
from django.apps import apps
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    FieldDoesNotExist,
    PermissionDenied,
    ValidationError,
)


class AuditedByServices:
    """For a ModelAdmin whose additions and changes are services that record them (in their
    own words: no admin change message is composed either)."""

    def construct_change_message(self, request, form, formsets, add=False):
        return []

    def log_addition(self, request, obj, message):
        return None

    def log_change(self, request, obj, message):
        return None


def form_changes(form) -> dict:
    """The fields the operator changed, cleaned: what a service's `**changes` takes."""
    return {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}


class ServiceCheckedForm(forms.ModelForm):
    """A model form whose values are checked by a service's own rule (`service_check`) before
    the admin saves, so a refusal shows on its field rather than failing the save: the fields
    changed for an existing row, all of them for a new one."""

    def service_check(self, **values) -> None:
        raise NotImplementedError

    def clean(self):
        values = super().clean()
        try:
            self.service_check(**(form_changes(self) if self.instance.pk else values))
        except ValidationError as exc:
            errors = exc.error_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.error_list}
            for field, messages in errors.items():
                self.add_error(field if field in self.fields else None, messages)
        return values


class ForwardRelationAutocomplete(AutocompleteJsonView):
    """The admin's autocomplete (`/admin/autocomplete/`, securitycenter/urls.py), for the
    fields a form can hold: a relation of the model itself.

    Django's own checks the app, the model and the field, but takes a reverse relation
    (`model_name=receiver&field_name=sites`, `site&field_name=device`) as if it were one and
    fails on it (AttributeError, a 500). Such a request, which no admin page makes, is refused
    as Django refuses the other odd ones: 403.
    """

    def process_request(self, request):
        try:
            model = apps.get_model(request.GET["app_label"], request.GET["model_name"])
            field = model._meta.get_field(request.GET["field_name"])
        except (KeyError, LookupError, ValueError, FieldDoesNotExist) as exc:
            raise PermissionDenied from exc
        if not (field.is_relation and field.concrete):
            raise PermissionDenied
        return super().process_request(request)
