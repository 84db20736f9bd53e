"""Login is required everywhere; a viewer can read every page; the navigation knows the user."""

from urllib.parse import urlencode

import pytest
from django.test import Client

from .conftest import operator, signed_in

pytestmark = pytest.mark.django_db


def pages(example, job_id):
    code = example.receiver.code
    return [
        "/receivers/",
        f"/receivers/{code}/software-update/",
        f"/receivers/{code}/sites/",
        f"/receivers/{code}/sites/?badge=red&q=121",
        example.page,
        example.page + "?badge=yellow",
        example.page + "rollouts/",
        f"/receivers/{code}/sites/1213/",
        f"/receivers/{code}/sites/1201/",
        "/releases/",
    ]


def test_anonymous_users_are_sent_to_the_login_page_from_every_page(example):
    client = Client()
    for url in pages(example, example.jobs[1211].pk) + [
        "/",
        example.page + "queue/",
        example.page + "update-all/",
        f"/receivers/{example.receiver.code}/update-jobs/cancel/?job={example.jobs[1211].pk}",
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url


def test_anonymous_posts_change_nothing_and_go_to_login(example):
    response = Client().post(example.page + "queue/", {"site_number": 1220})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not example.device(1220).update_jobs.exists()


def test_every_page_renders_for_a_viewer(example, as_viewer):
    for url in pages(example, example.jobs[1211].pk):
        response = as_viewer.get(url)
        assert response.status_code == 200, url
        assert b"<html" in response.content, url


def test_the_root_leads_to_the_receivers(as_viewer):
    response = as_viewer.get("/")
    assert response.status_code == 302 and response["Location"] == "/receivers/"


def test_login_page_signs_an_operator_in_and_logout_signs_out(viewer):
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200 and b'data-testid="login-form"' in page.content
    response = client.post("/login/", {"username": "vera", "password": "correct horse battery",
                                       "next": "/releases/"})
    assert response.status_code == 302 and response["Location"] == "/releases/"
    assert client.get("/receivers/").status_code == 200
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/receivers/").status_code == 302


def test_wrong_password_is_refused_with_a_message(viewer):
    response = Client().post("/login/", {"username": "vera", "password": "nope"})
    assert response.status_code == 200
    assert b'data-testid="login-error"' in response.content


def test_a_signed_in_user_without_a_group_is_refused_in_words(example):
    client = signed_in(operator(None, username="nobody"))
    response = client.get(example.page)
    assert response.status_code == 403
    assert b"Your account may not" in response.content


def test_navigation_shows_admin_only_to_staff(example, as_viewer):
    page = as_viewer.get("/receivers/").content
    assert b'data-testid="nav-receivers"' in page and b'data-testid="nav-releases"' in page
    assert b'data-testid="nav-admin"' not in page
    assert b"vera" in page  # the user menu
    staff = signed_in(operator(None, username="root", is_staff=True, is_superuser=True))
    assert b'data-testid="nav-admin"' in staff.get("/receivers/").content


def test_unknown_receiver_device_type_or_site_is_404(example, as_viewer):
    code = example.receiver.code
    for url in ["/receivers/nowhere/software-update/", f"/receivers/{code}/software-update/no-type/",
                f"/receivers/{code}/sites/999999/"]:
        assert as_viewer.get(url).status_code == 404, url


def test_a_live_region_polling_after_logout_sends_the_page_to_login(example):
    response = Client().get(example.page, HTTP_HX_REQUEST="true",
                            HTTP_HX_CURRENT_URL=f"http://testserver{example.page}?badge=red")
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/login/?" + urlencode({"next": f"{example.page}?badge=red"})
    assert b"login" not in response.content
