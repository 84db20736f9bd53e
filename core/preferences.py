"""An operator's language and time zone: chosen once, remembered, applied to every request.

- Language: the operator's choice (`OperatorPreferences.language`, set by the header's
  switcher or the preferences page) wins; else the switcher's cookie (an operator not signed
  in, the login page); else the browser's Accept-Language, which Django's LocaleMiddleware
  reads (also for the API: `detail` follows the request's language, `code` never changes).
- Time zone: the operator's choice, else the receiver's of the page (`receiver_zone_use`,
  called by every view of one receiver), else the server's TIME_ZONE. Templates show every
  time in it, with its abbreviation (securitycenter/formats/).

The choices are read from the database once, at sign-in, into the session, and written to
both when changed: a request reads the session it loads anyway, never a table.
"""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone, translation

from .models import OperatorPreferences
from .outages import DATABASE_ERRORS

LANGUAGE_KEY = "preferences.language"
ZONE_KEY = "preferences.time_zone"
LANGUAGE_CODES = {code for code, _name in settings.LANGUAGES}


def _session(request):
    return getattr(request, "session", None)


def chosen_zone(request) -> str:
    session = _session(request)
    return session.get(ZONE_KEY, "") if session is not None else ""


class PreferencesMiddleware:
    """After AuthenticationMiddleware: activates the operator's language and time zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = _session(request)
        try:
            language = session.get(LANGUAGE_KEY, "") if session is not None else ""
            zone = chosen_zone(request)
        except DATABASE_ERRORS:
            # Sessions live in the database: while it is away the view meets the same error
            # and answers 503 (core/outages.py); the request goes on in the browser's language.
            language = zone = ""
        if language in LANGUAGE_CODES:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        if zone:
            timezone.activate(ZoneInfo(zone))
        try:
            return self.get_response(request)
        finally:
            # Thread-local: the next request on this thread starts from the server's zone.
            timezone.deactivate()


def receiver_zone_use(request, receiver) -> None:
    """A page of one receiver shows its times in the receiver's zone unless the operator
    chose one."""
    if not chosen_zone(request) and receiver.time_zone:
        timezone.activate(ZoneInfo(receiver.time_zone))


def preferences_of(user) -> OperatorPreferences:
    return OperatorPreferences.objects.filter(user=user).first() or OperatorPreferences(user=user)


def preferences_save(*, request, language: str | None = None, time_zone: str | None = None) -> None:
    """Remember the signed-in operator's choice (None: leave as it is) in their preferences
    and their session; the caller sets the language cookie."""
    user = request.user
    prefs = preferences_of(user)
    if language is not None:
        prefs.language = language
    if time_zone is not None:
        prefs.time_zone = time_zone
    prefs.full_clean(exclude=["user"])
    prefs.save()
    preferences_to_session(request, prefs)


def preferences_to_session(request, prefs: OperatorPreferences) -> None:
    request.session[LANGUAGE_KEY] = prefs.language
    request.session[ZONE_KEY] = prefs.time_zone


def on_user_logged_in(sender, request, user, **kwargs):
    """Sign-in: the operator's choices into their new session (the one read per operator)."""
    if request is not None and _session(request) is not None:
        preferences_to_session(request, preferences_of(user))
