import copy
import os

import pytest
from django.conf import settings as django_settings
from django.test.utils import override_settings

from sites.last_seen import last_seen_discard


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
