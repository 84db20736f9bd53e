"""The admin's autocomplete (`/admin/autocomplete/`), asked over real HTTP by a signed-in
superuser with every app, model and field name there is (forward and reverse relations,
plain fields, names that do not exist) and odd search terms: an answer for the relations its
forms use, a refusal (403) for the rest, never a 500 (Django's own failed on a reverse
relation: core.admin_support.ForwardRelationAutocomplete)."""

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.apps import apps

from .conftest import operator

pytestmark = pytest.mark.live
TERMS = ["", "12", "abc", "9" * 25, "%_="]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def admin_browser(example, live_server, plain_http):
    """A superuser signed in through the admin's login form."""
    operator(None, username="root", is_staff=True, is_superuser=True)
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                         NoRedirect)
    page = opener.open(live_server.url + "/admin/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": "root",
                                   "password": "correct horse battery", "next": "/admin/"}).encode()
    with pytest.raises(urllib.error.HTTPError) as signed_in:
        opener.open(urllib.request.Request(live_server.url + "/admin/login/", data=form,
                                           headers={"Referer": live_server.url + "/admin/login/"}), timeout=30)
    assert signed_in.value.code == 302

    def ask(**params) -> tuple[int, bytes]:
        url = f"{live_server.url}/admin/autocomplete/?{urllib.parse.urlencode(params)}"
        try:
            with opener.open(url, timeout=30) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    return ask


def every_field():
    for model in apps.get_models():
        for field in model._meta.get_fields(include_hidden=True):
            yield model._meta.app_label, model._meta.model_name, field.name, field


def test_the_autocomplete_answers_every_field_name_without_a_server_error(admin_browser):
    answers = {}
    for app_label, model_name, field_name, field in every_field():
        for term in TERMS if field.is_relation else [""]:
            status, _body = admin_browser(app_label=app_label, model_name=model_name, field_name=field_name,
                                          term=term)
            answers[(app_label, model_name, field_name, term)] = status
    server_errors = {key: status for key, status in answers.items() if status >= 500}
    assert server_errors == {}
    # The reverse relations Django's own view failed on: refused like any odd request.
    for reverse in [("receivers", "receiver", "sites"), ("sites", "site", "device"),
                    ("auth", "group", "user"), ("firmware_updates", "rollout", "jobs")]:
        assert answers[(*reverse, "")] == 403, reverse


def test_the_autocomplete_the_admin_forms_use_still_answers(admin_browser):
    status, body = admin_browser(app_label="sites", model_name="device", field_name="site", term="121")

    assert status == 200
    sites = json.loads(body)["results"]
    assert sites and all("121" in site["text"] for site in sites)
    assert admin_browser(app_label="sites", model_name="site", field_name="receiver", term="nor")[0] == 200


@pytest.mark.parametrize("params", [
    {}, {"app_label": "sites"}, {"app_label": "sites", "model_name": "device"},
    {"app_label": "nope", "model_name": "device", "field_name": "site"},
    {"app_label": "sites", "model_name": "nope", "field_name": "site"},
    {"app_label": "sites.device", "model_name": "", "field_name": "site"},
    {"app_label": "sites", "model_name": "device", "field_name": "nope"},
    {"app_label": "sites", "model_name": "device", "field_name": "serial"},
])
def test_odd_autocomplete_requests_are_refused(admin_browser, params):
    assert admin_browser(**params)[0] == 403
