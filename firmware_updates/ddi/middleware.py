"""The device protocol's short way through Django: first in MIDDLEWARE, it hands a DDI request
(`/{tenant}/controller/v1/...`) straight to its view, past the rest of the stack.

Panels poll every few minutes, so the DDI path is the bulk of the traffic. Everything after
this middleware exists for people with browsers (sessions, CSRF, logins, messages, htmx,
static files, framing and sniffing headers); a panel uses none of it: DDI views authenticate
the device themselves, are CSRF-exempt (devices are not browsers) and set their own headers.
Skipping the stack saved about a fifth of a poll's CPU (bench `ddi_poll`); the answers also
lose the browser-only headers (X-Frame-Options, nosniff, Referrer-Policy, COOP): 127 bytes
of a 320-byte poll answer, which GPRS panels no longer pay for.

The URL is resolved against the DDI URLconf alone; the view is the same one the root
URLconf routes to (it includes these patterns under the "ddi" namespace, which `reverse`
keeps using). A path under that prefix that no DDI pattern takes goes the usual way.
"""

import re

from django.urls import Resolver404, get_resolver

from . import urls

PREFIX = re.compile(r"^/[^/]+/controller/v1/")


class DeviceProtocolMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.resolver = get_resolver(urls)

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
        return match.func(request, *match.args, **match.kwargs)
