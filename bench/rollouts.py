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

    from . import fleets, update_all

    rows: list[dict] = []
    explain = ctx.explain_file()
    ctx.note(f"ROLLOUT_BATCH_SIZE={settings.ROLLOUT_BATCH_SIZE} (every case but 2)")
    for size in ctx.sizes:
        receiver = fleets.fleet_ensure(ctx, profile="outdated", size=size, wakeup_url=update_all.WAKEUP_URL)
        fleets.rollouts_clear(receiver)
        bench = _Bench(ctx, receiver, size, explain)
        rows += bench.pages("no rollout")
        rows += bench.start_to_canary()
        rows += bench.pages(f"rollout running, canary ({CANARY}) queued")
        for batch_size in BATCH_SIZES:
            rows += bench.wave(batch_size)
        wave_2 = f"wave 2 queued ({CANARY + WAVE:,} jobs)"
        rows += bench.pages(f"rollout running, {wave_2}")
        rows += bench.api_list(wave_2)
        bench.last_wave()
        every = f"every wave queued ({size:,} jobs)"
        rows += bench.pages(f"rollout running, {every}")
        rows += bench.api_list(every)
        fleets.rollouts_clear(receiver)
    if explain:
        ctx.note(f"query plans: {explain}")
    return {"rows": rows}


class _Bench:
    """The cases on one fleet, as the bench's operator (a logged-in client for the pages)."""

    def __init__(self, ctx, receiver, size, explain):
        from sites.models import DeviceType

        from . import fleets, panel

        self.ctx, self.receiver, self.size, self.explain = ctx, receiver, size, explain
        self.device_type = DeviceType.objects.get(code=fleets.DEVICE_TYPES[0][0])
        self.user = fleets.bench_user()
        self.client = panel.logged_in_client(self.user)

    def pages(self, when: str) -> list[dict]:
        """The page as an operator finds it a minute after the writes before it: the tallies
        folded by beat, the tables vacuumed and analysed by autovacuum (`fill.analyze`)."""
        from firmware_updates.models import UpdateJob
        from sites.models import Device

        from . import fill, update_all

        fill.analyze(UpdateJob, Device)
        return update_all.device_type_pages(self.ctx, self.client, self.receiver, self.device_type, self.size,
                                            when, self.explain)

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
        from firmware_updates.models import Rollout, UpdateJob
        from firmware_updates.services import rollout_advance, rollout_run
        from sites.models import Device

        from . import fill

        rollout = Rollout.objects.get(receiver=self.receiver, state=Rollout.State.RUNNING)
        rollout_advance(rollout=rollout, actor=self.user)
        rollout_run(rollout_id=rollout.pk)
        self._check("last wave", rollout, wave=3, queued=self.size)
        # As autovacuum and beat leave production a minute later (90,000 new jobs): the
        # planner's estimates for this rollout's jobs are stale until then, the tallies unfolded.
        fill.analyze(UpdateJob, Device)

    def api_list(self, running: str) -> list[dict]:
        from firmware_updates.models import Rollout

        from . import fleets, timing

        fleets.rollouts_history_fill(self.receiver, self.device_type, self.user, HISTORY - Rollout.objects.count(),
                                     jobs_each=HISTORY_JOBS)
        total = Rollout.objects.count()
        if total != HISTORY:
            self.ctx.note(f"API list: {total:,} rollouts, expected {HISTORY:,}")
        rows = []
        for label, url, expected in (("default page (50)", API_URL, 50),
                                     ("page_size=1000", f"{API_URL}?page_size=1000", HISTORY)):

            def get(url=url):
                response = self.client.get(url, HTTP_ACCEPT="application/json")
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
                 r["case"].startswith(("device_type_sites", "paginator", "panel page"))] if dbs else []
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
    page = max((r["median_ms"] for r in pg if r["size"] == 100_000 and r["case"].startswith("panel page, rollout running")),
               default=None)
    out.append(goal_line("device type panel page, rollout running, 100,000 sites on PostgreSQL, slowest median",
                         page, GOAL_PAGE_MS, "ms"))
    api = max((r["median_ms"] for r in pg if r["case"].startswith("GET") and "default" in r["case"]), default=None)
    out.append(goal_line(f"{API_URL} default page, {HISTORY:,} rollouts on PostgreSQL, slowest median", api,
                         GOAL_API_MS, "ms"))
    return "\n".join(out)
