"""The list of benches: name -> module. Add a bench by adding its module here.

A bench module (see `bench/stats.py` for a full one) defines:

- `TITLE` — one line for `python -m bench --list`;
- `DEFAULT_SIZES` — fleet sizes it runs when `--sizes` is not given (may be empty);
- `DATABASES` — the databases it makes sense on, e.g. `("sqlite", "postgres")`;
- `run(ctx) -> dict` — called in a child process where Django is set up on that bench's own
  database (`ctx` is a `bench.child.Context`); returns `{"rows": [...], "notes": [...]}`,
  rows being flat dicts of numbers and labels, JSON-serialisable;
- `report(results) -> str` (optional) — called in the parent with the rows of every
  database (`{"sqlite": {...}, "postgres": {...}}`); returns the table(s) to print. Without it
  the runner prints every row as it is.

A module named `None` is planned but not written yet: it is listed, and `--only` says so.
"""

import importlib
from types import ModuleType

BENCHES: dict[str, str | None] = {
    "stats": "bench.stats",
    "update_all": "bench.update_all",
    "rollouts": "bench.rollouts",
    "find": "bench.find",
    # Device protocol and fleet simulator (issue "Devices update themselves").
    "ddi_poll": "bench.ddi_poll",
    "ddi_download": "bench.ddi_download",
    "wire": "bench.wire",
    "fleet": "bench.fleet_update",
    # Delta updates (issue 12): a Debian binary's version step, full archive vs delta.
    "deltas": "bench.deltas",
}


def bench_names(*, written_only: bool = False) -> list[str]:
    return [name for name, module in BENCHES.items() if module or not written_only]


def bench_module(name: str) -> ModuleType:
    module = BENCHES.get(name)
    if module is None:
        raise LookupError(
            f"bench {name!r} is not written yet" if name in BENCHES else f"no bench named {name!r}"
        )
    return importlib.import_module(module)
