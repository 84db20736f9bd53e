"""Bench `rollouts` (issue 9 "Benchmarks"): staged rollouts on an `outdated` fleet.

Through the services, the Celery task run inline (`services.rollout_run` is all the task
`rollout_run` does; the messages it would also get go to the bench's own on-disk broker,
never consumed):

1. start to canary queued: `rollout_start` with the default plan (canary 1 % clamped to
   1..20 sites, then 10 %, then the rest) + `rollout_run`, until the canary's 20 jobs are
   queued; also `rollout_start` alone. Every run starts on a fleet without rollouts.
2. a wave of 10,000 sites: a rollout planned `wave_counts=[20, 10020]`, its canary queued
   (untimed), then `rollout_advance` + `rollout_run` queue wave 2, with `ROLLOUT_BATCH_SIZE`
   1,000 / 5,000 / 10,000. Queries are counted per batch (`rollout_run_batch`, each in its
   own `CaptureQueriesContext`) and outside the batches.
3. the device type page (selector and panel page, as bench `update_all`): before any
   rollout, then with the rollout running: its canary queued, its wave 2 queued, every wave
   queued (a job on every site).
4. the API's list of rollouts, `GET /api/v1/rollouts/`, with 1,000 rollouts: the running
   one and 999 earlier ones (completed or stopped, 3 waves, 5 history events and 100
   finished jobs each, bulk-inserted), at the default page size (50) and `page_size=1000`;
   with the running one's wave 2 queued, then every wave.

Goals (PostgreSQL, 100,000 sites): start to canary under 1 s; a wave's queries constant
per batch; the device type page under 100 ms; the API's default page under 100 ms.
"""

from functools import partial

from .report import find, fmt, goal_line, table, timed_table

TITLE = "staged rollouts: start to canary, a wave's batches, device type page, rollouts API"
DEFAULT_SIZES = (100_000,)
DATABASES = ("sqlite", "postgres")
CANARY, WAVE = 20, 10_000
BATCH_SIZES = (1_000, 5_000, 10_000)
HISTORY, HISTORY_JOBS = 1_000, 100  # rollouts in the API's list; finished jobs of each earlier one
API_URL = "/api/v1/rollouts/"
GOAL_START_S, GOAL_PAGE_MS, GOAL_API_MS = 1, 100, 100


def run(ctx) -> dict:
    from django.conf import settings

    from sites.models import DeviceType

    from . import fleets, panel, update_all

    rows: list[dict] = []
    user = fleets.bench_user()
    client = panel.logged_in_client(user)
    explain = ctx.out_dir / f"rollouts-{ctx.db}-explain.txt" if ctx.explain else None
    if explain:
        explain.unlink(missing_ok=True)
    ctx.note(f"ROLLOUT_BATCH_SIZE={settings.ROLLOUT_BATCH_SIZE} (every case but 2)")
    for size in ctx.sizes:
        receiver = fleets.fleet_ensure(ctx, profile="outdated", size=size, wakeup_url=update_all.WAKEUP_URL)
        device_type = DeviceType.objects.get(code=fleets.DEVICE_TYPES[0][0])
        bench = _Bench(ctx, user, receiver, device_type, size, explain)
        fleets.rollouts_clear(receiver)
        pages = partial(bench.pages, client)
        rows += pages("no rollout")
        rows += bench.start_to_canary()
        rows += pages(f"rollout running, canary ({CANARY}) queued")
        for batch_size in BATCH_SIZES:
            rows += bench.wave(batch_size)
        wave_2 = f"wave 2 queued ({CANARY + WAVE:,} jobs)"
        rows += pages(f"rollout running, {wave_2}")
        rows += bench.api_list(client, wave_2)
        bench.last_wave()
        every = f"every wave queued ({size:,} jobs)"
        rows += pages(f"rollout running, {every}")
        rows += bench.api_list(client, every)
        fleets.rollouts_clear(receiver)
    if explain:
        ctx.note(f"query plans: {explain}")
    return {"rows": rows}


class _Bench:
    def __init__(self, ctx, user, receiver, device_type, size, explain):
        self.ctx, self.user, self.receiver, self.device_type = ctx, user, receiver, device_type
        self.size, self.explain = size, explain

    def pages(self, client, when: str) -> list[dict]:
        from . import update_all

        return update_all.device_type_pages(self.ctx, client, self.receiver, self.device_type, self.size, when,
                                            self.explain)

    def _measure(self, case: str, fn, *, setup, count, **extra) -> dict:
        """Timed runs of `fn` (each after `setup`), then one more counting its queries."""
        from . import timing

        figures = timing.measure(fn, runs=self.ctx.runs, budget=self.ctx.budget, warmup=1, setup=setup)
        setup()
        queries, captured = timing.count_queries(count or fn)
        row = {"case": case, "size": self.size, "queries": queries, **figures, **extra}
        self.ctx.log(f"{case}: {figures} {queries} queries")
        if self.explain:
            timing.explain_slowest(captured, path=self.explain, title=f"{case}, {self.size:,}")
        return row

    def _start(self, **plan):
        from firmware_updates.services import rollout_start

        rollout, created = rollout_start(receiver=self.receiver, device_type=self.device_type, actor=self.user, **plan)
        assert created, "a rollout was still open"
        return rollout

    def _clear(self):
        from . import fleets

        fleets.rollouts_clear(self.receiver)

    def _check(self, case: str, rollout, *, wave: int, queued: int) -> None:
        from firmware_updates.models import Rollout

        rollout = Rollout.objects.get(pk=rollout.pk)
        found = (rollout.state, rollout.current_wave, rollout.queued)
        if found != (Rollout.State.RUNNING, wave, queued):
            self.ctx.note(f"{case}: state, wave, queued = {found}, expected running, {wave}, {queued:,}")

    def start_to_canary(self) -> list[dict]:
        from firmware_updates.services import rollout_run

        started = []

        def start_only():
            started.append(self._start())

        def start_and_canary():
            rollout = self._start()
            rollout_run(rollout_id=rollout.pk)  # the task, inline
            started.append(rollout)

        rows = [self._measure("rollout_start", start_only, setup=self._clear, count=None),
                self._measure("start to canary queued", start_and_canary, setup=self._clear, count=None)]
        self._check("start to canary queued", started[-1], wave=1, queued=CANARY)
        return rows

    def wave(self, batch_size: int) -> list[dict]:
        """Wave 2 of a rollout planned [20, 10,020]: 10,000 sites in batches of `batch_size`."""
        from unittest import mock

        from django.db import connection
        from django.test import override_settings
        from django.test.utils import CaptureQueriesContext

        from firmware_updates.services import rollout_advance, rollout_run
        from firmware_updates.services import rollouts as service

        current = []

        def setup():
            self._clear()
            current[:] = [self._start(wave_counts=[CANARY, CANARY + WAVE])]
            rollout_run(rollout_id=current[0].pk)

        def advance():
            rollout_advance(rollout=current[0], actor=self.user)
            rollout_run(rollout_id=current[0].pk)  # the task the advance enqueues, inline

        per_batch: list[int] = []
        run_batch = service.rollout_run_batch

        def counted_batch(**kwargs):
            with CaptureQueriesContext(connection) as captured:
                more = run_batch(**kwargs)
            per_batch.append(len(captured.captured_queries))
            return more

        def advance_counted():
            per_batch.clear()
            with mock.patch.object(service, "rollout_run_batch", counted_batch):
                advance()

        case = f"wave of {WAVE:,}, batches of {batch_size:,}"
        with override_settings(ROLLOUT_BATCH_SIZE=batch_size):
            row = self._measure(case, advance, setup=setup, count=advance_counted, batch_size=batch_size)
        self._check(case, current[0], wave=2, queued=CANARY + WAVE)
        row.update(batches=len(per_batch), per_batch=per_batch, outside_batches=row["queries"] - sum(per_batch))
        self.ctx.log(f"{case}: queries per batch {per_batch}, outside the batches {row['outside_batches']}")
        return [row]

    def last_wave(self) -> None:
        """The running rollout's last wave queued (advanced by hand: its earlier waves' jobs
        never end here): every site has a job of it."""
        from firmware_updates.models import Rollout
        from firmware_updates.services import rollout_advance, rollout_run

        rollout = Rollout.objects.get(receiver=self.receiver, state=Rollout.State.RUNNING)
        rollout_advance(rollout=rollout, actor=self.user)
        rollout_run(rollout_id=rollout.pk)
        self._check("last wave", rollout, wave=3, queued=self.size)

    def api_list(self, client, running: str) -> list[dict]:
        from firmware_updates.models import Rollout

        from . import timing

        _history_fill(self.receiver, self.device_type, self.user, HISTORY - Rollout.objects.count())
        total = Rollout.objects.count()
        if total != HISTORY:
            self.ctx.note(f"API list: {total:,} rollouts, expected {HISTORY:,}")
        rows = []
        for label, url, expected in (("default page (50)", API_URL, 50),
                                     ("page_size=1000", f"{API_URL}?page_size=1000", HISTORY)):

            def get(url=url):
                response = client.get(url, HTTP_ACCEPT="application/json")
                assert response.status_code == 200, response.status_code
                return response.json()

            body = get()
            if (body["count"], len(body["results"])) != (total, min(expected, total)):
                self.ctx.note(f"API {label}: count {body['count']}, {len(body['results'])} results")
            figures = timing.measure(get, runs=self.ctx.runs, budget=self.ctx.budget)
            queries, captured = timing.count_queries(get)
            case = f"GET {API_URL}, {total:,} rollouts, {label}, the running one: {running}"
            rows.append({"case": case, "size": self.size, "queries": queries, **figures})
            self.ctx.log(f"{case}: {figures} {queries} queries")
            if self.explain:
                timing.explain_slowest(captured, path=self.explain, title=case)
        return rows


def _history_fill(receiver, device_type, user, count: int) -> None:
    """`count` earlier rollouts of the type on the receiver, older than every other: completed
    (one in ten stopped), 3 waves, 5 history events and `HISTORY_JOBS` finished jobs each."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from firmware_updates.models import (
        JobState,
        Release,
        Rollout,
        RolloutEvent,
        RolloutWave,
        UpdateJob,
    )
    from sites.models import Device

    from . import fill

    if count <= 0:
        return
    release = Release.objects.get(device_type=device_type, is_current=True)
    fleet = list(Device.objects.filter(receiver=receiver).order_by("pk").values_list("pk", flat=True))
    oldest = Rollout.objects.order_by("created_at").values_list("created_at", flat=True).first() or timezone.now()
    rollout_id, wave_id, event_id, job_id = (fill.next_id(m) for m in (Rollout, RolloutWave, RolloutEvent, UpdateJob))
    v = fill.column_value
    rollouts, waves, events, jobs = [], [], [], []
    sizes = (1, HISTORY_JOBS // 10, HISTORY_JOBS - 1 - HISTORY_JOBS // 10)
    outcome = [JobState.SUCCEEDED] * 8 + [JobState.FAILED, JobState.CANCELLED]
    for i in range(count):
        r = rollout_id + i
        created = oldest - timedelta(hours=count - i)
        stopped = i % 10 == 9
        at = [v(Rollout, "created_at", created + timedelta(minutes=m)) for m in range(6)]
        rollouts.append((r, receiver.pk, device_type.pk, release.pk, "stopped" if stopped else "completed",
                         HISTORY_JOBS, HISTORY_JOBS, HISTORY_JOBS, HISTORY_JOBS, 3, user.pk, at[0], at[1], at[5]))
        for number, size in enumerate(sizes, start=1):
            waves.append((wave_id + len(waves), r, number, None if number == 3 else sum(sizes[:number]), size, size,
                          "stopped" if stopped and number == 3 else "succeeded", True, at[number], at[number + 1]))
        for e, kind in enumerate(("started", "wave_started", "wave_started", "wave_started",
                                  "stopped" if stopped else "completed")):
            events.append((event_id + len(events), r, at[e], user.pk, user.username, kind,
                           v(RolloutEvent, "details", {"wave": min(e, 3)})))
        first_wave = wave_id + 3 * i
        for n in range(HISTORY_JOBS):  # each rollout its own slice of the fleet
            device = fleet[(i * HISTORY_JOBS + n) % len(fleet)]
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


def report(results: dict) -> str:
    dbs = [db for db in ("sqlite", "postgres") if db in results]
    rows = {db: results[db]["rows"] for db in dbs}
    sizes = sorted({r["size"] for db in dbs for r in rows[db]})
    out = []
    for size in sizes:
        starts = [("rollout_start", size), ("start to canary queued", size)]
        out += [f"1. start to canary ({CANARY} sites), {size:,} sites", timed_table(results, starts), ""]
        headers = ["batch size", "database", "median ms", "p95 ms", "min ms", "batches", "queries per batch",
                   "outside batches", "queries"]
        lines = []
        for batch_size in BATCH_SIZES:
            for db in dbs:
                row = find(rows[db], batch_size=batch_size, size=size) or {}
                per_batch = sorted(set(row.get("per_batch", [])))
                lines.append([batch_size, db, row.get("median_ms"), row.get("p95_ms"), row.get("min_ms"),
                              row.get("batches"), " / ".join(map(fmt, per_batch)) or None,
                              row.get("outside_batches"), row.get("queries")])
        out += [f"2. a wave of {WAVE:,} sites (rollout_advance + rollout_run)", table(headers, lines), ""]
        pages = [(r["case"], size) for r in rows[dbs[0]] if r["size"] == size and
                 r["case"].endswith(("no rollout", "queued", "jobs)"))] if dbs else []
        out += ["3. device type page", timed_table(results, pages, label="page"), ""]
        api = [(r["case"], size) for r in rows[dbs[0]] if r["size"] == size and r["case"].startswith("GET")]
        out += ["4. rollouts API", timed_table(results, api), ""]
    pg = results.get("postgres", {}).get("rows", [])
    start = find(pg, case="start to canary queued", size=100_000) or {}
    out.append(goal_line("start to canary queued, 100,000 sites on PostgreSQL, median",
                         start.get("median_ms") and start["median_ms"] / 1000, GOAL_START_S, "s"))
    constant = {tuple(sorted(set(r["per_batch"]))) for db in dbs for r in rows[db] if "per_batch" in r}
    out.append(f"goal: queries constant per batch: per batch {sorted(constant)} (one value per database) -> "
               + ("met" if all(len(c) == 1 for c in constant) else "NOT met"))
    page = max((r["median_ms"] for r in pg if r["size"] == 100_000 and r["case"].startswith("panel page")),
               default=None)
    out.append(goal_line("device type panel page, rollout running, 100,000 sites on PostgreSQL, slowest median",
                         page, GOAL_PAGE_MS, "ms"))
    api = max((r["median_ms"] for r in pg if r["case"].startswith("GET") and "default" in r["case"]), default=None)
    out.append(goal_line(f"{API_URL} default page, {HISTORY:,} rollouts on PostgreSQL, slowest median", api,
                         GOAL_API_MS, "ms"))
    return "\n".join(out)
