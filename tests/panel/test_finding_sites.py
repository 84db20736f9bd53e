"""Finding sites on the device type page, over real HTTP: search by number, name, address and
serial; filters by badge, red reason, version and hardware; sortable columns; the red
breakdown that adds up, with its legend; the filtered list as CSV, streamed; the same filters
on the API's `sites/`.

The seed's example (tests/panel/conftest.py): 20 Nord GSM sites 1201-1220 on receiver north,
1201-1210 green, 1211-1214 yellow, 1215-1220 red (no IP channel, board 1.0, failed, cancelled,
never connected, not queued).
"""

import csv
import io
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from core.permissions import VIEWERS
from firmware_updates.models import Release
from firmware_updates.selectors import (
    SiteFilters,
    device_type_site_ids,
    device_type_sites,
    receiver_firmware_stats,
)
from sites.models import Site
from tests.factories import ReleaseFactory

from .conftest import operator, signed_in
from .html import find_all, text_of, texts_of
from .live import PanelBrowser

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

NAMES = {1203: ("Fjord Bakery", "Harbour St 4"), 1212: ("Fjord Pharmacy", "Mill Rd 12"),
         1205: ("Пекарня «Фьорд»", "ул. Мира, 5"), 1206: ("100%_Store", "Quay 1"),
         1217: ("Old Market Hall", "Fjord Way 9"), 1220: ("=cmd|' /C calc'!A0", "Birch Ave 1")}


@pytest.fixture
def browser(example, live_server, plain_http):
    for number, (name, address) in NAMES.items():
        Site.objects.filter(receiver=example.receiver, number=number).update(name=name, address=address)
    operator(VIEWERS, username="vera")
    return PanelBrowser(live_server.url).sign_in("vera")


def listed(html: str) -> list[int]:
    """The site numbers of the list, in its order."""
    return [int(row["attrs"]["data-site"]) for row in find_all(html, "site-row")]


@pytest.mark.parametrize(("q", "expected"), [
    ("1213", [1213]),  # a site number
    ("121", list(range(1210, 1220))),  # the start of one
    ("fjord", [1203, 1212, 1217]),  # a name (any case) or an address
    ("harbour", [1203]),  # an address
    ("NG001216", [1216]),  # the panel's serial
    ("ng00121", list(range(1210, 1220))),  # part of it
    ("fjord mill", [1212]),  # every word must be found
    ("фьорд", [1205]),  # a Russian name, in any case, on either database
    ("ПЕКАРНЯ", [1205]),
    ("мира,", [1205]),
    ("100%_", [1206]),  # LIKE's wildcards are the letters they are
    ("ng001216.", []),  # a word of several parts: the whole word, not its longest part
    ("-ng001216", []),
    ("ng00121-", []),
    ("00%_s", [1206]),
    ("0%S", []),
    ("Nowhere", []),
])
def test_search_finds_sites_by_number_name_address_and_serial(example, browser, q, expected):
    html = browser.html(example.page, {"q": q})
    assert listed(html) == expected
    assert text_of(html, "match-count") == f"{len(expected)} site{'' if len(expected) == 1 else 's'} match" + (
        "es." if len(expected) == 1 else ".")


@pytest.mark.parametrize(("params", "expected"), [
    ({"badge": "red"}, list(range(1215, 1221))),
    ({"reason": "no_ip_channel"}, [1215]),
    ({"reason": "hardware_not_supported"}, [1216]),
    ({"reason": "failed"}, [1217]),
    ({"reason": "cancelled"}, [1218]),
    ({"reason": "offline"}, [1219]),
    ({"reason": "not_queued"}, [1220]),
    ({"reason": "would_downgrade"}, []),
    ({"version": "5.40"}, list(range(1201, 1211))),
    ({"hardware": "1.0"}, [1216]),
    ({"version": "5.30", "badge": "yellow"}, [1211, 1212, 1213, 1214]),
    ({"q": "fjord", "version": "5.30"}, [1212, 1217]),
])
def test_filters_by_badge_reason_version_and_hardware(example, browser, params, expected):
    html = browser.html(example.page, params)
    assert listed(html) == expected
    # The filter is kept in the form, so the next search narrows the same list.
    for name, value in params.items():
        if name in ("reason", "version", "hardware"):
            [select] = find_all(html, f"filter-{name}")
            assert f'value="{value}" selected' in html


def test_the_same_filter_asked_again_reads_the_clock_again(example, browser):
    """The list's statement is compiled once for its filters (selectors.SiteIds) and the
    offline threshold bound at each read: a panel falling silent joins the offline filter on
    the next refresh, not when the server restarts."""
    from receivers.models import Receiver

    Receiver.objects.filter(pk=example.receiver.pk).update(poll_sleep=timedelta(hours=1))
    example.receiver.devices.filter(site__number=1220).update(last_seen=timezone.now() - timedelta(minutes=10))
    offline = {"reason": "offline"}
    assert listed(browser.html(example.page, offline)) == [1219]
    # 1219 connects; the receiver's panels poll every minute now: 1220, silent for ten
    # minutes, is offline (3 polls and 30 s of grace). One site still: the same page of ids.
    example.receiver.devices.filter(site__number=1219).update(last_seen=timezone.now())
    Receiver.objects.filter(pk=example.receiver.pk).update(poll_sleep=timedelta(minutes=1))
    assert listed(browser.html(example.page, offline)) == [1220]


def test_the_filters_offer_what_the_sites_report_with_counts(example, browser):
    html = browser.html(example.page)
    versions = texts_of(html, "filter-version")[0]
    assert "5.40 (10)" in versions and "5.30 (10)" in versions
    hardware = texts_of(html, "filter-hardware")[0]
    assert "2.1 (19)" in hardware and "1.0 (1)" in hardware
    reasons = texts_of(html, "filter-reason")[0]
    assert "Last update failed (1)" in reasons and "Would downgrade (0)" in reasons


def test_an_unknown_filter_is_said_not_silently_dropped(example, browser):
    html = browser.html(example.page, {"reason": "bogus", "sort": "sideways"})
    assert len(listed(html)) == 20
    problems = text_of(html, "filter-problems")
    assert "Unknown reason 'bogus'" in problems and "Unknown sort 'sideways'" in problems


def test_columns_sort_both_ways_and_say_which(example, browser):
    html = browser.html(example.page, {"sort": "-site"})
    assert listed(html) == list(range(1220, 1200, -1))
    [heading] = find_all(html, "sort-site")
    assert heading["attrs"]["href"] == example.page  # a second click: up again (the default order)
    [heading] = find_all(html, "sort-firmware")
    assert heading["attrs"]["href"] == example.page + "?sort=firmware"
    assert '<th aria-sort="descending"><a class="sort-link"' in html

    by_status = listed(browser.html(example.page, {"sort": "status"}))
    assert by_status == [*range(1215, 1221), *range(1211, 1215), *range(1201, 1211)]  # red, yellow, green

    by_name = listed(browser.html(example.page, {"sort": "name", "q": "fjord"}))
    assert by_name == [1203, 1212, 1217]  # Fjord Bakery, Fjord Pharmacy, Old Market Hall

    by_firmware = listed(browser.html(example.page, {"sort": "-firmware", "hardware": "2.1"}))
    assert by_firmware[:10] == list(range(1201, 1211))  # 5.40 before 5.30

    never_seen_first = listed(browser.html(example.page, {"sort": "seen"}))
    assert never_seen_first[0] == 1219


def test_the_rows_follow_the_clock_and_a_new_release(example, monkeypatch):
    """The rows' statement is compiled once per receiver, type and release for a web thread
    and executed with the clock (selectors._RowsStatement; on PostgreSQL prepared on the
    server, as this test's committed rows let it be): a panel unheard for longer than its
    receiver allows is offline on the next refresh, without a write anywhere; a new current
    release turns the green rows red. One thread (a test client), so one statement's cache."""
    client = signed_in(operator(VIEWERS, username="vera"))

    def badges(html) -> dict[int, tuple[str, str]]:
        return {int(row["attrs"]["data-site"]): (row["attrs"]["data-badge"], row["attrs"].get("data-reason", ""))
                for row in find_all(html, "site-row")}

    def page() -> str:
        response = client.get(example.page)
        assert response.status_code == 200
        return response.content.decode()

    before = badges(page())
    assert before[1201] == ("green", "") and before[1220] == ("red", "not_queued")
    later = timezone.now() + timedelta(days=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    after = badges(page())
    assert after[1220] == ("red", "offline") and after[1201] == ("green", "")
    Release.objects.filter(device_type=example.nord).update(is_current=False)
    ReleaseFactory(device_type=example.nord, version="5.50", hardware_revisions=["2.1", "2.2"])
    newer = badges(page())
    assert newer[1201] == ("red", "offline") and newer[1211][0] == "yellow"
    monkeypatch.undo()
    assert badges(page())[1201] == ("red", "not_queued")


def test_the_red_breakdown_adds_up_and_its_legend_lists_each_reason(example, browser):
    html = browser.html(example.page)
    red = int(text_of(html, "count-red"))
    parts = {name: int(text_of(html, f"count-{name}"))
             for name in ("not-eligible", "offline", "failed", "cancelled", "not-queued")}
    assert parts == {"not-eligible": 2, "offline": 1, "failed": 1, "cancelled": 1, "not-queued": 1}
    assert sum(parts.values()) == red == 6

    legend = find_all(html, "legend-item")
    counts = {item["attrs"]["data-reason"]: int(text) for item, text in zip(legend, texts_of(html, "legend-count"),
                                                                          strict=True)}
    assert counts == {"no_ip_channel": 1, "hardware_not_supported": 1, "offline": 1, "failed": 1, "cancelled": 1,
                      "not_queued": 1}
    assert sum(counts.values()) == red
    assert text_of(html, "red-legend").startswith("Why 6 sites are not planned")
    # Each line of the legend lists exactly the sites it counts.
    for link in find_all(html, "legend-link"):
        reason = link["attrs"]["href"].split("reason=")[1]
        assert len(listed(browser.html(link["attrs"]["href"]))) == counts[reason]


def test_the_filtered_list_downloads_as_csv_streamed(example, browser):
    response = browser.get(example.page + "sites.csv", {"q": "fjord", "sort": "-site"})
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="north-nord-gsm-sites-')
    assert "Content-Length" not in response.headers  # streamed, not built in memory first
    rows = list(csv.reader(io.StringIO(response.read().decode("utf-8-sig"))))
    assert rows[0][:4] == ["Site", "Name", "Address", "Serial"]
    assert [row[0] for row in rows[1:]] == ["1217", "1212", "1203"]
    by_site = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_site["1217"]["Status"] == "Not planned" and by_site["1217"]["Reason"] == "last update failed"
    assert by_site["1212"]["Update"] == "Delivered" and by_site["1212"]["Badge"] == "yellow"
    assert by_site["1203"]["Firmware version"] == "5.40" and by_site["1203"]["Connection"] == "online"


def test_the_csv_of_every_site_neutralises_spreadsheet_formulas(example, browser):
    rows = list(csv.reader(io.StringIO(browser.get(example.page + "sites.csv").read().decode("utf-8-sig"))))
    assert len(rows) == 21
    [site_1220] = [row for row in rows if row[0] == "1220"]
    assert site_1220[1] == "'=cmd|' /C calc'!A0"  # a formula would run in a spreadsheet


def test_the_api_lists_sites_with_the_same_filters(example, browser, live_server):
    from tests.api.test_live_http import Api, login

    api = Api(live_server.url)
    login(api, "vera")
    status, body = api.call("GET", "sites/?receiver=north&q=fjord&sort=-site")
    assert status == 200
    assert [site["number"] for site in body["results"]] == [1217, 1212, 1203]
    assert body["results"][0]["address"] == "Fjord Way 9"
    status, body = api.call("GET", "sites/?receiver=north&reason=offline")
    assert [site["number"] for site in body["results"]] == [1219]
    status, body = api.call("GET", "sites/?receiver=north&hardware=1.0")
    assert [site["number"] for site in body["results"]] == [1216]
    status, body = api.call("GET", "sites/?reason=offline")
    assert status == 400 and "Give the receiver too" in body["reason"] and body["detail"]
    status, body = api.call("GET", "sites/?receiver=north&sort=sideways")
    assert status == 400 and "Unknown sort" in body["sort"]


@pytest.mark.parametrize("q", ["фьорд", "ФЬОРД", "пекарня", "мира,"])
def test_a_russian_word_finds_its_site_in_any_case_in_the_site_table_the_api_and_the_admin(
        example, browser, live_server, admin_client, q):
    """The receiver's site table, the API's `sites/?q=` and the admin's search compare as the
    device type page does: every letter in any case, on SQLite too (core/db.py)."""
    from tests.api.test_live_http import Api, login

    assert listed(browser.html(f"/receivers/{example.receiver.code}/sites/", {"q": q})) == [1205]
    api = Api(live_server.url)
    login(api, "vera")
    status, body = api.call("GET", f"sites/?receiver=north&q={quote(q)}")
    assert status == 200
    assert [site["number"] for site in body["results"]] == [1205]
    changelist = admin_client.get("/admin/sites/site/", {"q": q}).content.decode()
    assert "Пекарня «Фьорд»" in changelist and "1 result" in changelist


@pytest.mark.parametrize("params", [
    {}, {"badge": "red"}, {"badge": "yellow"}, {"reason": "failed"}, {"reason": "offline", "badge": "green"},
    {"version": "5.30"}, {"hardware": "1.0"}, {"q": "fjord"}, {"q": "fjord mill"}, {"q": "12"}, {"q": "121"},
    {"q": "ng00121", "badge": "yellow"}, {"q": "fjord", "version": "5.30", "reason": "failed"}, {"q": "nowhere"},
])
def test_the_statistics_count_exactly_the_sites_the_list_keeps(example, params):
    """The page's paginator takes its count from the statistics (`listed`, from the fleet's
    tally), not from a COUNT of the list, or with a search from the ids the search found
    (`device_type_site_ids`): either must agree with the list for every search and filter."""
    for number, (name, address) in NAMES.items():
        Site.objects.filter(receiver=example.receiver, number=number).update(name=name, address=address)
    filters = SiteFilters.from_query(params)
    kept = device_type_sites(receiver=example.receiver, device_type=example.nord, filters=filters)
    ids = list(device_type_site_ids(receiver=example.receiver, device_type=example.nord, filters=filters))
    assert ids == [device.pk for device in kept]
    if filters.q:
        with pytest.raises(ValueError, match="counted by the list itself"):
            receiver_firmware_stats(receiver=example.receiver, device_type=example.nord, listed=filters)
        assert len(ids) == kept.count()
        return

    [stats] = receiver_firmware_stats(receiver=example.receiver, device_type=example.nord, facets=True,
                                      transfer=True, listed=filters if params else None)

    # Without a filter there is nothing to count apart: the list is every site.
    assert (stats.total if not params else stats.listed) == kept.count() == len(list(kept))
    assert stats.total == 20
