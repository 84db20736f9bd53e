"""What a server process does once its application is loaded (securitycenter/wsgi.py)."""

import gc


def settle() -> None:
    """Load what the first requests would load anyway (every view module, by the URLconf),
    then take everything loaded out of the garbage collector's sight (`gc.freeze`).

    Django's modules, ours, their classes and functions live as long as the process, yet a
    full collection walks them all: ~130,000 objects, 60-140 ms on this 2-core machine, every
    few dozen pages of the panel (bench `find`: the p95 of a searched page was such a
    collection, 210 ms against a median of 87). Frozen, a full collection walks what the
    requests made since. Objects made later (templates compiled, catalogues read) are still
    collected as before."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every view module)
    gc.collect()  # what loading left as garbage is freed, not frozen
    gc.freeze()
