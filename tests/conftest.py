import pytest


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Artifacts of a test go to its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def eager_celery(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from securitycenter.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False
