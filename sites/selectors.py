"""Reads on sites and panels that are more than a lookup."""

from collections.abc import Iterator

from django.db.models import F

from .models import Device
from .serials import serial_problem


def devices_with_bad_serial() -> Iterator[tuple[dict, str]]:
    """Every stored panel whose serial the rule refuses (sites/serials.py), with the reason:
    ({"receiver", "site", "serial"}, reason), by receiver and serial. Stored before the rule,
    or written past the services (raw SQL, an old backup)."""
    rows = (
        Device.objects.order_by("receiver__code", "serial")
        .values("serial", "site_number", receiver_code=F("receiver__code"))
        .iterator(chunk_size=2000)
    )
    for row in rows:
        if (problem := serial_problem(row["serial"])) is not None:
            yield {"receiver": row["receiver_code"], "site": row["site_number"], "serial": row["serial"]}, problem
