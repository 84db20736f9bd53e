"""The panel over real HTTP (the live server), as a browser without JavaScript sees it: signed
in through the login form, its session cookie kept, answers read as they arrive."""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

from tests.factories import UserFactory  # noqa: F401 - its password is PASSWORD

PASSWORD = "correct horse battery"  # tests.factories.UserFactory's


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class PanelBrowser:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect)

    def sign_in(self, username: str, password: str = PASSWORD) -> "PanelBrowser":
        page = self.get("/login/").read()
        csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
        form = urllib.parse.urlencode({"csrfmiddlewaretoken": csrf, "username": username, "password": password})
        try:
            self.opener.open(urllib.request.Request(self.base_url + "/login/", data=form.encode(),
                                                    headers={"Referer": self.base_url + "/login/"}), timeout=30)
        except urllib.error.HTTPError as redirect:  # signed in: sent on to the panel
            assert redirect.code == 302, redirect.read()
        else:
            raise AssertionError("the login form did not sign in")
        return self

    def get(self, path: str, params: dict | None = None, headers: dict | None = None):
        """The response, unread (its headers, then its body as it streams)."""
        url = self.base_url + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        try:
            return self.opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30)
        except urllib.error.HTTPError as error:
            return error

    def html(self, path: str, params: dict | None = None) -> str:
        response = self.get(path, params)
        assert response.status == 200, (response.status, path, params)
        return response.read().decode()
