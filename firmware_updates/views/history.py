"""A job's timeline in the words operators use (issue 11, item 6).

Each event becomes one sentence about what happened to the site ("Panel acknowledged the
cancel", "Downloaded 120 KB of 315 KB", "Ready for installation; waiting for a disarmed
partition"), said in the operator's language; what the panel itself reported (DDI
feedback: execution, result, progress, its own lines) stays one click away, as it came.
"""

import json
from dataclasses import dataclass

from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import FETCHING, JobState, UpdateJob, UpdateJobEvent
from ..stored_words import stored_words
from .presenters import JobView, actor_words

S = JobState
# A progress `of` this large counts bytes (fleetsim, hawkBit clients that report the
# download so), not steps: SWUpdate reports steps ({"cnt": 1, "of": 0}).
BYTES_AT_LEAST = 1024

# What a transition means, by the state the job entered (the actor says who moved it).
ENTERED = {
    S.QUEUED: gettext_lazy("Queued for update"),
    S.DELIVERED: gettext_lazy("Panel received the update command"),
    S.DOWNLOADING: gettext_lazy("Panel started downloading"),
    S.DOWNLOADED: gettext_lazy("Panel downloaded the whole file and checks it"),
    S.READY: gettext_lazy("Archive checked: ready for installation; waiting for a disarmed partition"),
    S.INSTALLING: gettext_lazy("Partition disarmed: panel installs the update and restarts"),
    S.SUCCEEDED: gettext_lazy("Panel reported the update installed"),
    S.FAILED: gettext_lazy("Update failed"),
    S.CANCELLING: gettext_lazy("Cancel requested; waiting for the panel to acknowledge"),
    S.CANCELLED: gettext_lazy("Update cancelled"),
}
KIND_WORDS = {
    "confirmed": gettext_lazy("Panel runs the new version"),
    "warning": gettext_lazy("Panel reported a problem"),
    "report": gettext_lazy("Panel reported"),
    "stalled_download": gettext_lazy("Download stalled"),
    "version_unconfirmed": gettext_lazy("New version not reported"),
    "download_budget": gettext_lazy("Downloads held back"),
}


@dataclass
class EventView:
    event: UpdateJobEvent
    sentence: str
    lines: list[str]
    raw: str  # the panel's own report as it came ("" if the event is not one)

    @property
    def actor(self) -> str:
        return actor_words(self.event)


def progress_words(progress) -> str:
    if not isinstance(progress, dict) or not progress.get("of"):
        return ""
    done, of = progress.get("cnt") or 0, progress.get("of")
    if isinstance(of, int) and of >= BYTES_AT_LEAST and isinstance(done, int):
        return _("Downloaded {done} of {of}").format(done=filesizeformat(done), of=filesizeformat(of))
    return _("Step {done} of {of}").format(done=done, of=of)


def _raw_report(details: dict) -> str:
    """What the panel sent (DDI feedback), as it came: shown behind a disclosure."""
    report = {key: details[key] for key in ("execution", "finished", "progress", "details") if key in details}
    return json.dumps(report, ensure_ascii=False, indent=1) if "execution" in report else ""


def event_view(event: UpdateJobEvent) -> EventView:
    details = event.details or {}
    execution = details.get("execution")
    to_state, lines = event.to_state, []
    if to_state == S.CANCELLED and execution:
        sentence = _("Panel acknowledged the cancel")
    elif to_state == S.CANCELLED and event.from_state == S.QUEUED:
        sentence = _("Update cancelled before the panel received it")
    elif event.from_state == S.CANCELLING and to_state and to_state != S.CANCELLED:
        sentence = _("Panel refused the cancel: it has the whole file; the update continues")
    elif to_state == S.QUEUED and "release" in details:
        sentence = _("Queued for update to {version}").format(version=details["release"])
    elif to_state:
        sentence = str(ENTERED.get(to_state, to_state))
    elif event.kind == "warning" and execution == "rejected":
        sentence = _("Panel refused the update")
    else:
        sentence = str(KIND_WORDS.get(event.kind, event.kind.replace("_", " ").capitalize()))
    if progress := progress_words(details.get("progress")):
        lines.append(progress)
    if message := details.get("message"):
        lines.append(stored_words(str(message)))
    if "rollout" in details:
        lines.append(_("Part of rollout #{id} (Update software at all sites)").format(id=details["rollout"]))
    if execution and (to_state == S.FAILED or event.kind in ("warning", "report")):
        reported = [str(line) for line in details.get("details") or [] if line]
        lines.append(_("The panel says: {words}").format(words="; ".join(reported)) if reported
                     else _("The panel gave no reason."))
    return EventView(event=event, sentence=sentence, lines=lines, raw=_raw_report(details))


def _transfer_ended(job: UpdateJob, events: list[EventView]) -> None:
    """How much the panel had downloaded when its download ended (downloaded, failed,
    cancelled): said on the event that ended it, from the job's own count. Progress reports
    are not kept on the timeline (the bar shows them), so this is where the figure stays."""
    ended = [v for v in events if v.event.from_state in FETCHING and v.event.to_state]
    if not ended or not job.bytes_total:
        return
    last = ended[-1]
    words = progress_words({"cnt": job.bytes_downloaded, "of": job.bytes_total})
    if words and words not in last.lines:
        last.lines.insert(0, words)


def job_timeline(jobs: list[UpdateJob]) -> list[dict]:
    timeline = []
    for job in jobs:
        events = [event_view(e) for e in job.events.all()]
        _transfer_ended(job, events)
        timeline.append({"job": JobView(job), "events": events})
    return timeline
