"""Panel and admin forms. They check what the operator typed; the rules live in services."""

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from .models import UpdateJob


class QueueSiteForm(forms.Form):
    """"Update using site number..." (the canary)."""

    site_number = forms.IntegerField(
        label="Site number", min_value=1, max_value=2**31 - 1,
        error_messages={"required": "Enter the site number.", "invalid": "A site number is digits only.",
                        "min_value": "Site numbers start at 1.", "max_value": "No site has so large a number."},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "pattern": "[0-9]*",
                                      "data-testid": "queue-site-number", "autofocus": True}),
    )


class CancelUpdateForm(forms.Form):
    """"Cancel update...": names the job, so one confirmation dialog serves every row."""

    job = forms.ModelChoiceField(
        queryset=UpdateJob.objects.select_related("device__site", "device__receiver"),
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": "This update no longer exists.", "required": "No update was chosen."},
    )

    def __init__(self, *args, receiver=None, **kwargs):
        super().__init__(*args, **kwargs)
        if receiver is not None:
            self.fields["job"].queryset = self.fields["job"].queryset.filter(device__receiver=receiver)


class ReleaseUploadForm(forms.Form):
    """A vendor's SWUpdate archive; everything else is read from it by services.release_create."""

    archive = forms.FileField(
        label="Firmware archive (.swu)",
        help_text=f"An SWUpdate archive of up to {filesizeformat(settings.FIRMWARE_MAX_ARCHIVE_SIZE)}.",
        widget=forms.ClearableFileInput(attrs={"accept": ".swu", "data-testid": "release-archive"}),
    )
    description = forms.CharField(
        label="Description", required=False, max_length=500,
        help_text="Optional; the archive's own description is used when left empty.",
        widget=forms.TextInput(attrs={"data-testid": "release-description"}),
    )
