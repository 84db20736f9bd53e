"""Issue 10: a panel a gateway registered is given a site from the receiver's tab "Panels
without a site"; both pages pass axe-core's WCAG 2.1 AA checks at desktop and phone widths."""

import pytest
from playwright.sync_api import expect

from core.permissions import MANAGERS
from sites.models import Device
from sites.services import device_register_via_gateway

from .conftest import operator
from .ui import assert_accessible, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_a_manager_gives_a_gateway_registered_panel_a_site(page, example):
    device_register_via_gateway(receiver=example.receiver, serial="NG900001")
    sign_in(page, operator(MANAGERS, "maria"))
    page.goto(f"/receivers/{example.receiver.code}/sites/")
    page.get_by_test_id("tab-unassigned").click()
    row = page.locator('[data-testid="unassigned-row"][data-serial="NG900001"]')
    expect(row).to_be_visible()
    assert_accessible(page, "panels without a site")

    row.get_by_test_id("give-site").click()
    page.get_by_test_id("give-site-number").fill("1201")
    page.get_by_test_id("give-site-submit").click()
    expect(page.get_by_role("alert")).to_contain_text("Site 1201 already exists")
    assert_accessible(page, "give a site, refused")

    page.get_by_test_id("give-site-number").fill("3001")
    page.get_by_test_id("give-site-name").fill("Bakery")
    page.get_by_test_id("give-site-submit").click()
    expect(page).to_have_url(f"/receivers/{example.receiver.code}/sites/3001/")
    assert Device.objects.get(serial="NG900001").site.number == 3001
