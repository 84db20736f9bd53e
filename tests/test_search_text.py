"""What the panel's list reads of a site on each device's row (sites/search.py): the words its
search finds and the site number and name its sorts read, kept by the database's triggers, so
every way of writing a serial, a site's number, name or address, or which site a panel is at,
is found by the next search and sorted by the next sort; a copy gone wrong is found and
written again."""

import logging

import pytest
from django.apps import apps
from django.db import connection
from django.db.models.signals import post_migrate

from firmware_updates.selectors import SiteFilters, device_type_site_ids
from sites import search
from sites.models import Device, Site
from tests.factories import (
    DeviceFactory,
    DeviceTypeFactory,
    ReceiverFactory,
    ReleaseFactory,
    SiteFactory,
)

pytestmark = pytest.mark.django_db


def found(receiver, device_type, q: str, sort: str = "site") -> list[int]:
    """The site numbers the device type page's list shows for the search `q`, in its order."""
    ids = list(device_type_site_ids(receiver=receiver, device_type=device_type, filters=SiteFilters(q=q, sort=sort)))
    numbers = dict(Device.objects.filter(pk__in=ids).values_list("pk", "site__number"))
    return [numbers[pk] for pk in ids]


@pytest.fixture
def fleet():
    receiver = ReceiverFactory()
    gsm = DeviceTypeFactory(code="nord-gsm")
    ReleaseFactory(device_type=gsm, version="5.40")
    sites = {n: SiteFactory(receiver=receiver, number=n, name=f"Site {n}", address="Birch Ave 1") for n in (11, 12, 13)}
    devices = {n: DeviceFactory(site=site, receiver=receiver, device_type=gsm, serial=f"NG{n:06d}")
               for n, site in sites.items()}
    return receiver, gsm, sites, devices


def test_every_way_of_writing_is_found_by_the_next_search(fleet):
    receiver, gsm, sites, devices = fleet
    assert found(receiver, gsm, "birch") == [11, 12, 13]

    sites[11].name = "Fjord Bakery"
    sites[11].save()  # the admin's way
    Site.objects.filter(pk=sites[12].pk).update(address="Fjord Way 9")  # a queryset's
    assert found(receiver, gsm, "fjord") == [11, 12]

    with connection.cursor() as cursor:  # raw SQL, as an import might
        cursor.execute(f"UPDATE {Site._meta.db_table} SET name = 'Old Market Hall' WHERE id = %s", [sites[13].pk])
    assert found(receiver, gsm, "market") == [13]

    device = Device.objects.get(pk=devices[13].pk)
    device.serial = "NG777777"
    device.save()
    assert found(receiver, gsm, "NG777") == [13]
    assert found(receiver, gsm, "NG000013") == []

    # A panel moved to a new site: found by that site's words, no longer by the old one's.
    moved = SiteFactory(receiver=receiver, number=14, name="Harbour Depot", address="Quay 2")
    Device.objects.filter(pk=devices[13].pk).update(site=moved)
    assert found(receiver, gsm, "harbour") == [14]
    assert found(receiver, gsm, "market") == []

    # A new panel, made in bulk (no save()), is found too.
    fresh = SiteFactory(receiver=receiver, number=15, name="Pine Kiosk")
    Device.objects.bulk_create([Device(serial="NG000015", receiver=receiver, device_type=gsm, site=fresh)])
    assert found(receiver, gsm, "kiosk") == [15]
    assert search.stale() == []
    # The sorts read the same copies: by name (Fjord, Harbour, Pine, Site 12), by number.
    assert found(receiver, gsm, "", sort="name") == [11, 14, 15, 12]
    assert found(receiver, gsm, "", sort="-site") == [15, 14, 12, 11]


def test_the_sorts_follow_a_site_renamed_or_renumbered(fleet):
    receiver, gsm, sites, devices = fleet
    assert found(receiver, gsm, "", sort="name") == [11, 12, 13]
    Site.objects.filter(pk=sites[13].pk).update(name="Alder Farm")
    assert found(receiver, gsm, "", sort="name") == [13, 11, 12]
    Site.objects.filter(pk=sites[11].pk).update(number=99)  # renumbered
    assert found(receiver, gsm, "") == [12, 13, 99]
    assert found(receiver, gsm, "9") == [99]  # a number's start, from the row's copy
    assert search.stale() == []


def test_a_deleted_site_leaves_its_panel_found_by_serial_only(fleet):
    receiver, gsm, sites, devices = fleet
    sites[12].delete()
    device = Device.objects.get(pk=devices[12].pk)
    assert (device.search_text, device.site_number, device.site_name) == ("NG000012", None, "")
    assert found(receiver, gsm, "") == [11, 13]


def test_a_save_of_an_older_copy_does_not_put_back_old_words(fleet):
    """A panel read before its site was renamed, then saved whole (the admin, a configData
    report): its row keeps the new words."""
    receiver, gsm, sites, devices = fleet
    earlier = Device.objects.get(pk=devices[11].pk)
    Site.objects.filter(pk=sites[11].pk).update(name="Fjord Bakery")
    earlier.hardware_revision = "2.2"
    earlier.save()
    assert found(receiver, gsm, "fjord") == [11]


def test_a_text_gone_wrong_is_found_and_written_again(fleet, caplog):
    receiver, gsm, sites, devices = fleet
    with connection.cursor() as cursor:
        for table, name in search.TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}" + (f" ON {table}" if connection.vendor == "postgresql" else ""))
    Site.objects.filter(pk=sites[11].pk).update(name="Fjord Bakery")
    Site.objects.filter(pk=sites[12].pk).update(number=10)
    assert search.stale() == ["NG000011", "NG000012"]
    assert found(receiver, gsm, "fjord") == []
    assert found(receiver, gsm, "") == [11, 10, 13]  # number 10 now, still in 12's place
    # After every migrate: the triggers made again, and every text that differs written.
    sites_app = apps.get_app_config("sites")
    with caplog.at_level(logging.ERROR, logger="sites.search"):
        post_migrate.send(sender=sites_app, app_config=sites_app, verbosity=0, interactive=False, using="default",
                          plan=[], apps=apps)
    assert "the search text or site of 2 panels differed" in caplog.text
    assert found(receiver, gsm, "fjord") == [11]
    assert found(receiver, gsm, "") == [10, 11, 13]
    Site.objects.filter(pk=sites[12].pk).update(name="Fjord Pharmacy")
    assert found(receiver, gsm, "fjord") == [10, 11]
