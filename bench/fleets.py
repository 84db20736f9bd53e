"""Bench fleets: one receiver per (profile, size), filled once and reused by later runs.

A receiver's name records its profile, size and the fill version; a run finding the same
name and device count reuses it (a million devices take minutes to fill, seconds to check).
A fleet left half-filled by an interrupted run is deleted and filled again.

Profiles:
- `mixed` (statistics): three device types (50/30/20 %); ~50 % run the current version,
  ~20 % are outdated with an active job (spread over the active states), the rest are red:
  10 % of the fleet without an IP channel, 3 % on unsupported hardware, the others outdated
  and eligible, half of them with a failed or cancelled job behind them. 85 % seen lately,
  10 % a month ago, 5 % never.
- `outdated` (update all): one device type, every device outdated, eligible and online;
  5 % have a failed job from an earlier attempt behind them.
- `find` (finding sites): one device type, the `mixed` profile's mix of colours and reasons,
  every site with a name ("Berg Bakery") and an address ("Fjord Way 17", 12 streets).
"""

import random
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from firmware_updates.models import (
    ACTIVE_STATES,
    JobState,
    Release,
    Rollout,
    RolloutEvent,
    RolloutWave,
    UpdateJob,
    UpdateJobEvent,
)
from receivers.models import Receiver
from sites.models import Device, DeviceType, Site
from sites.versions import version_key

from . import fill

# Bumped when a profile's content changes, so older fills of it are not reused.
FILL_VERSIONS = {"mixed": 1, "outdated": 2, "find": 1}
# (code, name, current version, outdated versions, supported hardware, share of the fleet in %)
DEVICE_TYPES = [
    ("nord-gsm", "Nord GSM", "5.40", ["5.30", "5.20", "5.8"], ["2.1", "2.2"], 50),
    ("nord-lan", "Nord LAN", "3.12", ["3.10", "3.9"], ["1.0", "1.1"], 30),
    ("nord-pro", "Nord Pro", "2.7", ["2.6", "2.5.1"], ["4.0"], 20),
]
UNSUPPORTED_HARDWARE = "0.9"
PARTITIONS = [{"number": 1, "armed": True}, {"number": 2, "armed": False}]
ACTIVE_MIX = [JobState.QUEUED] * 5 + [JobState.DELIVERED, JobState.DOWNLOADING, JobState.DOWNLOADING,
                                       JobState.DOWNLOADED, JobState.READY]
BENCH_USER = "bench"


def bench_user():
    user, created = get_user_model().objects.get_or_create(
        username=BENCH_USER, defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def device_types_and_releases() -> list[tuple[DeviceType, Release]]:
    pairs = []
    for code, name, current, _, hardware, _ in DEVICE_TYPES:
        device_type, _ = DeviceType.objects.get_or_create(code=code, defaults={"name": name})
        release = Release.objects.filter(device_type=device_type, is_current=True).first()
        if release is None:
            # A placeholder archive name: these benches never download it.
            release = Release.objects.create(
                device_type=device_type, version=current, hardware_revisions=hardware,
                archive=f"releases/bench-{code}-{current}.swu", filename=f"bench-{code}-{current}.swu",
                size=300_000, sha256="0" * 64, sha1="0" * 40, md5="0" * 32, is_current=True,
            )
        pairs.append((device_type, release))
    return pairs


def fleet_ensure(ctx, *, profile: str, size: int, wakeup_url: str = "") -> Receiver:
    code = f"{profile}-{size}"
    marker = f"bench fleet {profile} {size} v{FILL_VERSIONS[profile]}"
    receiver = Receiver.objects.filter(code=code).first()
    if receiver and receiver.name == marker and Device.objects.filter(receiver=receiver).count() == size:
        ctx.log(f"fleet {code}: reusing {size:,} devices")
        return _keep_online(receiver)
    if receiver:
        ctx.log(f"fleet {code}: incomplete or outdated, deleting it")
        fleet_delete(receiver)
    watch = fill.Stopwatch()
    # The name is written last: a fill that dies half-way leaves a receiver that is not reused.
    receiver = Receiver.objects.create(code=code, name=f"filling {profile} {size}", wakeup_url=wakeup_url)
    pairs = device_types_and_releases()
    if profile == "mixed":
        _fill(receiver, size, _mixed_devices(size, pairs))
    elif profile == "outdated":
        _fill(receiver, size, _outdated_devices(size, pairs[0]))
    elif profile == "find":
        _fill(receiver, size, _mixed_devices(size, pairs[:1]), names=_site_names(size))
    else:
        raise ValueError(profile)
    fill.analyze(Site, Device, UpdateJob)
    Receiver.objects.filter(pk=receiver.pk).update(name=marker)
    receiver.refresh_from_db()
    ctx.note(f"filled fleet {code} ({size:,} devices) in {watch}")
    return _keep_online(receiver)


def _keep_online(receiver: Receiver) -> Receiver:
    """Devices "seen lately" were seen when the fleet was filled. Rather than rewrite a million
    last_seen values on each reuse, the receiver's poll interval grows with the fleet's age,
    so the same devices count as online (and the stale ones, a month old, as offline)."""
    age = timezone.now() - receiver.created_at
    receiver.poll_sleep = timedelta(minutes=5) + age / settings.DEVICE_OFFLINE_AFTER_POLLS
    Receiver.objects.filter(pk=receiver.pk).update(poll_sleep=receiver.poll_sleep)
    return receiver


def fleet_delete(receiver: Receiver) -> None:
    devices = f"SELECT id FROM {Device._meta.db_table} WHERE receiver_id = %s"
    jobs = f"SELECT id FROM {UpdateJob._meta.db_table} WHERE device_id IN ({devices})"
    with transaction.atomic():
        fill.delete_where(UpdateJobEvent, f"job_id IN ({jobs})", [receiver.pk])
        fill.delete_where(UpdateJob, f"device_id IN ({devices})", [receiver.pk])
        _rollout_rows_delete(receiver)
        fill.delete_where(Device, "receiver_id = %s", [receiver.pk])
        fill.delete_where(Site, "receiver_id = %s", [receiver.pk])
        fill.delete_where(Receiver, "id = %s", [receiver.pk])


def _rollout_rows_delete(receiver: Receiver) -> None:
    """The receiver's rollouts with their waves and history (raw deletes: no ORM cascade)."""
    rollouts = f"SELECT id FROM {Rollout._meta.db_table} WHERE receiver_id = %s"
    for model in (RolloutWave, RolloutEvent):
        fill.delete_where(model, f"rollout_id IN ({rollouts})", [receiver.pk])
    fill.delete_where(Rollout, "receiver_id = %s", [receiver.pk])


def rollouts_clear(receiver: Receiver) -> None:
    """Delete the receiver's rollouts, their jobs, events, waves and the queued wake-up and
    task messages: the next run starts as the first. The tables the rollout wrote are
    vacuumed (PostgreSQL) and the tallies folded, as autovacuum and beat would between two
    rollouts."""
    import shutil
    from pathlib import Path


    jobs = f"SELECT id FROM {UpdateJob._meta.db_table} WHERE rollout_id IN " \
           f"(SELECT id FROM {Rollout._meta.db_table} WHERE receiver_id = %s)"
    with transaction.atomic():
        fill.active_jobs_forget(receiver.pk)
        fill.delete_where(UpdateJobEvent, f"job_id IN ({jobs})", [receiver.pk])
        fill.delete_where(UpdateJob, f"id IN ({jobs})", [receiver.pk])
        _rollout_rows_delete(receiver)
    # Dead rows of the last run out of the way, its tallies folded.
    fill.analyze(UpdateJob, UpdateJobEvent, Device, Rollout, RolloutWave, RolloutEvent)
    folder = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).get("data_folder_in")
    if folder and Path(folder).is_dir():
        shutil.rmtree(folder)
        Path(folder).mkdir()


def rollouts_history_fill(receiver: Receiver, device_type: DeviceType, user, count: int, *, jobs_each: int) -> None:
    """`count` earlier rollouts of the type on the receiver, older than every other: completed
    (one in ten stopped), 3 waves, 5 history events and `jobs_each` finished jobs each, on a
    slice of the fleet of their own (bench `rollouts`: the API's list)."""
    if count <= 0:
        return
    release = Release.objects.get(device_type=device_type, is_current=True)
    fleet = list(Device.objects.filter(receiver=receiver).order_by("pk").values_list("pk", flat=True))
    oldest = Rollout.objects.order_by("created_at").values_list("created_at", flat=True).first() or timezone.now()
    rollout_id, wave_id, event_id, job_id = (fill.next_id(m) for m in (Rollout, RolloutWave, RolloutEvent, UpdateJob))
    v = fill.column_value
    rollouts, waves, events, jobs = [], [], [], []
    sizes = (1, jobs_each // 10, jobs_each - 1 - jobs_each // 10)
    outcome = [JobState.SUCCEEDED] * 8 + [JobState.FAILED, JobState.CANCELLED]
    for i in range(count):
        r = rollout_id + i
        created = oldest - timedelta(hours=count - i)
        stopped = i % 10 == 9
        at = [v(Rollout, "created_at", created + timedelta(minutes=m)) for m in range(6)]
        rollouts.append((r, receiver.pk, device_type.pk, release.pk, "stopped" if stopped else "completed",
                         jobs_each, jobs_each, jobs_each, jobs_each, 3, user.pk, at[0], at[1], at[5]))
        for number, size in enumerate(sizes, start=1):
            waves.append((wave_id + len(waves), r, number, None if number == 3 else sum(sizes[:number]), size, size,
                          "stopped" if stopped and number == 3 else "succeeded", True, at[number], at[number + 1]))
        for e, kind in enumerate(("started", "wave_started", "wave_started", "wave_started",
                                  "stopped" if stopped else "completed")):
            events.append((event_id + len(events), r, at[e], user.pk, user.username, kind,
                           v(RolloutEvent, "details", {"wave": min(e, 3)})))
        first_wave = wave_id + 3 * i
        for n in range(jobs_each):  # each rollout its own slice of the fleet
            device = fleet[(i * jobs_each + n) % len(fleet)]
            state = outcome[n % len(outcome)]
            wave = first_wave + (0 if n < sizes[0] else 1 if n < sizes[0] + sizes[1] else 2)
            jobs.append((job_id + len(jobs), device, release.pk, r, wave, state, release.size, at[2], at[3],
                         at[4] if state == JobState.SUCCEEDED else None, at[4]))
    with transaction.atomic():
        fill.bulk_insert(Rollout, ("id", "receiver_id", "device_type_id", "release_id", "state", "total",
                                   "eligible", "processed", "queued", "current_wave", "created_by_id",
                                   "created_at", "started_at", "finished_at"), rollouts)
        fill.bulk_insert(RolloutWave, ("id", "rollout_id", "number", "target", "size", "queued", "state",
                                       "queueing_done", "started_at", "finished_at"), waves)
        fill.bulk_insert(RolloutEvent, ("id", "rollout_id", "at", "actor_id", "actor_label", "kind", "details"),
                         events)
        fill.bulk_insert(UpdateJob, ("id", "device_id", "release_id", "rollout_id", "wave_id", "state",
                                     "bytes_total", "created_at", "state_changed_at", "confirmed_at",
                                     "finished_at"), jobs)
    fill.sequences_reset(Rollout, RolloutWave, RolloutEvent, UpdateJob)
    fill.analyze(Rollout, RolloutWave, RolloutEvent, UpdateJob)


class _Kind:
    """One combination of device columns, turned into driver values once, not per row."""

    def __init__(self, device_type, hardware, version, channels, last_seen):
        v = fill.column_value
        self.values = (
            device_type.pk, hardware, version, version_key(version), v(Device, "channels", channels),
            bool({"gprs", "ethernet"} & set(channels)), v(Device, "partitions", PARTITIONS),
            v(Device, "last_seen", last_seen),
        )


DEVICE_COLUMNS = ("id", "site_id", "receiver_id", "serial", "device_type_id", "hardware_revision",
                  "firmware_version", "firmware_version_key", "channels", "has_ip_channel",
                  "partitions", "last_seen")


def _mixed_devices(size, pairs):
    """Yields (kind, job state or None, job release) per device; seeded, so fills repeat."""
    rng = random.Random(size)
    now = timezone.now()
    seen = [now - timedelta(minutes=2)] * 17 + [now - timedelta(days=30)] * 2 + [None]
    weights = [share for *_, share in DEVICE_TYPES][:len(pairs)]
    kinds: dict[tuple, _Kind] = {}

    def kind(t, hardware, version, channels, last_seen):
        key = (t, hardware, version, tuple(channels), last_seen)
        if key not in kinds:
            kinds[key] = _Kind(pairs[t][0], hardware, version, channels, last_seen)
        return kinds[key]

    for _ in range(size):
        t = rng.choices(range(len(pairs)), weights)[0]
        _, _, current, old, hardware, _ = DEVICE_TYPES[t]
        release = pairs[t][1]
        bucket = rng.randrange(100)
        hw, channels, version, job = rng.choice(hardware), ["gprs", "gsm_voice"], rng.choice(old), None
        if bucket < 50:
            version = current
            job = JobState.SUCCEEDED if bucket < 10 else None
        elif bucket < 70:
            job = rng.choice(ACTIVE_MIX)
        elif bucket < 80:
            channels = ["gsm_voice", "sms"]
        elif bucket < 83:
            hw = UNSUPPORTED_HARDWARE
        elif bucket < 91:
            job = rng.choice([JobState.FAILED, JobState.CANCELLED])
        if bucket % 10 == 0 and channels[0] == "gprs":
            channels = ["ethernet", "gprs"]
        yield kind(t, hw, version, channels, rng.choice(seen)), job, release


STREETS = ["Harbour St", "Mill Rd", "Station Sq", "Birch Ave", "Fjord Way", "North Quay", "Old Market",
           "Linden Ln", "Castle Hill", "Pine Ct", "Granite Blvd", "Lake View"]
OWNERS = ["Nordlys", "Berg", "Dahl", "Fjell", "Hagen", "Lund", "Moen", "Strand", "Vik", "Aas", "Holm", "Foss"]
KINDS = ["Bakery", "Pharmacy", "School", "Warehouse", "Kiosk", "Clinic", "Library", "Garage", "Bank branch",
         "Jeweller", "Petrol station", "Kindergarten", "Post office", "Cafe", "Hardware store"]


def _site_names(size) -> list[tuple[str, str]]:
    """(name, address) per site, seeded."""
    rng = random.Random(f"names-{size}")
    return [(f"{rng.choice(OWNERS)} {rng.choice(KINDS)}", f"{rng.choice(STREETS)} {rng.randint(1, 200)}")
            for _ in range(size)]


def _outdated_devices(size, pair):
    device_type, release = pair
    _, _, _, old, hardware, _ = DEVICE_TYPES[0]
    now = timezone.now() - timedelta(minutes=1)
    kinds = [_Kind(device_type, hw, old[0], ["gprs"], now) for hw in hardware]
    for i in range(size):
        yield kinds[i % len(kinds)], JobState.FAILED if i % 20 == 7 else None, release


def _fill(receiver: Receiver, size: int, devices, names: list[tuple[str, str]] | None = None) -> None:
    site_id, device_id, job_id = fill.next_id(Site), fill.next_id(Device), fill.next_id(UpdateJob)
    devices = list(devices)
    now = timezone.now()
    finished = fill.column_value(UpdateJob, "finished_at", now)
    rows, active_job, last_outcome = [], {}, {}
    for i, (_, state, release) in enumerate(devices):
        if state is None:
            continue
        active = state in ACTIVE_STATES
        done = release.size // 2 if state == JobState.DOWNLOADING else (0 if active else release.size)
        reason = "Device reported failure: checksum mismatch" if state == JobState.FAILED else ""
        if active:  # Device.active_job, as the services keep it
            active_job[i] = job_id + len(rows)
        else:  # Device.last_outcome, as they keep it too
            last_outcome[i] = state
        rows.append((job_id + len(rows), device_id + i, release.pk, state, done, release.size, reason,
                     None if active else finished))
    names = names or [("", "")] * size
    # One transaction: devices and jobs point at each other.
    with transaction.atomic():
        fill.bulk_insert(Site, ("id", "receiver_id", "number", "name", "address"),
                         ((site_id + i, receiver.pk, 1000 + i, *names[i]) for i in range(size)))
        fill.bulk_insert(Device, (*DEVICE_COLUMNS, "active_job_id", "last_outcome"), (
            (device_id + i, site_id + i, receiver.pk, f"{receiver.code}-{i:07d}") + kind.values
            + (active_job.get(i), last_outcome.get(i, "")) for i, (kind, _, _) in enumerate(devices)
        ))
        fill.bulk_insert(UpdateJob, ("id", "device_id", "release_id", "state", "bytes_downloaded",
                                     "bytes_total", "reason", "finished_at"), rows)
    fill.sequences_reset(Site, Device, UpdateJob)
