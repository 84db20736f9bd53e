"""The tab "Site software update" and the device type page read the seed's figures."""

import re

import pytest
from django.core.cache import cache

from firmware_updates import services
from firmware_updates.models import JobState, Rollout, UpdateJob
from tests.ddi.conftest import install_window, set_receiver_window
from tests.factories import DeviceFactory, DeviceTypeFactory, ReleaseFactory

from .html import find_all, text_of, texts_of

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_tab_shows_the_seed_counts_for_twenty_nord_gsm(example, as_viewer):
    response = as_viewer.get(f"/receivers/{example.receiver.code}/software-update/")
    assert response.status_code == 200
    [row] = find_all(response.content, "stats-row")
    assert row["attrs"]["data-device-type"] == "nord-gsm"
    html = response.content
    assert text_of(html, "count-total") == "20"
    assert text_of(html, "current-version") == "5.40"
    assert text_of(html, "count-outdated") == "10"
    assert text_of(html, "count-red") == "6"
    assert text_of(html, "count-yellow") == "4"
    assert text_of(html, "count-green") == "10"
    # Disjoint: each of the 6 red sites under one reason (1219 is offline, eligible).
    assert text_of(html, "red-breakdown") == \
        "of which 2 not eligible · 1 offline · 1 failed · 1 cancelled · 1 not queued yet"
    [button] = find_all(html, "update-device-type")
    assert button["text"] == "Update ..."
    assert button["attrs"]["href"] == example.page


def test_tab_refreshes_itself_and_answers_htmx_with_the_table_alone(example, as_viewer):
    url = f"/receivers/{example.receiver.code}/software-update/"
    [region] = find_all(as_viewer.get(url).content, "firmware-stats")
    assert region["attrs"]["hx-get"] == url
    assert region["attrs"]["hx-trigger"].startswith("every 4s")  # something is yellow
    partial = as_viewer.get(url, **HTMX)
    assert partial.status_code == 200
    assert b"<html" not in partial.content and b"<nav" not in partial.content
    assert partial.content.lstrip().startswith(b'<div id="firmware-stats"')
    assert text_of(partial.content, "count-red") == "6"
    assert "HX-Request" in partial["Vary"]


def test_device_type_page_header_repeats_the_counts(example, as_viewer):
    html = as_viewer.get(example.page).content
    [summary] = find_all(html, "summary")
    assert summary["attrs"]["id"] == "dt-summary"
    assert (text_of(html, "count-total"), text_of(html, "current-version"), text_of(html, "count-outdated"),
            text_of(html, "count-red"), text_of(html, "count-yellow"), text_of(html, "count-green")) == \
        ("20", "5.40", "10", "6", "4", "10")


def badges_by_site(html) -> dict[int, str]:
    return {int(r["attrs"]["data-site"]): r["attrs"]["data-badge"] for r in find_all(html, "site-row")}


def test_site_list_shows_every_site_with_its_badge(example, as_viewer):
    badges = badges_by_site(as_viewer.get(example.page).content)
    assert len(badges) == 20
    assert {n for n, b in badges.items() if b == "green"} == set(range(1201, 1211))
    assert {n for n, b in badges.items() if b == "yellow"} == {1211, 1212, 1213, 1214}
    assert {n for n, b in badges.items() if b == "red"} == set(range(1215, 1221))


@pytest.mark.parametrize(("badge", "expected"), [
    ("red", set(range(1215, 1221))), ("yellow", {1211, 1212, 1213, 1214}), ("green", set(range(1201, 1211))),
])
def test_badge_filter_keeps_only_that_colour(example, as_viewer, badge, expected):
    html = as_viewer.get(example.page, {"badge": badge}).content
    assert set(badges_by_site(html)) == expected
    [chip] = find_all(html, f"filter-{badge}")
    assert chip["attrs"].get("aria-current") == "true"


def test_chips_count_each_colour(example, as_viewer):
    html = as_viewer.get(example.page).content
    assert texts_of(html, "filter-all") == ["All 20"]
    assert texts_of(html, "filter-red") == ["Red 6"]
    assert texts_of(html, "filter-yellow") == ["Yellow 4"]
    assert texts_of(html, "filter-green") == ["Green 10"]


def test_search_by_site_number_with_and_without_a_filter(example, as_viewer):
    assert set(badges_by_site(as_viewer.get(example.page, {"q": "1213"}).content)) == {1213}
    assert set(badges_by_site(as_viewer.get(example.page, {"q": "121"}).content)) == set(range(1210, 1220))
    assert set(badges_by_site(as_viewer.get(example.page, {"q": "121", "badge": "green"}).content)) == {1210}
    html = as_viewer.get(example.page, {"q": "12x"}).content
    assert badges_by_site(html) == {}
    assert text_of(html, "no-sites") == "No site matches the filter."
    assert text_of(html, "match-count") == "0 sites match."


def test_htmx_list_request_returns_the_list_with_the_counts_out_of_band(example, as_viewer):
    response = as_viewer.get(example.page, {"badge": "yellow"}, **HTMX)
    html = response.content.decode()
    assert "<html" not in html and "<dialog" not in html
    assert html.lstrip().startswith('<div id="site-list"')
    assert 'id="dt-summary" class="summary" data-testid="summary" hx-swap-oob="true"' in html
    assert set(badges_by_site(html)) == {1211, 1212, 1213, 1214}


def test_list_polls_quickly_while_anything_is_yellow(example, as_viewer):
    [region] = find_all(as_viewer.get(example.page).content, "site-list")
    assert region["attrs"]["data-live"] == "true"
    assert region["attrs"]["hx-trigger"] == "every 4s, panel-refresh from:body"
    assert region["attrs"]["hx-get"] == example.page


def test_list_polls_slowly_when_nothing_moves(db, as_viewer):
    nord = DeviceTypeFactory()
    ReleaseFactory(device_type=nord)
    device = DeviceFactory(device_type=nord, firmware_version="5.40")
    page = f"/receivers/{device.receiver.code}/software-update/{nord.code}/"
    [region] = find_all(as_viewer.get(page).content, "site-list")
    assert region["attrs"]["data-live"] == "false"
    assert region["attrs"]["hx-trigger"].startswith("every 30s")


def test_updating_rows_show_state_and_progress_in_bytes(example, as_viewer):
    html = as_viewer.get(example.page, {"q": "1213"}).content
    assert text_of(html, "job-state") == "Downloading"
    [progress] = find_all(html, "job-bytes")
    assert (progress["attrs"]["data-bytes"], progress["attrs"]["data-of"]) == ("163840", "409600")
    assert text_of(html, "job-percent") == "40%"


def test_progress_shows_the_freshest_byte_count_from_the_cache(example, as_viewer):
    job = example.jobs[1213]
    # The device fetched further than the row says (rows are written every few seconds).
    cache.clear()
    services.job_download_progress(job=job, offset=200000)  # first call writes the row
    services.job_download_progress(job=job, offset=300000)  # this one only reaches the cache
    [progress] = find_all(as_viewer.get(example.page, {"q": "1213"}).content, "job-bytes")
    assert progress["attrs"]["data-bytes"] == "300000"


def test_red_rows_say_why(example, as_viewer):
    html = as_viewer.get(example.page, {"badge": "red"}).content
    reasons = {int(r["attrs"]["data-site"]): r for r in find_all(html, "site-row")}
    assert len(reasons) == 6
    words = texts_of(html, "red-reason")
    assert "Not eligible Site 1215 has no GPRS or Ethernet channel." in words
    assert any(w.startswith("Not eligible Hardware revision 1.0 of Site 1216") for w in words)
    assert "Last update failed: sha256 mismatch in fw.bin" in words
    assert "Last update was cancelled before any byte was received." in words
    assert "Offline: an update queued now starts when it connects." in words  # 1219, never connected
    assert words.count("Not queued for update.") == 1
    assert {n: r["attrs"]["data-reason"] for n, r in reasons.items()} == {
        1215: "no_ip_channel", 1216: "hardware_not_supported", 1217: "failed", 1218: "cancelled", 1219: "offline",
        1220: "not_queued"}


def test_a_refusal_has_the_same_words_in_every_part_of_the_page(example, as_manager):
    """One refusal, one wording (firmware_updates.errors.Refusal): the "of which" list, the legend, the
    reason filter and the update-all dialog name a not-eligible site's reason alike (the
    legend and the filter said "hardware not supported" beside the breakdown's "hardware
    revision not supported")."""
    html = as_manager.get(example.page).content
    breakdown = {e["attrs"]["data-code"]: e["text"] for e in find_all(html, "not-eligible-reason")}
    legend = {e["attrs"]["href"].split("reason=")[1]: e["text"] for e in find_all(html, "legend-link")}
    options = dict(re.findall(r'<option value="([a-z_]+)"[^>]*>([^<]*) \(\d+\)</option>',
                              html.decode().split('data-testid="filter-reason"')[1].split("</select>")[0]))
    dialog = text_of(html, "update-all-plan")
    assert breakdown == {"no_ip_channel": "1 no GPRS or Ethernet channel",
                         "hardware_not_supported": "1 hardware revision not supported"}
    for code, words in breakdown.items():
        assert legend[code] == words
        assert options[code] == words[2].upper() + words[3:]  # the filter's capfirst
        assert words in dialog


def test_no_current_release_is_said_alike_by_the_rows_the_dialog_and_queueing(example, as_manager):
    example.release.is_current = False
    example.release.save()
    said = "Nord GSM has no current release."
    html = as_manager.get(example.page, {"badge": "red"}).content
    assert set(texts_of(html, "red-reason")) == {said}
    assert text_of(html, "update-all-no-release") == f"{said} Mark one current on the Releases page first."
    refused = as_manager.post(example.page + "queue/", {"site_number": "1220"}, **HTMX)
    assert texts_of(refused.content, "queue-site-error") == [said]


def test_online_and_offline_are_shown(example, as_viewer):
    html = as_viewer.get(example.page, {"q": "1219"}).content
    assert texts_of(html, "offline") == ["Offline"]
    assert b"never seen" in html
    assert texts_of(as_viewer.get(example.page, {"q": "1220"}).content, "online") == ["Online"]


def test_site_list_pages_by_fifty(db, as_viewer):
    nord = DeviceTypeFactory()
    ReleaseFactory(device_type=nord)
    first = DeviceFactory(device_type=nord, site__number=1)
    for number in range(2, 61):
        DeviceFactory(device_type=nord, site__receiver=first.receiver, site__number=number)
    page = f"/receivers/{first.receiver.code}/software-update/{nord.code}/"
    assert len(find_all(as_viewer.get(page).content, "site-row")) == 50
    second = as_viewer.get(page, {"page": 2}).content
    assert sorted(badges_by_site(second)) == list(range(51, 61))
    assert b'data-testid="pagination"' in second


def test_viewer_sees_the_action_buttons_disabled_and_no_dialogs(example, as_viewer):
    html = as_viewer.get(example.page).content
    for testid in ("open-queue-site", "open-update-all"):
        [button] = find_all(html, testid)
        assert button["tag"] == "button" and "disabled" in button["attrs"]
    assert not find_all(html, "dialog-queue-site") and not find_all(html, "dialog-update-all")
    assert not find_all(html, "cancel-update")


def test_engineer_may_queue_and_cancel_but_not_update_all(example, as_engineer):
    html = as_engineer.get(example.page).content
    [queue] = find_all(html, "open-queue-site")
    assert queue["tag"] == "a" and queue["attrs"]["data-dialog-open"] == "dialog-queue-site"
    assert find_all(html, "dialog-queue-site") and find_all(html, "dialog-cancel")
    [update_all] = find_all(html, "open-update-all")
    assert "disabled" in update_all["attrs"]
    # Cancel is offered while the device has not downloaded everything (1211-1213, not 1214).
    questions = [e["attrs"]["data-cancel-question"] for e in find_all(html, "cancel-update")]
    assert questions == [f"Stop the update of site {n}?" for n in (1211, 1212, 1213)]


def test_manager_gets_the_update_all_dialog_with_the_number_of_sites(example, as_manager):
    html = as_manager.get(example.page).content
    [dialog] = find_all(html, "dialog-update-all")
    assert dialog["tag"] == "dialog"
    assert text_of(html, "update-all-count") == "4"  # 6 red, 2 of them not eligible
    [submit] = find_all(html, "update-all-submit")
    assert submit["text"] == "Update all sites"


def test_receiver_sites_tab_lists_sites_with_badges(example, as_viewer):
    url = f"/receivers/{example.receiver.code}/sites/"
    html = as_viewer.get(url).content
    assert len(find_all(html, "site-row")) == 20
    red = as_viewer.get(url, {"badge": "red", "q": "121"}).content
    assert [r["attrs"]["data-site"] for r in find_all(red, "site-row")] == [str(n) for n in range(1215, 1220)]
    partial = as_viewer.get(url, **HTMX).content
    assert partial.lstrip().startswith(b'<div id="site-table"')


def test_a_queued_update_of_an_offline_device_says_it_starts_on_connection(example, as_viewer, engineer):
    services.update_job_create(receiver=example.receiver, site_number=1219, actor=engineer)
    html = as_viewer.get(example.page, {"q": "1219"}).content
    assert b"The device is offline; the update starts when it connects." in html
    html = as_viewer.get(example.page, {"q": "1211"}).content
    assert b"Waiting for the device&#x27;s next connection." in html


def test_device_type_page_costs_the_same_queries_for_a_bigger_fleet(example, as_viewer, django_assert_max_num_queries):
    as_viewer.get(example.page)  # session and permission caches warm
    # ... the panels that did not come back after their install: one query; the count of updates
    # awaiting approval (issue 14): one query while any site is yellow; what an update of all sites would send (full
    # archives and deltas): one query.
    with django_assert_max_num_queries(19):
        as_viewer.get(example.page)
    # The rollout card: the rollout, its finished jobs, its waves and their outcomes.
    services.rollout_start(receiver=example.receiver, device_type=example.nord, actor=None)
    with django_assert_max_num_queries(22):
        as_viewer.get(example.page)
    for number in range(2000, 2060):
        DeviceFactory(site__receiver=example.receiver, site__number=number, device_type=example.nord)
    for number in range(2000, 2010):
        services.update_job_create(receiver=example.receiver, site_number=number, actor=None)
    with django_assert_max_num_queries(22):
        as_viewer.get(example.page)
    # Searching, filtering and sorting add one count of the list, whatever it holds.
    params = {"q": "NG", "version": "5.30", "hardware": "2.1", "sort": "-seen"}
    with django_assert_max_num_queries(20):
        response = as_viewer.get(example.page, params)
    assert len(find_all(response.content, "site-row")) == 50
    with django_assert_max_num_queries(20):
        as_viewer.get(example.page, {**params, "page": 2})
    # The CSV reads the whole list in one statement (chunks of one cursor), however long:
    # besides it the session, the operator and their permissions, receiver, type and release.
    with django_assert_max_num_queries(8):
        b"".join(as_viewer.get(example.page + "sites.csv", params).streaming_content)


def test_rows_waiting_for_the_install_window_say_so_without_a_query_per_row(example, as_viewer,
                                                                            django_assert_max_num_queries):
    closed = install_window(open_now=False)
    set_receiver_window(example.receiver, closed)
    # 1213 is ready, part of a rollout with its own window (other times, closed too); 1214 is
    # downloaded, queued alone: the receiver's window.
    own = install_window(open_now=False, tz="Asia/Tokyo")
    rollout = Rollout.objects.create(receiver=example.receiver, device_type=example.nord, release=example.release,
                                     install_window_start=own[0], install_window_end=own[1])
    UpdateJob.objects.filter(pk=example.jobs[1213].pk).update(rollout=rollout, state=JobState.READY)
    as_viewer.get(example.page)  # session and permission caches warm
    # As the page of a bigger fleet (above), and the last jobs of the rows whose update failed
    # or was cancelled (one query: selectors.last_jobs_attach).
    with django_assert_max_num_queries(20):
        html = as_viewer.get(example.page).content.decode()
    assert f"Ready for installation; waits for the install window ({own[0]:%H:%M}-{own[1]:%H:%M})." in html
    assert f"Downloaded; waits for the install window ({closed[0]:%H:%M}-{closed[1]:%H:%M})." in html

    set_receiver_window(example.receiver, None)
    html = as_viewer.get(example.page, {"q": "1214"}).content.decode()
    assert "install window" not in html and "Downloaded; the device is checking the archive." in html
