"""The device type page's list as CSV: every site the filters keep, in the list's order,
streamed row by row (the selector reads in chunks), so a list of 100,000 sites costs bounded
memory and starts arriving at once (bench `find`, docs/benchmarks.md)."""

import csv
import io
from datetime import UTC

from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext

from core.panel import require
from core.permissions import VIEW_SITE, VIEW_UPDATE_JOB
from sites.services import ONLINE_GRACE

from ..eligibility import RED_REASON_WORDS, red_reason_of
from ..models import JobState
from ..selectors import SiteFilters, device_type_sites_export
from .device_types import device_type_objects
from .presenters import BADGE_WORDS

# A spreadsheet would run a cell starting with these as a formula (CSV injection, OWASP):
# such a cell is written with a leading apostrophe.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


ROWS_PER_CHUNK = 500  # rows written per piece of the answer: few pieces, small ones


def _text(value: str) -> str:
    """Text an operator or a panel typed (names, addresses, serials), safe in a spreadsheet."""
    return f"'{value}" if value.startswith(FORMULA_START) else value


def header() -> list[str]:
    return [gettext("Site"), gettext("Name"), gettext("Address"), gettext("Serial"), gettext("Hardware revision"),
            gettext("Firmware version"), gettext("Channels"), gettext("Badge"), gettext("Status"),
            gettext("Reason"), gettext("Connection"), gettext("Last seen (UTC)"), gettext("Update"),
            gettext("Bytes received"), gettext("Bytes in all")]


def csv_rows(rows, *, receiver):
    """Each exported tuple (selectors.EXPORT_FIELDS) as the CSV's cells. The words are looked
    up once, not per row (100,000 rows: the translations' lookups were a third of the time)."""
    states = {code: str(label) for code, label in JobState.choices}
    badges = {code: str(label) for code, label in BADGE_WORDS.items()}
    reasons = {code: str(words) for code, words in RED_REASON_WORDS.items()}
    online, offline = gettext("online"), gettext("offline")
    # The panel's rule (sites.services.seen_recently) as one instant to compare with.
    seen_after = timezone.now() - receiver.offline_after - ONLINE_GRACE
    for (number, name, address, serial, hardware, version, channels, badge, verdict, last_seen, job_state,
         received, total, _last_outcome) in rows:
        if last_seen is not None:
            at = last_seen.astimezone(UTC).isoformat(" ", "seconds")[:19]
        yield [number, _text(name), _text(address), _text(serial), _text(hardware), _text(version),
               ",".join(channels or []), badge, badges.get(badge, badge), reasons.get(red_reason_of(verdict), ""),
               online if last_seen is not None and last_seen > seen_after else offline,
               at if last_seen is not None else "",
               states.get(job_state, "") if job_state else "", received if job_state else "",
               total if job_state else ""]


@require(VIEW_SITE, VIEW_UPDATE_JOB)
def device_type_sites_csv(request, code: str, device_type_code: str):
    """The list as the page's filters and sort say (the same query parameters), as CSV."""
    receiver, device_type = device_type_objects(code, device_type_code)
    filters = SiteFilters.from_query(request.GET).valid
    rows = device_type_sites_export(receiver=receiver, device_type=device_type, filters=filters)

    def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        # A byte order mark, so spreadsheets read the names (Cyrillic ones too) as UTF-8.
        buffer.write("\ufeff")
        writer.writerow(header())
        for count, row in enumerate(csv_rows(rows, receiver=receiver), start=1):
            writer.writerow(row)
            if count % ROWS_PER_CHUNK == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{receiver.code}-{device_type.code}-sites-{stamp}.csv"'
    return response
