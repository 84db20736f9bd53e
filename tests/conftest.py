import pytest

from sites.last_seen import last_seen_discard


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
