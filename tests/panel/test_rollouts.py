"""Updating software on all sites in waves, from the panel: the dialog's plan and options, the
rollout card (its state in words, waves, controls), and the rollout history page."""

from datetime import time

import pytest

from firmware_updates import services
from firmware_updates.models import JobState, Rollout, RolloutWave, UpdateJob
from firmware_updates.views.presenters import wave_plan_words
from tests.factories import DeviceFactory, DeviceTypeFactory, ReceiverFactory, ReleaseFactory

from .html import find_all, text_of, texts_of

pytestmark = pytest.mark.django_db
R = Rollout.State
HTMX = {"HTTP_HX_REQUEST": "true"}
CONTROLS = ("pause", "resume", "advance", "stop", "retry-failed")


def control_url(example, rollout, action):
    return f"{example.page}update-all/{rollout.pk}/{action}/"


def history_url(example):
    return example.page + "rollouts/"


@pytest.fixture
def start(example, manager, eager_celery, django_capture_on_commit_callbacks):
    """Start a rollout of the seed's 4 eligible red sites as maria would, with `options`."""

    def start(**options):
        with django_capture_on_commit_callbacks(execute=True):
            rollout, created = services.rollout_start(receiver=example.receiver, device_type=example.nord,
                                                      actor=manager, **options)
        assert created
        rollout.refresh_from_db()
        return rollout

    return start


def report(capture, rollout, wave, to_state, **fields):
    """The panels of `wave` report `to_state`, as device reports do (decisions after commit)."""
    if to_state == JobState.SUCCEEDED:
        fields["confirmed_at"] = rollout.created_at
    for job in UpdateJob.objects.filter(rollout=rollout, wave__number=wave):
        with capture(execute=True):
            services.job_transition(job_id=job.pk, to_state=to_state, actor=services.ACTOR_DEVICE, **fields)
    rollout.refresh_from_db()


def card(client, example):
    html = client.get(example.page).content
    [panel] = find_all(html, "rollout-panel")
    return html, panel


def waves(html):
    return [(row["attrs"]["data-wave"], row["text"]) for row in find_all(html, "rollout-wave")]


# --- The dialog: the waves it will run, and its options ------------------------------------------

@pytest.mark.parametrize(("eligible", "words"), [
    (56, "Wave 1 (canary): 1 site, wave 2: 5 sites, wave 3: the remaining 50"),
    (4, "Wave 1 (canary): 1 site, wave 2: the remaining 3"),
    (5000, "Wave 1 (canary): 20 sites, wave 2: 480 sites, wave 3: the remaining 4500"),
    (1, "One wave: all 1 site"),
    (0, ""),
])
def test_the_default_waves_in_words(eligible, words):
    assert wave_plan_words(eligible) == words


def test_the_dialog_shows_the_waves_it_will_run_and_closed_options(example, as_manager):
    html = as_manager.get(example.page).content
    assert text_of(html, "update-all-waves") == "Wave 1 (canary): 1 site, wave 2: the remaining 3."
    [options] = find_all(html, "update-all-options")
    assert options["tag"] == "details" and "open" not in options["attrs"]
    for testid in ("option-waves", "option-approve", "option-window-start", "option-window-end",
                   "option-error-percent", "option-error-min"):
        assert len(find_all(html, testid)) == 1, testid
    [percent] = find_all(html, "option-error-percent")
    assert percent["attrs"]["value"] == "10"
    # The page of its own, for browsers without JavaScript, has the same.
    page = as_manager.get(example.page + "update-all/").content
    assert text_of(page, "update-all-waves") == "Wave 1 (canary): 1 site, wave 2: the remaining 3."


def test_the_dialogs_figures_refresh_with_the_page_but_not_its_options(example, as_manager):
    partial = as_manager.get(example.page, **HTMX).content.decode()
    assert 'id="update-all-plan" data-testid="update-all-plan" hx-swap-oob="true"' in partial
    assert "update-all-form" not in partial  # what the operator typed stays


def test_the_options_follow_each_pages_language_and_a_refused_post_stays_its_own(example, as_manager):
    """The options offered are rendered once per language (templatetags `rollout_options`): each
    page still has its own language's, and a refused post's values and errors only its answer."""
    russian = {"HTTP_ACCEPT_LANGUAGE": "ru-RU,ru;q=0.9"}
    for headers, words in (({}, "Ask for approval after each wave"),
                           (russian, "Спрашивать подтверждение после каждой волны"),
                           ({}, "Ask for approval after each wave"),
                           (russian, "Спрашивать подтверждение после каждой волны")):
        [options] = find_all(as_manager.get(example.page, **headers).content, "update-all-options")
        assert words in options["text"]
    refused = as_manager.post(example.page + "update-all/", {"waves": "10, 5", "error_threshold_min": "7"}, **HTMX)
    [options] = find_all(refused.content, "update-all-options")
    assert "open" in options["attrs"] and texts_of(refused.content, "option-error")
    html = as_manager.get(example.page).content
    [options] = find_all(html, "update-all-options")
    assert "open" not in options["attrs"] and not texts_of(html, "option-error")
    assert find_all(html, "option-waves")[0]["attrs"].get("value") is None
    assert find_all(html, "option-error-min")[0]["attrs"]["value"] == "5"


def test_update_all_with_options(example, as_manager, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_manager.post(example.page + "update-all/", {
            "waves": "25, 50, 100", "approve_each_wave": "on", "install_window_start": "22:00",
            "install_window_end": "05:30", "error_threshold_percent": "20", "error_threshold_min": "3"}, **HTMX)
    assert "dialogs-close" in response["HX-Trigger"]
    assert texts_of(response.content, "message") == [
        "Updating all sites to version 5.40 in 3 waves: wave 1 is being queued; each next wave waits for your "
        "approval."]
    rollout = Rollout.objects.get()
    assert [w.size for w in rollout.waves.all()] == [1, 1, 2]
    assert rollout.approve_each_wave
    assert (rollout.install_window_start, rollout.install_window_end) == (time(22, 0), time(5, 30))
    assert (rollout.error_threshold_percent, rollout.error_threshold_min) == (20, 3)
    html = as_manager.get(example.page).content
    assert text_of(html, "rollout-conditions") == (
        "Next wave once 90 % of a wave is confirmed; pauses when more than 20 % of a wave's finished updates "
        "fail (once 3 have finished); asks for approval after each wave; installs only between 22:00 and 05:30.")


def test_options_left_as_they_are_start_the_default_rollout(example, as_manager):
    as_manager.post(example.page + "update-all/", {"waves": "", "error_threshold_percent": "10",
                                                   "error_threshold_min": "5"}, **HTMX)
    rollout = Rollout.objects.get()
    assert [w.size for w in rollout.waves.all()] == [1, 3]
    assert (rollout.error_threshold_percent, rollout.error_threshold_min, rollout.approve_each_wave) == (10, 5, False)
    assert rollout.install_window_start is None


@pytest.mark.parametrize(("data", "error"), [
    ({"waves": "10, 5"}, "Waves are cumulative: each value larger than the one before. For example 5, 25, 100."),
    ({"waves": "ten"}, "Give the waves as numbers separated by commas, e.g. 5, 25, 100."),
    ({"waves": "0, 100"}, "Each wave is a percentage of the sites, more than 0 and at most 100."),
    ({"waves": "50, 150"}, "Each wave is a percentage of the sites, more than 0 and at most 100."),
    ({"waves": ", ".join(str(n) for n in range(1, 23))}, "At most 20 waves."),
    ({"install_window_start": "22:00"}, "Give the install window both a start and an end time, or neither."),
    ({"install_window_end": "06:00"}, "Give the install window both a start and an end time, or neither."),
    ({"install_window_start": "22:00", "install_window_end": "22:00"},
     "An install window needs different start and end times."),
    ({"install_window_start": "25:00", "install_window_end": "06:00"}, "Enter a valid time."),
    ({"error_threshold_percent": "101"}, "The error threshold is a whole percentage, 0 to 100."),
    ({"error_threshold_percent": "5.5"}, "The error threshold is a whole percentage, 0 to 100."),
    ({"error_threshold_min": "0"}, "The minimum is a whole number of updates, 1 or more."),
])
def test_invalid_options_are_explained_in_the_dialog(example, as_manager, data, error):
    response = as_manager.post(example.page + "update-all/", data, **HTMX)
    assert response.status_code == 200
    assert texts_of(response.content, "option-error") == [error]
    assert "HX-Trigger" not in response  # the dialog stays open
    [options] = find_all(response.content, "update-all-options")
    assert "open" in options["attrs"]  # the options show what was wrong
    assert not Rollout.objects.exists()


def test_invalid_options_without_javascript_show_the_form_page(example, as_manager):
    response = as_manager.post(example.page + "update-all/", {"waves": "10, 5"})
    assert response.status_code == 200 and b"<html" in response.content
    assert texts_of(response.content, "option-error") == [
        "Waves are cumulative: each value larger than the one before. For example 5, 25, 100."]


def test_nothing_to_queue_is_refused_in_the_services_words(db, as_manager):
    receiver = ReceiverFactory(code="south", name="South")
    nord = DeviceTypeFactory()
    ReleaseFactory(device_type=nord, version="5.40")
    DeviceFactory(site__receiver=receiver, device_type=nord, firmware_version="5.40")
    page = f"/receivers/south/software-update/{nord.code}/"
    response = as_manager.post(page + "update-all/", **HTMX)
    assert texts_of(response.content, "update-all-error") == [
        "No Nord GSM site on receiver South can be queued (1 already current)."]
    assert "HX-Trigger" not in response
    assert not Rollout.objects.exists()


# --- The rollout card ------------------------------------------------------------------------------

def test_a_running_rollout_card_says_which_wave_and_offers_its_controls(example, as_manager, start):
    rollout = start(wave_counts=[1, 2])
    html, panel = card(as_manager, example)
    assert panel["attrs"]["data-state"] == "running"
    assert text_of(html, "rollout-state") == "Running"
    assert text_of(html, "rollout-status") == "Running — wave 1 of 3"
    assert waves(html) == [("1", "1 (canary) 1 1 0 0 Running"), ("2", "2 1 0 0 0 Waiting"),
                           ("3", "3 2 0 0 0 Waiting")]
    buttons = find_all(html, "rollout-controls")[0]["text"]
    assert buttons == "Pause... Start next wave now... Stop..."
    [advance] = find_all(html, "rollout-advance")
    assert advance["attrs"]["data-control-question"] == (
        "Start wave 2 of 3 (1 site) now, without waiting for the result of wave 1?")
    assert advance["attrs"]["data-control-button"] == "Start wave 2"
    [stop] = find_all(html, "rollout-stop")
    assert "data-control-danger" in stop["attrs"]
    assert find_all(html, "rollout-history-link")[0]["attrs"]["href"] == history_url(example)
    assert find_all(html, "open-rollout-history")[0]["attrs"]["href"] == history_url(example)
    # The card's forms post without JavaScript too, each with its CSRF token.
    forms = html.decode().split('data-testid="rollout-controls"')[1].split("</div>")[0]
    assert forms.count("<form") == 3 and forms.count("csrfmiddlewaretoken") == 3
    assert f'action="{control_url(example, rollout, "pause")}"' in forms


@pytest.mark.parametrize("operator", ["as_viewer", "as_engineer"])
def test_only_managers_see_the_controls(example, start, request, operator):
    start()
    html, _ = card(request.getfixturevalue(operator), example)
    assert text_of(html, "rollout-status") == "Running — wave 1 of 2"
    assert not find_all(html, "rollout-controls")
    assert not find_all(html, "dialog-rollout-control")


def test_a_canary_that_fails_pauses_the_rollout_and_the_card_says_why(
        example, as_manager, start, django_capture_on_commit_callbacks):
    rollout = start()
    report(django_capture_on_commit_callbacks, rollout, 1, JobState.FAILED, reason="Update Failed.")
    assert rollout.state == R.PAUSED
    html, panel = card(as_manager, example)
    assert panel["attrs"]["data-state"] == "paused"
    assert text_of(html, "rollout-status") == (
        "Paused — Wave 1 ended with 0 of 1 updates confirmed (90 % required).")
    assert waves(html) == [("1", "1 (canary) 1 1 0 1 Failed"), ("2", "2 3 0 0 0 Waiting")]
    assert find_all(html, "rollout-controls")[0]["text"] == "Resume... Start next wave now... Stop..."
    # Paused with nothing updating: the page still refreshes itself quickly.
    assert find_all(html, "site-list")[0]["attrs"]["data-live"] == "true"
    assert find_all(html, "site-list")[0]["attrs"]["hx-trigger"].startswith("every 4s")


def test_pause_with_htmx_pauses_and_refreshes_the_page(example, as_manager, start):
    rollout = start()
    response = as_manager.post(control_url(example, rollout, "pause"), **HTMX)
    assert response.status_code == 200
    assert texts_of(response.content, "message") == [
        f"Rollout #{rollout.pk} paused: no further site is queued; updates under way go on."]
    assert "dialogs-close" in response["HX-Trigger"] and "panel-refresh" in response["HX-Trigger"]
    assert find_all(response.content, "rollout-control-form")  # the dialog's form, blank again
    rollout.refresh_from_db()
    assert (rollout.state, rollout.paused_reason) == (R.PAUSED, "Paused by maria.")
    html, _ = card(as_manager, example)
    assert text_of(html, "rollout-status") == "Paused — Paused by maria."
    [resume] = find_all(html, "rollout-resume")
    assert resume["attrs"]["data-control-question"] == (
        f"Resume rollout #{rollout.pk}? Wave 1 goes on, its failures so far accepted; if that wave is over, "
        "the next one starts.")


def test_resume_after_an_approval_starts_the_next_wave(
        example, as_manager, start, django_capture_on_commit_callbacks):
    rollout = start(approve_each_wave=True)
    report(django_capture_on_commit_callbacks, rollout, 1, JobState.SUCCEEDED)
    assert rollout.state == R.PAUSED
    html, _ = card(as_manager, example)
    assert text_of(html, "rollout-status") == (
        "Paused — Wave 1 succeeded (1 of 1 confirmed); resume to start wave 2.")
    [resume] = find_all(html, "rollout-resume")
    assert resume["attrs"]["data-control-question"] == f"Resume rollout #{rollout.pk}? Wave 2 of 2 (3 sites) starts now."
    with django_capture_on_commit_callbacks(execute=True):
        response = as_manager.post(control_url(example, rollout, "resume"), **HTMX)
    assert texts_of(response.content, "message") == [f"Rollout #{rollout.pk} resumed: wave 2 is running."]
    html, _ = card(as_manager, example)
    assert text_of(html, "rollout-status") == "Running — wave 2 of 2"
    assert waves(html)[0] == ("1", "1 (canary) 1 1 1 0 Succeeded")


def test_advance_starts_the_next_wave_now(example, as_manager, start, django_capture_on_commit_callbacks):
    rollout = start()
    with django_capture_on_commit_callbacks(execute=True):
        response = as_manager.post(control_url(example, rollout, "advance"), **HTMX)
    assert texts_of(response.content, "message") == [f"Rollout #{rollout.pk}: wave 2 started."]
    rollout.refresh_from_db()
    assert (rollout.current_wave, rollout.queued) == (2, 4)
    html, _ = card(as_manager, example)
    assert text_of(html, "rollout-status") == "Running — wave 2 of 2"
    assert find_all(html, "rollout-controls")[0]["text"] == "Pause... Stop..."  # no wave after the last


def test_stop_then_retry_the_failed_sites(example, as_manager, start, django_capture_on_commit_callbacks):
    rollout = start(waves=[100], error_threshold_percent=None)
    first, *others = UpdateJob.objects.filter(rollout=rollout).order_by("pk")
    with django_capture_on_commit_callbacks(execute=True):
        services.job_transition(job_id=first.pk, to_state=JobState.FAILED, actor=services.ACTOR_DEVICE,
                                reason="Update Failed.")
    response = as_manager.post(control_url(example, rollout, "stop"), **HTMX)
    assert texts_of(response.content, "message") == [
        f"Rollout #{rollout.pk} stopped: its updates not downloaded yet are being cancelled."]
    rollout.refresh_from_db()
    assert rollout.state == R.STOPPED
    assert {job.state for job in UpdateJob.objects.filter(pk__in=[j.pk for j in others])} == {JobState.CANCELLED}
    html, panel = card(as_manager, example)
    assert (panel["attrs"]["data-state"], text_of(html, "rollout-status")) == ("stopped", "Stopped")
    assert waves(html) == [("1", "1 4 4 0 1 Stopped")]
    assert find_all(html, "rollout-controls")[0]["text"] == "Retry failed sites..."
    [retry] = find_all(html, "rollout-retry")
    assert retry["attrs"]["data-control-question"] == (
        f"Start a new rollout of the 1 site whose update failed or timed out in rollout #{rollout.pk}, with the "
        "same conditions?")

    with django_capture_on_commit_callbacks(execute=True):
        response = as_manager.post(control_url(example, rollout, "retry-failed"), **HTMX)
    retry = Rollout.objects.exclude(pk=rollout.pk).get()
    assert texts_of(response.content, "message") == [
        f"Retrying the failed sites of rollout #{rollout.pk} as rollout #{retry.pk}."]
    assert (retry.retry_of, retry.state, retry.queued) == (rollout, R.RUNNING, 1)
    assert UpdateJob.objects.get(rollout=retry).device == first.device
    html, panel = card(as_manager, example)
    assert panel["attrs"]["data-rollout"] == str(retry.pk)


def test_a_completed_rollout_without_failures_offers_no_control(example, as_manager, start,
                                                                 django_capture_on_commit_callbacks):
    rollout = start(waves=[100])
    report(django_capture_on_commit_callbacks, rollout, 1, JobState.SUCCEEDED)
    assert rollout.state == R.COMPLETED
    html, panel = card(as_manager, example)
    assert (panel["attrs"]["data-state"], text_of(html, "rollout-status")) == ("completed", "Completed")
    assert not find_all(html, "rollout-controls")


@pytest.mark.parametrize(("action", "prepare", "refusal"), [
    ("pause", "pause", "Rollout #{id} is not running (paused)."),
    ("resume", None, "Rollout #{id} is not paused (running)."),
    ("advance", "advance", "Rollout #{id} is in its last wave already."),
    ("stop", "stop", "Rollout #{id} has already ended (stopped)."),
    ("retry-failed", None, "Rollout #{id} is still running: stop it or let it complete first."),
])
def test_a_refused_control_shows_the_services_sentence_in_the_dialog(
        example, as_manager, start, manager, action, prepare, refusal):
    rollout = start()
    if prepare:  # another operator was quicker
        getattr(services, f"rollout_{prepare}")(rollout=rollout, actor=manager)
    before = rollout.events.count()
    response = as_manager.post(control_url(example, rollout, action), **HTMX)
    assert response.status_code == 200
    assert texts_of(response.content, "rollout-control-error") == [refusal.format(id=rollout.pk)]
    assert "HX-Trigger" not in response  # the dialog stays open, saying why
    assert rollout.events.count() == before

    # Without JavaScript: back to the page, which says why.
    response = as_manager.post(control_url(example, rollout, action), follow=True)
    assert response.redirect_chain == [(example.page, 302)]
    assert texts_of(response.content, "message") == [refusal.format(id=rollout.pk)]


def test_a_control_without_javascript_redirects_back_with_the_message(example, as_manager, start):
    rollout = start()
    response = as_manager.post(control_url(example, rollout, "pause"), follow=True)
    assert response.redirect_chain == [(example.page, 302)]
    assert texts_of(response.content, "message") == [
        f"Rollout #{rollout.pk} paused: no further site is queued; updates under way go on."]
    assert text_of(response.content, "rollout-status") == "Paused — Paused by maria."


@pytest.mark.parametrize("operator", ["as_viewer", "as_engineer"])
def test_viewers_and_engineers_may_not_control_a_rollout(example, start, request, operator):
    rollout = start()
    client = request.getfixturevalue(operator)
    for action in CONTROLS:
        for extra in ({}, HTMX):
            response = client.post(control_url(example, rollout, action), **extra)
            assert response.status_code == 403, action
            assert b"start rollouts" in response.content
    rollout.refresh_from_db()
    assert (rollout.state, rollout.events.count()) == (R.RUNNING, 2)  # started, wave 1 started
    assert Rollout.objects.count() == 1


def test_controls_are_post_only_and_name_a_rollout_of_the_page(example, as_manager, start):
    rollout = start()
    for action in CONTROLS:
        assert as_manager.get(control_url(example, rollout, action)).status_code == 405
    lan = DeviceTypeFactory(code="nord-lan", name="Nord LAN")
    other_page = f"/receivers/{example.receiver.code}/software-update/{lan.code}/"
    assert as_manager.post(f"{other_page}update-all/{rollout.pk}/pause/").status_code == 404
    assert as_manager.post(control_url(example, rollout, "pause").replace(str(rollout.pk), "99999")).status_code == 404
    rollout.refresh_from_db()
    assert rollout.state == R.RUNNING


def test_a_control_post_without_the_csrf_token_is_refused(example, manager, start):
    from .conftest import signed_in

    rollout = start()
    client = signed_in(manager, enforce_csrf_checks=True)
    assert client.post(control_url(example, rollout, "stop"), **HTMX).status_code == 403
    rollout.refresh_from_db()
    assert rollout.state == R.RUNNING


# --- The history page ------------------------------------------------------------------------------

def test_history_tells_who_started_paused_resumed_and_stopped_each_rollout(
        example, as_viewer, manager, engineer, start, django_capture_on_commit_callbacks):
    first = start(waves=[100])
    report(django_capture_on_commit_callbacks, first, 1, JobState.SUCCEEDED)
    second = start()
    report(django_capture_on_commit_callbacks, second, 1, JobState.FAILED, reason="Update Failed.")
    with django_capture_on_commit_callbacks(execute=True):
        services.rollout_resume(rollout=second, actor=manager)
    services.rollout_pause(rollout=second, actor=manager)
    services.rollout_stop(rollout=second, actor=manager)

    html = as_viewer.get(history_url(example)).content
    records = find_all(html, "history-rollout")
    assert [(r["attrs"]["data-rollout"], r["attrs"]["data-state"]) for r in records] == [
        (str(second.pk), "stopped"), (str(first.pk), "completed")]  # newest first
    assert texts_of(html, "rollout-status") == ["Stopped", "Completed"]
    kinds = [e["attrs"]["data-kind"] for e in find_all(html, "history-event")]
    assert kinds == ["started", "wave_started", "halted", "resumed", "wave_started", "paused", "stopped",
                     "started", "wave_started", "completed"]
    events = texts_of(html, "history-event")
    assert events[0].endswith("maria Started: version 5.40, 4 sites to update in 2 waves.")
    assert events[2].endswith("system Paused by itself: Wave 1 ended with 0 of 1 updates confirmed "
                              "(90 % required).")
    assert events[3].endswith("maria Resumed (wave 1).")
    assert events[4].endswith("maria Wave 2 started (3 sites).")
    assert events[5].endswith("maria Paused.")
    assert events[6].endswith("maria Stopped; 3 updates cancelled.")
    assert events[9].endswith("system Completed: 4 sites queued in all.")
    assert texts_of(html, "history-ended")[0] != "not yet"
    assert texts_of(html, "history-started")[0].endswith("by maria")
    assert all(t.endswith((" s", " min", " h")) for t in texts_of(html, "history-duration"))
    assert waves(html) == [("1", "1 (canary) 1 1 0 1 Failed"), ("2", "2 3 3 0 0 Stopped"),
                           ("1", "1 4 4 4 0 Succeeded")]


def test_history_of_a_device_type_without_rollouts_says_so(example, as_viewer):
    response = as_viewer.get(history_url(example))
    assert response.status_code == 200
    assert find_all(response.content, "no-rollouts")


def test_history_is_paginated_and_costs_the_same_queries_for_one_rollout_or_a_full_page(
        example, as_viewer, manager, django_assert_max_num_queries):
    def rollout():
        # Without a worker the rollout stays pending; stopping it cancels nothing, so the
        # sites stay eligible for the next one.
        made, _ = services.rollout_start(receiver=example.receiver, device_type=example.nord, actor=manager)
        services.rollout_stop(rollout=made, actor=manager)
        return made

    first = rollout()
    as_viewer.get(history_url(example))  # session and permission caches warm
    with django_assert_max_num_queries(12) as one:
        as_viewer.get(history_url(example))
    for _ in range(54):
        last = rollout()
    with django_assert_max_num_queries(len(one.captured_queries)):
        html = as_viewer.get(history_url(example)).content
    records = find_all(html, "history-rollout")
    assert len(records) == 50 and records[0]["attrs"]["data-rollout"] == str(last.pk)
    assert find_all(html, "pagination")
    page2 = as_viewer.get(history_url(example), {"page": 2}).content
    records = find_all(page2, "history-rollout")
    assert len(records) == 5 and records[-1]["attrs"]["data-rollout"] == str(first.pk)
    assert RolloutWave.objects.filter(rollout=first).exists()


def test_history_is_a_viewers_page_but_not_an_anonymous_ones(example, client):
    response = client.get(history_url(example))
    assert response.status_code == 302 and response["Location"].startswith("/login/")
