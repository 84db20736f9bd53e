import copy
import itertools
import os
from typing import NamedTuple

import pytest
from django.conf import settings as django_settings
from django.test.utils import override_settings
from django.utils import translation
from pytest_django.fixtures import validate_django_db

from core.db import PREPARED
from core.i18n import compile_all
from sites.last_seen import last_seen_discard
from tests.factories import DeviceFactory, DeviceTypeFactory, ReceiverFactory, ReleaseFactory


def pytest_collection_modifyitems(items):
    """Tests on committed data (`transactional_db`, `live_server`, `transaction=True`) may
    also use the `prepared` database alias (PostgreSQL; firmware_updates/ddi/lookup.py): the
    device requests they drive read through it, as in production. It is a test mirror of
    `default` (settings.py), the same database, so nothing else changes; Django refuses an
    alias a test has not named, even in the live server's threads."""
    if PREPARED not in django_settings.DATABASES:
        return
    for item in items:
        marker = item.get_closest_marker("django_db")
        transaction, reset_sequences, databases, serialized_rollback, available_apps = (
            validate_django_db(marker) if marker else (False, False, None, False, None)
        )
        fixtures = getattr(item, "fixturenames", ())
        if not (transaction or reset_sequences or "transactional_db" in fixtures
                or "live_server" in fixtures) or databases == "__all__":
            continue
        databases = {"default", *(databases or ()), PREPARED}
        item.add_marker(pytest.mark.django_db(
            transaction=transaction, reset_sequences=reset_sequences, databases=sorted(databases),
            serialized_rollback=serialized_rollback, available_apps=available_apps,
        ), append=False)


_TESTS = itertools.count()


@pytest.fixture(autouse=True)
def _cache_of_this_test():
    """Cache keys of this test only: with a Redis cache that outlives the test, a database
    flushed with its sequences reset (or recreated by a later run) reuses job ids, and an
    earlier test's `job-progress:<id>` would show through (a page saying 73 % for 40 %)."""
    caches = copy.deepcopy(django_settings.CACHES)
    caches["default"]["KEY_PREFIX"] = f"test-run-{os.getpid()}-{next(_TESTS)}"
    with override_settings(CACHES=caches):
        yield


@pytest.fixture(autouse=True, scope="session")
def _translations_compiled():
    """The Russian pages read the compiled catalogue: `make install` compiles it, and so does
    this, when the .po is newer than its .mo (a catalogue edited since the install)."""
    compile_all(only_stale=True)


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    """Artifacts of a test go to its own folder; passwords hash fast."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def eager_celery(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from securitycenter.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _language_of_this_test():
    """A request in Russian leaves Russian active in its thread (LocaleMiddleware activates the
    request's language and nothing puts it back): the next test starts in the default."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _last_seen_of_this_test():
    """Polls keep last_seen in memory until a flush (sites.last_seen); what one test's panels
    left there must not be written into the next test's database."""
    last_seen_discard()
    yield
    last_seen_discard()


class FleetRows(NamedTuple):
    receiver: object
    device_type: object
    release: object
    devices: list


@pytest.fixture
def fleet_sites() -> list[int]:
    """The site numbers `fleet` gives a panel; a test module overrides it for another fleet."""
    return [1204]


@pytest.fixture
def fleet(db, fleet_sites) -> FleetRows:
    """Rows only, no server: receiver `north`, device type Nord GSM with its current release
    5.40 (boards 2.1 and 2.2, 400,000 bytes) and, on each of `fleet_sites`, a panel `NG<site>`
    (board 2.1, 5.30, GPRS). tests/ddi's own `fleet` (a live server, a signed archive)
    replaces it there."""
    receiver, nord = ReceiverFactory(code="north"), DeviceTypeFactory()
    release = ReleaseFactory(device_type=nord, version="5.40", size=400_000)
    devices = [DeviceFactory(site__receiver=receiver, site__number=number, device_type=nord,
                             serial=f"NG{number}") for number in fleet_sites]
    return FleetRows(receiver, nord, release, devices)


@pytest.fixture(autouse=True)
def _device_tally_agrees(request):
    """Whatever a test wrote, the fleet's tally still counts its devices (sites/tally.py: kept
    by the database's triggers, so a write no service made counts too), the rollouts' job
    tally its jobs (firmware_updates/tally.py), and every panel's search text is its serial's and site's (sites/search.py, triggers too): checked after every
    test that used the database, before its data is rolled back or flushed."""
    fixtures = set(request.fixturenames)
    uses_db = request.node.get_closest_marker("django_db") is not None or bool(
        {"db", "transactional_db", "live_server", "django_db_reset_sequences"} & fixtures)
    if uses_db:
        request.getfixturevalue("_django_db_helper")  # set up first, so torn down after the check
    yield
    if uses_db:
        from sites import tally

        wrong = tally.differences()
        assert not wrong, f"the device tally differs from the devices (devices, tally): {wrong}"
        from firmware_updates.tally import JOB_TALLY

        wrong = JOB_TALLY.differences()
        assert not wrong, f"the job tally differs from the jobs (jobs, tally): {wrong}"
        from sites import search

        stale = search.stale()
        assert not stale, f"the search text or site of these panels differs from their serial and site: {stale}"
