"""Panel and admin forms. They check what the operator typed; the rules live in services."""

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from sites.models import EXPECTED_OFFLINE_MAX, EXPECTED_OFFLINE_MIN, RemoteUpdate

from .errors import ReleaseRejected
from .models import Release, Rollout, UpdateJob
from .services.releases import release_create
from .services.rollouts import WAVES_MAX, WAVES_NOT_CUMULATIVE, waves_cumulative


def site_number_field(testid: str) -> forms.IntegerField:
    """A site number as operators type it (the canary's, a new site's)."""
    return forms.IntegerField(
        label=_("Site number"), min_value=1, max_value=2**31 - 1,
        error_messages={"required": _("Enter the site number."), "invalid": _("A site number is digits only."),
                        "min_value": _("Site numbers start at 1."), "max_value": _("No site has so large a number.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "pattern": "[0-9]*",
                                      "data-testid": testid, "autofocus": True}),
    )


class QueueSiteForm(forms.Form):
    """"Update using site number..." (the canary)."""

    site_number = site_number_field("queue-site-number")


class ExpectedOfflineForm(forms.Form):
    """A device type's expected offline window after an install (services.device_type_update)."""

    expected_offline_seconds = forms.IntegerField(
        label=_("Expected offline (seconds)"), min_value=EXPECTED_OFFLINE_MIN, max_value=EXPECTED_OFFLINE_MAX,
        error_messages={"required": _("Enter the seconds."), "invalid": _("Seconds are a whole number."),
                        "min_value": _("At least %(limit_value)s seconds: the install alone may take 10."),
                        "max_value": _("At most %(limit_value)s seconds (a day).")},
        widget=forms.NumberInput(attrs={"data-testid": "expected-offline-seconds", "autofocus": True}),
    )


class CancelUpdateForm(forms.Form):
    """"Cancel update...": names the job, so one confirmation dialog serves every row."""

    job = forms.ModelChoiceField(
        queryset=UpdateJob.objects.select_related("device__site", "device__receiver"),
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": _("This update no longer exists."), "required": _("No update was chosen.")},
    )

    def __init__(self, *args, receiver=None, **kwargs):
        super().__init__(*args, **kwargs)
        if receiver is not None:
            self.fields["job"].queryset = self.fields["job"].queryset.filter(device__receiver=receiver)


class ApproveUpdateForm(CancelUpdateForm):
    """"Approve...": names the job held at a site that asks for approval."""


class RemoteUpdateForm(forms.Form):
    """The site page's consent to remote updates (sites.services.site_update checks it)."""

    remote_update = forms.ChoiceField(
        label=_("Remote update"), choices=RemoteUpdate.choices,
        widget=forms.Select(attrs={"data-testid": "remote-update-choice"}),
    )


def _default(name: str):
    return Rollout._meta.get_field(name).default


class RolloutOptionsForm(forms.Form):
    """"Update software at all sites": the rollout's options, every one optional. Posted
    empty (or not at all) it asks for the default waves and conditions: one click stays one
    click."""

    waves = forms.CharField(
        label=_("Waves"), required=False, max_length=200,
        help_text=_("Cumulative percentages of the sites, e.g. 5, 25, 100. Empty: a canary of 1 % "
                    "(1 to 20 sites), then 10 %, then the rest."),
        widget=forms.TextInput(attrs={"placeholder": "1, 10, 100", "autocomplete": "off",
                                      "data-testid": "option-waves"}),
    )
    approve_each_wave = forms.BooleanField(
        label=_("Ask for approval after each wave"), required=False,
        help_text=_("The rollout pauses once a wave succeeded, until someone resumes it."),
        widget=forms.CheckboxInput(attrs={"data-testid": "option-approve"}),
    )
    install_window_start = forms.TimeField(
        label=_("Install from"), required=False,
        widget=forms.TimeInput(format="%H:%M", attrs={"type": "time", "data-testid": "option-window-start"}),
    )
    install_window_end = forms.TimeField(
        label=_("Install until"), required=False,
        widget=forms.TimeInput(format="%H:%M", attrs={"type": "time", "data-testid": "option-window-end"}),
    )
    error_threshold_percent = forms.IntegerField(
        # xgettext:no-python-format
        label=_("Pause when more than this % of a wave's finished updates failed"), required=False,
        min_value=0, max_value=100, initial=_default("error_threshold_percent"),
        error_messages={"invalid": _("The error threshold is a whole percentage, 0 to 100."),
                        "min_value": _("The error threshold is a whole percentage, 0 to 100."),
                        "max_value": _("The error threshold is a whole percentage, 0 to 100.")},
        widget=forms.NumberInput(attrs={"data-testid": "option-error-percent"}),
    )
    error_threshold_min = forms.IntegerField(
        label=_("once at least this many of the wave have finished"), required=False,
        min_value=1, max_value=2**31 - 1, initial=_default("error_threshold_min"),
        error_messages={"invalid": _("The minimum is a whole number of updates, 1 or more."),
                        "min_value": _("The minimum is a whole number of updates, 1 or more."),
                        "max_value": _("The minimum is a whole number of updates, 1 or more.")},
        widget=forms.NumberInput(attrs={"data-testid": "option-error-min"}),
    )

    def clean_waves(self) -> list[float] | None:
        text = self.cleaned_data["waves"].replace(";", ",").replace("%", "")
        words = [w for w in text.replace(",", " ").split() if w]
        if not words:
            return None
        try:
            values = [float(w) for w in words]
        except ValueError:
            raise forms.ValidationError(_("Give the waves as numbers separated by commas, e.g. 5, 25, 100.")) from None
        if any(not 0 < v <= 100 for v in values):
            raise forms.ValidationError(_("Each wave is a percentage of the sites, more than 0 and at most 100."))
        if len(values) > WAVES_MAX:
            raise forms.ValidationError(_("At most {n} waves.").format(n=WAVES_MAX))
        if not waves_cumulative(values):
            raise forms.ValidationError(_("{rule} For example 5, 25, 100.").format(rule=gettext(WAVES_NOT_CUMULATIVE)))
        return values

    def clean(self):
        data = super().clean()
        start, end = data.get("install_window_start"), data.get("install_window_end")
        if self.has_error("install_window_start") or self.has_error("install_window_end"):
            return data
        if (start is None) != (end is None):
            self.add_error("install_window_end" if end is None else "install_window_start",
                           _("Give the install window both a start and an end time, or neither."))
        elif start is not None and start == end:
            self.add_error("install_window_end", _("An install window needs different start and end times."))
        return data

    def rollout_options(self) -> dict:
        """The options as services.rollout_start takes them; those left empty are not passed
        (the service's defaults apply)."""
        data = self.cleaned_data
        start, end = data["install_window_start"], data["install_window_end"]
        options = {"waves": data["waves"], "approve_each_wave": data["approve_each_wave"],
                   "install_window": (start, end) if start is not None else None}
        for name in ("error_threshold_percent", "error_threshold_min"):
            if data[name] is not None:
                options[name] = data[name]
        return options

    @property
    def options_open(self) -> bool:
        """The operator chose something (or got it wrong): the Options section shows it."""
        return self.is_bound and (bool(self.errors) or self.has_changed())


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class ReleaseUploadForm(forms.Form):
    """A vendor's SWUpdate archive; everything else is read from it by services.release_create."""

    archive = forms.FileField(
        label=_("Firmware archive (.swu)"),
        help_text=format_lazy(_("An SWUpdate archive of up to {size}."),
                              size=lazy(filesizeformat, str)(settings.FIRMWARE_MAX_ARCHIVE_SIZE)),
        widget=forms.ClearableFileInput(attrs={"accept": ".swu", "data-testid": "release-archive"}),
    )
    description = forms.CharField(
        label=_("Description"), required=False, max_length=500,
        help_text=_("Optional; the archive's own description is used when left empty."),
        widget=forms.TextInput(attrs={"data-testid": "release-description"}),
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, max_length=5000,
        help_text=_("Optional: what changed, what to watch for. Editable later."),
        widget=forms.Textarea(attrs={"rows": 3, "data-testid": "upload-notes"}),
    )
    deltas = forms.Field(
        label=_("Deltas (.swu), optional"), required=False,
        help_text=_("Delta archives of this release, each from one earlier version: panels on that version "
                    "download only what changed."),
        widget=MultipleFileInput(attrs={"accept": ".swu", "data-testid": "release-deltas"}),
    )

    def clean_deltas(self):
        return [upload for upload in self.files.getlist("deltas") if upload]

    def release_create(self, *, created_by) -> Release | None:
        """The valid form's release, through services.release_create: the panel's and the
        admin's one upload. None when the service refused the archive or a delta (it stored
        nothing): the reason is then on that field."""
        data = self.cleaned_data
        try:
            return release_create(archive=data["archive"], created_by=created_by, description=data["description"],
                                  notes=data["notes"], deltas=data["deltas"])
        except ReleaseRejected as exc:
            # The reason names what was wrong (hash, signature, device type, version, a
            # delta's base...).
            if exc.field == "deltas":
                self.add_error("deltas", gettext("The delta was refused: {reason}").format(reason=exc.reason))
            else:
                self.add_error("archive", gettext("The archive was refused: {reason}").format(reason=exc.reason))
            return None


class DeltaUploadForm(forms.Form):
    """A delta archive added to a stored release (services.release_delta_create checks it)."""

    archive = forms.FileField(
        label=_("Delta archive (.swu)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".swu", "data-testid": "delta-archive"}),
    )


class GiveSiteForm(forms.Form):
    """"Give a site...": a panel a receiver's gateway registered is attached to a new site."""

    site_number = site_number_field("give-site-number")
    name = forms.CharField(label=_("Site name (optional)"), required=False, max_length=200,
                           widget=forms.TextInput(attrs={"autocomplete": "off", "data-testid": "give-site-name"}))
