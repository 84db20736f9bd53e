"""Issue 10: panels a receiver's gateway registered without a site, listed on the receiver
("Panels without a site") and given a site there by the API's own service."""

import pytest
from django.test import Client
from django.utils import timezone

from sites.models import Device, Site
from sites.services import device_register_via_gateway
from tests.factories import ReceiverFactory

from .conftest import signed_in

pytestmark = pytest.mark.django_db


def _registered(receiver, serial, **fields):
    device = device_register_via_gateway(receiver=receiver, serial=serial)
    Device.objects.filter(pk=device.pk).update(**fields)
    return device


@pytest.fixture
def stray(example):
    """Two panels of north's gateway on no site; one of another receiver's."""
    now = timezone.now()
    a = _registered(example.receiver, "NG900001", device_type=example.nord, firmware_version="5.30",
                    hardware_revision="2.1", last_seen=now)
    b = _registered(example.receiver, "NG900002")
    south = ReceiverFactory(code="south", name="South")
    c = _registered(south, "NG900003")
    return a, b, c


def url(code="north"):
    return f"/receivers/{code}/panels-without-site/"


def give_url(serial, code="north"):
    return f"/receivers/{code}/panels-without-site/{serial}/give-site/"


def test_the_tab_lists_the_receivers_panels_without_a_site(example, stray, as_viewer):
    html = as_viewer.get(url()).content.decode()
    assert "NG900001" in html and "NG900002" in html
    assert "NG900003" not in html  # another receiver's
    assert "NG001201" not in html  # on a site
    assert "Nord GSM" in html and "5.30" in html
    assert 'data-testid="tab-unassigned"' in html
    assert "Give a site" not in html  # a viewer may not


def test_a_manager_is_offered_give_a_site(example, stray, as_manager):
    html = as_manager.get(url()).content.decode()
    assert html.count('data-testid="give-site"') == 2


def test_the_list_takes_the_same_queries_for_a_page_of_many(example, as_viewer, django_assert_max_num_queries):
    for n in range(60):
        _registered(example.receiver, f"NG8{n:05d}")
    with django_assert_max_num_queries(8):  # session, user, groups/permissions, receiver, count, page
        response = as_viewer.get(url())
    assert response.content.decode().count('data-testid="unassigned-row"') == 50
    assert as_viewer.get(url() + "?page=2").content.decode().count('data-testid="unassigned-row"') == 10


def test_giving_a_site_attaches_the_panel_through_the_sites_service(example, stray, as_manager, manager):
    assert as_manager.get(give_url("NG900001")).status_code == 200
    response = as_manager.post(give_url("NG900001"), {"site_number": "3001", "name": "Bakery"})
    assert response.status_code == 302
    assert response["Location"] == "/receivers/north/sites/3001/"
    device = Device.objects.get(serial="NG900001")
    site = Site.objects.get(receiver=example.receiver, number=3001)
    assert device.site == site and site.name == "Bakery"
    assert device.token_hash  # a TargetToken of its own, as the API issues
    assert (device.device_type, device.firmware_version, device.hardware_revision) == (example.nord, "5.30", "2.1")
    assert "Panel NG900001 is now the panel of site 3001." in as_manager.get(response["Location"]).content.decode()
    assert "NG900001" not in as_manager.get(url()).content.decode()


def test_a_panel_without_a_reported_type_can_be_given_a_site(example, stray, as_manager):
    assert as_manager.post(give_url("NG900002"), {"site_number": "3002"}).status_code == 302
    assert Device.objects.get(serial="NG900002").site.number == 3002


def test_the_services_refusal_is_shown_in_the_form(example, stray, as_manager):
    response = as_manager.post(give_url("NG900001"), {"site_number": "1201"})
    assert response.status_code == 200
    assert "Site 1201 already exists on receiver north." in response.content.decode()
    assert Device.objects.get(serial="NG900001").site is None


def test_the_forms_own_check(example, stray, as_manager):
    response = as_manager.post(give_url("NG900001"), {"site_number": "abc"})
    assert response.status_code == 200 and "A site number is digits only." in response.content.decode()


@pytest.mark.parametrize("serial, code", [("NG900003", "north"), ("NG001201", "north"), ("NG900001", "south")])
def test_only_the_receivers_own_panels_without_a_site(example, stray, as_manager, serial, code):
    assert as_manager.post(give_url(serial, code), {"site_number": "3003"}).status_code == 404


@pytest.mark.parametrize("who", ["as_viewer", "as_engineer"])
def test_operators_who_may_not_create_sites_are_refused(example, stray, who, request):
    client = request.getfixturevalue(who)
    assert client.get(give_url("NG900001")).status_code == 403
    assert client.post(give_url("NG900001"), {"site_number": "3001"}).status_code == 403
    assert Device.objects.get(serial="NG900001").site is None


def test_a_post_without_the_csrf_token_is_refused(example, stray, manager):
    client = signed_in(manager, enforce_csrf_checks=True)
    assert client.post(give_url("NG900001"), {"site_number": "3001"}).status_code == 403
    assert Device.objects.get(serial="NG900001").site is None


def test_signed_out_goes_to_the_login_page(example, stray):
    response = Client().get(url())
    assert response.status_code == 302 and response["Location"].startswith("/login/")
