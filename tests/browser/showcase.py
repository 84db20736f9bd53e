"""A receiver worth a screenshot: three device types, each fleet a mix of current, updating
and outdated panels, with a rollout in its third wave for Nord GSM. Built with the services a real
fleet goes through (queue, rollout, device reports), so every figure on the pages is one the
system computed."""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from firmware_updates import services
from receivers.services import receiver_create
from tests.factories import DeviceFactory, DeviceTypeFactory, ReleaseFactory

STREETS = ["Harbour St", "Mill Rd", "Station Sq", "Birch Ave", "Fjord Way", "North Quay", "Old Market",
           "Linden Ln", "Castle Hill", "Pine Ct"]
# code, name, current version, older versions, hardware revisions supported, archive size, fleet:
# {kind: count}. Kinds: green; old (outdated, to be queued); voice (no IP channel); board
# (hardware not supported); offline (outdated, not heard from for a day).
TYPES = [
    ("nord-gsm", "Nord GSM", "5.40", ["5.30", "5.20"], ["2.1", "2.2"], 412_672,
     {"green": 41, "old": 21, "voice": 2, "board": 2, "offline": 2}),
    ("nord-lan", "Nord LAN", "3.12", ["3.10"], ["1.1"], 268_288,
     {"green": 23, "old": 4, "board": 1}),
    ("nord-lite", "Nord Lite", "1.6", ["1.5"], ["1.0"], 221_184,
     {"green": 30, "old": 2}),
    ("nord-pro", "Nord Pro", "2.0", ["1.8"], ["3.0", "3.1"], 487_424,
     {"green": 7, "old": 8, "voice": 1, "offline": 1}),
    ("nord-radio", "Nord Radio", "4.2", ["4.1"], ["2.0"], 356_352,
     {"green": 12, "voice": 2}),
]
# The first Nord GSM sites, so that the top of its page shows one of each.
GSM_HEAD = ["old", "green", "old", "board", "old", "old", "green", "voice"]
# What happened to the Nord GSM rollout's jobs: the first sites' in this order, the others' shuffled.
GSM_OUTCOMES_HEAD = ["downloading", "ready", "failed", "installing"]
GSM_OUTCOMES = (["succeeded"] * 6 + ["downloading"] * 4 + ["ready"] + ["downloaded"] + ["delivered"] * 2
                + ["failed"] + ["cancelled"] + ["queued"] * 3)
FAILURES = ["sha256 of the downloaded file does not match deploymentBase",
            "hardware revision 2.0 not in [2.1, 2.2]"]


def seed_showcase(*, manager, engineer):
    """Receiver `central`; returns it. Needs eager Celery (the rollout runs in the call)."""
    rng = random.Random(1204)
    now = timezone.now()
    with transaction.atomic():
        receiver, _token = receiver_create(code="central", name="Central receiver",
                                           poll_sleep=timedelta(seconds=30))
        number = 1000
        for code, name, current, older, boards, size, fleet in TYPES:
            device_type = DeviceTypeFactory(code=code, name=name)
            for version in older:
                ReleaseFactory(device_type=device_type, version=version, hardware_revisions=boards,
                               size=size - 4096, is_current=False)
            ReleaseFactory(device_type=device_type, version=current, hardware_revisions=boards, size=size)
            kinds = [kind for kind, count in fleet.items() for _ in range(count)]
            head = GSM_HEAD if code == "nord-gsm" else []
            for kind in head:
                kinds.remove(kind)
            rng.shuffle(kinds)
            kinds = head + kinds
            for kind in kinds:
                number += rng.randint(1, 3)
                channels = ["gsm_voice", "sms"] if kind == "voice" else rng.choice(
                    [["gprs", "gsm_voice", "sms"], ["gprs"], ["ethernet", "gprs"], ["ethernet"]])
                DeviceFactory(site__receiver=receiver, site__number=number,
                              site__name=f"{rng.choice(STREETS)} {rng.randint(1, 120)}",
                              serial=f"{code.split('-')[1].upper()}{240000 + number}", device_type=device_type,
                              hardware_revision="1.0" if kind == "board" else rng.choice(boards),
                              firmware_version=current if kind == "green" else rng.choice(older),
                              channels=channels,
                              last_seen=now - (timedelta(days=1) if kind == "offline"
                                               else timedelta(seconds=rng.randint(3, 40))))
    _nord_lan_canaries(receiver, engineer)
    _nord_gsm_rollout(receiver, manager, rng)
    return receiver


def _nord_lan_canaries(receiver, engineer) -> None:
    """Two Nord LAN sites queued by hand, one of them already downloading."""
    devices = receiver.devices.filter(device_type__code="nord-lan", has_ip_channel=True, hardware_revision="1.1")
    outdated = [d for d in devices.order_by("site__number") if d.firmware_version != "3.12"]
    first = services.update_job_create(receiver=receiver, site_number=outdated[0].site.number, actor=engineer)
    services.update_job_create(receiver=receiver, site_number=outdated[1].site.number, actor=engineer)
    services.job_deployment_fetched(job=first)
    services.job_apply_feedback(job=first, execution="proceeding", finished="none",
                                progress={"cnt": first.bytes_total // 3, "of": first.bytes_total}, details=[])


def _nord_gsm_rollout(receiver, manager, rng) -> None:
    """The rollout in its last wave: the canary and the second wave updated and confirmed (each
    success started the next wave when reconciliation decided), the third under way."""
    device_type = receiver.devices.filter(device_type__code="nord-gsm").first().device_type
    # The error condition from 10 finished updates: the mix below has 2 failures of 8 finished.
    rollout, _ = services.rollout_start(receiver=receiver, device_type=device_type, actor=manager,
                                        error_threshold_percent=25, error_threshold_min=10)
    for wave in (1, 2):
        for job in rollout.jobs.filter(wave__number=wave).select_related("device", "release"):
            _advance(job, "succeeded", rng)
        services.rollout_evaluate(rollout_id=rollout.pk)  # as beat's reconciliation does
    jobs = list(rollout.jobs.filter(wave__number=3).select_related("device").order_by("device__site__number"))
    online = [job for job in jobs if job.device.last_seen > timezone.now() - timedelta(hours=1)]
    outcomes = GSM_OUTCOMES.copy()
    rng.shuffle(outcomes)
    for job, outcome in zip(online, GSM_OUTCOMES_HEAD + outcomes, strict=False):
        _advance(job, outcome, rng)


def _advance(job, outcome: str, rng) -> None:
    """Move a job the way its panel's reports would."""
    if outcome == "queued":
        return
    if outcome == "cancelled":
        services.update_job_cancel(job=job, actor=None)
        return
    services.job_deployment_fetched(job=job)
    if outcome == "delivered":
        return
    size = job.bytes_total
    kept = size if outcome != "downloading" else int(size * rng.uniform(0.15, 0.9))
    services.job_apply_feedback(job=job, execution="proceeding", finished="none",
                                progress={"cnt": kept, "of": size}, details=[])
    if outcome == "downloading":
        return
    if outcome == "failed":
        services.job_apply_feedback(job=job, execution="closed", finished="failure", progress=None,
                                    details=[rng.choice(FAILURES)])
        return
    services.job_apply_feedback(job=job, execution="downloaded", finished="none", progress=None, details=[])
    if outcome == "downloaded":
        return
    services.job_apply_feedback(job=job, execution="scheduled", finished="none", progress=None, details=[])
    if outcome == "ready":
        return
    services.job_apply_feedback(job=job, execution="proceeding", finished="none", progress=None,
                                details=["partition 2 disarmed: installing"])
    if outcome == "installing":
        return
    services.job_apply_feedback(job=job, execution="closed", finished="success", progress=None,
                                details=[f"running firmware {job.release.version}"])
    # Back from the reboot, the panel reports its version: confirmed, green.
    services.device_report_attributes(device=job.device, data={"sw_version": job.release.version})
