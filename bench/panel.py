"""Finding and fetching engineering panel pages as a logged-in operator (Django test Client).

The panel's URL names are its authors' to choose, so a page is found by looking through the
URL patterns (name or route mentioning what we look for, parameters we can fill) and kept
if it answers 200. `BENCH_RECEIVER_TAB_URL` / `BENCH_DEVICE_TYPE_PAGE_URL` (with
`{receiver}`, `{receiver_id}`, `{device_type}`, `{device_type_id}`) override the search.
"""

import os
import re

from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

PARAM = re.compile(r"<(?:(\w+):)?(\w+)>|\(\?P<(\w+)>")


def logged_in_client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _patterns(resolver=None, prefix="", namespace=""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield namespace + entry.name, prefix + str(entry.pattern), entry.lookup_str


def _kwargs(route: str, values: dict) -> dict | None:
    """Fill the route's parameters from `values` (code or id of receiver / device type)."""
    kwargs = {}
    for converter, name, regex_name in PARAM.findall(route):
        name = name or regex_name
        is_type = "type" in name
        key = ("device_type" if is_type else "receiver") + ("_id" if converter == "int" or
                                                           name in ("pk", "id") or name.endswith("_id")
                                                           or name.endswith("_pk") else "")
        if key not in values:
            return None
        kwargs[name] = values[key]
    return kwargs


def find_page(client: Client, *, words: tuple[str, ...], needs_type: bool, values: dict,
              env_var: str) -> tuple[str | None, str]:
    """(url, how it was found) of a page answering 200, or (None, why not)."""
    if template := os.environ.get(env_var):
        return template.format(**values), f"from {env_var}"
    tried = []
    for name, route, view in _patterns():
        haystack = f"{name} {route} {view}".lower()
        # Only the panel: not the admin, the management API or the device protocol.
        if view.startswith(("django.", "rest_framework", "drf_spectacular", "firmware_updates.ddi")) \
                or route.startswith(("api/", "admin/")) or "controller/" in route:
            continue
        if not any(w in haystack for w in words) or ("type" in route) != needs_type:
            continue
        kwargs = _kwargs(route, values)
        if kwargs is None or not kwargs:
            continue
        url = reverse(name, kwargs=kwargs)
        status = client.get(url).status_code
        tried.append(f"{url} ({status})")
        if status == 200:
            return url, f"URL name {name!r} (view {view})"
    return None, ("no panel URL found yet" if not tried else "no page answered 200: " + ", ".join(tried))
