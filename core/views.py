"""The operator's own settings: the header's language switcher and the preferences page."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .forms import PreferencesForm
from .panel import local_url
from .preferences import LANGUAGE_CODES, preferences_of, preferences_save


def _back(request, fallback: str = "/"):
    """Back where the switcher was used: `next`, else the Referer, if it is ours
    (core.panel.local_url), else `fallback`."""
    target = local_url(request, request.POST.get("next")) or local_url(request, request.META.get("HTTP_REFERER"))
    return HttpResponseRedirect(target or fallback)


def _language_cookie(response, language: str):
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE,
                        path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
                        secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                        samesite=settings.LANGUAGE_COOKIE_SAMESITE)
    return response


@require_POST
def language_set(request):
    """The header's switcher: this browser's language (a cookie) and, signed in, the
    operator's (their preferences), so it follows them to another browser."""
    language = request.POST.get("language", "")
    response = _back(request)
    if language not in LANGUAGE_CODES:
        return response
    if request.user.is_authenticated:
        preferences_save(request=request, language=language)
    return _language_cookie(response, language)


@login_required
def preferences(request):
    prefs = preferences_of(request.user)
    form = PreferencesForm(request.POST or None,
                           initial={"language": prefs.language, "time_zone": prefs.time_zone})
    if request.method == "POST" and form.is_valid():
        language = form.cleaned_data["language"]
        preferences_save(request=request, language=language, time_zone=form.cleaned_data["time_zone"])
        # The confirmation in the language just chosen.
        with translation.override(language or translation.get_language_from_request(request)):
            messages.success(request, _("Your preferences are saved."))
        response = redirect("preferences")
        if not language:  # the browser's again: the switcher's cookie would outlive the choice
            response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, path=settings.LANGUAGE_COOKIE_PATH,
                                   domain=settings.LANGUAGE_COOKIE_DOMAIN)
            return response
        return _language_cookie(response, language)
    return render(request, "preferences.html", {"form": form})
