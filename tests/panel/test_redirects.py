"""Where the panel sends a browser back after a form (the header's language switcher, an action
posted without JavaScript): `next` only when it is a page of this site; anything else, hostile
or malformed, goes to the page's own fallback, never off-site and never a 500 (core.panel.
local_url). Over real HTTP, as a browser posts the form."""

import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from .live import PanelBrowser

pytestmark = pytest.mark.live

# next -> where the browser is sent (from the switcher on the login page, its Referer: `{back}`)
NEXTS = [
    ("/receivers/", "/receivers/"),
    ("/receivers/north/?tab=sites#top", "/receivers/north/?tab=sites#top"),
    ("foo", "{back}"),  # read by redirect() as a URL name: NoReverseMatch, a 500
    ("home", "{back}"),  # a URL name indeed: it was followed
    ("receiver-list", "{back}"),
    ("\N{REPLACEMENT CHARACTER}" * 3, "{back}"),  # what a lone surrogate's bytes decode to
    ("//evil.example/", "{back}"),
    ("https://evil.example/", "{back}"),
    ("/\\evil.example", "{back}"),
    ("\\\\evil.example", "{back}"),
    (" //evil.example", "{back}"),
    ("http:evil.example", "{back}"),
    ("javascript:alert(1)", "{back}"),
    ("data:text/html,hi", "{back}"),
    ("http://{host}@evil.example/", "{back}"),
    ("http://evil.example\\@{host}/", "{back}"),
    ("http://[::1", "{back}"),
    ("/" + "a" * 5000, "{back}"),
    ("http://{host}/receivers/", "http://{host}/receivers/"),  # this host, absolute
    ("/\r\nSet-Cookie: stolen=1", "/%0D%0ASet-Cookie:%20stolen=1"),  # no header of its own
]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def post_form(base_url: str, opener, page: str, action: str, data: dict):
    """`action` posted as `page`'s form is (its CSRF token, its Referer)."""
    html = opener.open(base_url + page, timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **data}).encode()
    request = urllib.request.Request(base_url + action, data=body, headers={"Referer": base_url + page})
    try:
        answer = opener.open(request, timeout=30)
    except urllib.error.HTTPError as error:
        answer = error
    return answer.status, answer.headers.get("Location")


@pytest.mark.parametrize(("next_", "location"), NEXTS)
def test_the_language_switcher_goes_back_only_to_a_page_of_this_site(live_server, plain_http, next_, location):
    host = live_server.url.removeprefix("http://")
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(), NoRedirect)

    status, sent_to = post_form(live_server.url, opener, "/login/", "/language/",
                                {"language": "ru", "next": next_.format(host=host)})

    assert (status, sent_to) == (302, location.format(host=host, back=f"{live_server.url}/login/"))


def test_without_a_usable_next_nor_referer_the_switcher_goes_home(live_server, plain_http):
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(), NoRedirect)
    html = opener.open(live_server.url + "/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "language": "en", "next": "foo"}).encode()
    # A Referer of another site: CSRF lets a plain-http post through, the redirect does not follow it.
    request = urllib.request.Request(live_server.url + "/language/", data=body,
                                     headers={"Referer": "http://evil.example/"})
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(request, timeout=30)

    assert (answer.value.code, answer.value.headers["Location"]) == (302, "/")


@pytest.mark.parametrize("next_", ["foo", "//evil.example/", "https://evil.example/"])
def test_an_action_posted_without_javascript_goes_back_only_to_a_page_of_this_site(example, live_server,
                                                                                   plain_http, manager, next_):
    browser = PanelBrowser(live_server.url).sign_in(manager.username)
    page = "/receivers/north/software-update/nord-gsm/"

    status, sent_to = post_form(live_server.url, browser.opener, page, page + "expected-offline/",
                                {"expected_offline_seconds": "240", "next": next_})

    assert (status, sent_to) == (302, page)
    example.nord.refresh_from_db()
    assert example.nord.expected_offline_seconds == 240
