"""The device type page's list as CSV: every site the filters keep, in the list's order,
streamed row by row (the selector reads in chunks), so a list of 100,000 sites costs bounded
memory and starts arriving at once (bench `find`, docs/benchmarks.md)."""

import csv
from datetime import UTC

from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext

from core.panel import require
from core.permissions import VIEW_SITE, VIEW_UPDATE_JOB
from sites.services import seen_recently

from ..eligibility import RED_REASON_WORDS
from ..models import JobState
from ..selectors import SiteFilters, device_type_sites_export
from .device_types import device_type_objects
from .presenters import BADGE_WORDS

# A spreadsheet would run a cell starting with these as a formula (CSV injection, OWASP):
# such a cell is written with a leading apostrophe.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


class _Line:
    """csv.writer's file: hands back each line instead of keeping it (Django's streaming CSV
    recipe)."""

    def write(self, value):
        return value


def header() -> list[str]:
    return [gettext("Site"), gettext("Name"), gettext("Address"), gettext("Serial"), gettext("Hardware revision"),
            gettext("Firmware version"), gettext("Channels"), gettext("Badge"), gettext("Status"),
            gettext("Reason"), gettext("Connection"), gettext("Last seen (UTC)"), gettext("Update"),
            gettext("Bytes received"), gettext("Bytes in all")]


def csv_rows(rows, *, receiver):
    """Each exported tuple (selectors.EXPORT_FIELDS) as the CSV's cells."""
    states = dict(JobState.choices)
    now = timezone.now()
    for (number, name, address, serial, hardware, version, channels, badge, red_reason, last_seen, job_state,
         received, total, _last_outcome) in rows:
        online = seen_recently(last_seen=last_seen, receiver=receiver, now=now)
        yield [number, name, address, serial, hardware, version, ",".join(channels or []), badge,
               BADGE_WORDS.get(badge, badge), RED_REASON_WORDS.get(red_reason, "") if red_reason else "",
               gettext("online") if online else gettext("offline"),
               last_seen.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if last_seen else "",
               states.get(job_state, "") if job_state else "", received if job_state else "",
               total if job_state else ""]


@require(VIEW_SITE, VIEW_UPDATE_JOB)
def device_type_sites_csv(request, code: str, device_type_code: str):
    """The list as the page's filters and sort say (the same query parameters), as CSV."""
    receiver, device_type = device_type_objects(code, device_type_code)
    filters = SiteFilters.from_query(request.GET).valid
    rows = device_type_sites_export(receiver=receiver, device_type=device_type, filters=filters)
    writer = csv.writer(_Line())

    def lines():
        # A byte order mark, so spreadsheets read the names (Cyrillic ones too) as UTF-8.
        yield "\ufeff" + writer.writerow(header())
        for row in csv_rows(rows, receiver=receiver):
            yield writer.writerow([_cell(value) for value in row])

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{receiver.code}-{device_type.code}-sites-{stamp}.csv"'
    return response
