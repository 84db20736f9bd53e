"""The device protocol's short way through Django: first in MIDDLEWARE, it hands a DDI request
(`/{tenant}/controller/v1/...`) straight to its view, past the rest of the stack.

Panels poll every few minutes, so the DDI path is the bulk of the traffic. Everything after
this middleware exists for people with browsers (sessions, CSRF, logins, messages, htmx,
static files, framing and sniffing headers); a panel uses none of it: DDI views authenticate
the device themselves, are CSRF-exempt (devices are not browsers) and set their own headers.
Skipping the stack saved about a fifth of a poll's CPU (bench `ddi_poll`); the answers also
lose the browser-only headers (X-Frame-Options, nosniff, Referrer-Policy, COOP): 127 bytes
of a 320-byte poll answer, which GPRS panels no longer pay for.

Security still applies: Django's own SecurityMiddleware, built from the same settings as the
browsers' one, wraps the DDI view. Its HTTPS redirect (SECURE_SSL_REDIRECT, with
SECURE_REDIRECT_EXEMPT) answers a plain-http request with a 301 before the view runs; its
HSTS header (SECURE_HSTS_SECONDS) goes on https answers. Its browser headers (nosniff,
Referrer-Policy, Cross-Origin-Opener-Policy) are turned off here: with Django's defaults they
add 104 bytes to every device answer (measured on a poll, whose own Django headers are 51
bytes), which is why SecurityMiddleware is not simply put first in MIDDLEWARE. The wrapper
costs about 1.3 µs a request (measured with the redirect and HSTS off, as by default), some
0.2 % of the 0.5-0.7 ms of gunicorn CPU a poll takes in bench `ddi_poll`: its figures stand.
With HSTS on, each https answer carries ~45 bytes more; a panel's HTTP client may ignore the
header (libcurl keeps no HSTS cache unless told to), so it is mostly for the browsers.
Sessions, CSRF, authentication, messages, htmx and static files never run for a device:
tests/ddi/test_device_path.py pins which middleware does.

The URL is resolved against the DDI URLconf alone; the view is the same one the root
URLconf routes to (it includes these patterns under the "ddi" namespace, which `reverse`
keeps using). A path under that prefix that no DDI pattern takes goes the usual way.
"""

import re

from django.conf import settings
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, get_resolver
from django.utils import translation

from core.outages import database_guard

from . import urls

PREFIX = re.compile(r"^/[^/]+/controller/v1/")


class DeviceProtocolMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.resolver = get_resolver(urls)
        # The HTTPS redirect and HSTS, as for browsers; not the browser-only headers. A
        # database out of reach answers 503 + Retry-After, as it does past the stack
        # (core/outages.py; the stack's middleware never sees these requests).
        self.security = SecurityMiddleware(database_guard(self.view))
        self.security.content_type_nosniff = False
        self.security.referrer_policy = None
        self.security.cross_origin_opener_policy = None

    def __call__(self, request):
        if not PREFIX.match(request.path_info):
            return self.get_response(request)
        try:
            match = self.resolver.resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        # As CommonMiddleware did for every request: a Host not in ALLOWED_HOSTS is refused
        # (400) even when the answer builds no link from it.
        request.get_host()
        request.resolver_match = match
        return self.security(request)

    @staticmethod
    def view(request):
        # Devices speak the protocol in English, whatever a browser request on this thread
        # activated before (LocaleMiddleware, which a device request skips, leaves it set).
        translation.activate(settings.LANGUAGE_CODE)
        match = request.resolver_match
        return match.func(request, *match.args, **match.kwargs)
