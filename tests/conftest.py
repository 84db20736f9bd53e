import copy
import os

import pytest
from django.conf import settings as django_settings
from django.test.utils import override_settings
from pytest_django.fixtures import validate_django_db

from firmware_updates.ddi.lookup import PREPARED
from sites.last_seen import last_seen_discard


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


@pytest.fixture(autouse=True, scope="session")
def _cache_of_this_run():
    """Cache keys of this run only: with a Redis cache that outlives the run, a recreated test
    database reuses job ids, and an earlier run's `job-progress:<id>` would show through."""
    caches = copy.deepcopy(django_settings.CACHES)
    caches["default"]["KEY_PREFIX"] = f"test-run-{os.getpid()}"
    with override_settings(CACHES=caches):
        yield


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
def _last_seen_of_this_test():
    """Polls keep last_seen in memory until a flush (sites.last_seen); what one test's panels
    left there must not be written into the next test's database."""
    last_seen_discard()
    yield
    last_seen_discard()
