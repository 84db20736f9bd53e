"""Seeds a database the test process does not use (a private PostgreSQL, in a process of its
own): `python -m tests.worker.outage_fleet <out.json> <panels> <archive bytes>` writes the
panels' serials and TargetTokens, each panel queued for the current release."""

import hashlib
import json
import random
import sys
from datetime import timedelta


def seed(out: str, panels: int, size: int) -> None:
    from django.core.files.base import ContentFile

    from firmware_updates import services
    from firmware_updates.models import Release
    from receivers.services import receiver_create
    from sites.models import DeviceType
    from sites.services import site_create

    receiver, _gateway = receiver_create(code="north", name="North", poll_sleep=timedelta(seconds=5))
    nord = DeviceType.objects.create(code="nord-gsm", name="Nord GSM")
    content = random.Random(540).randbytes(size)
    release = Release.objects.create(
        device_type=nord, version="5.40", hardware_revisions=["2.1"], filename="nord-gsm-5.40.swu",
        archive=ContentFile(content, name="nord-gsm-5.40.swu"), size=size,
        sha256=hashlib.sha256(content).hexdigest(), sha1=hashlib.sha1(content).hexdigest(),
        md5=hashlib.md5(content).hexdigest())
    services.release_mark_current(release=release)
    tokens = {}
    for number in range(1, panels + 1):
        serial = f"NG{number:08d}"
        _site, tokens[serial] = site_create(receiver=receiver, number=number, serial=serial, device_type=nord,
                                            hardware_revision="2.1", firmware_version="5.30", channels=["gprs"])
        services.update_job_create(receiver=receiver, site_number=number, actor=None)
    with open(out, "w") as fh:
        json.dump({"tokens": tokens, "sha256": release.sha256}, fh)


if __name__ == "__main__":
    import django

    django.setup()
    seed(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
