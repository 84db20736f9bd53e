"""Operators of each group and API clients acting as them."""

import io
import uuid

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from core.permissions import ENGINEERS, MANAGERS, VIEWERS
from firmware_updates.swu import build_archive
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _cache_of_its_own(settings):
    """Download progress is kept in the cache, which outlives a test's database rollback
    while SQLite hands the same job ids out again: each test starts with an empty cache."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"api-test-{uuid.uuid4()}"}}


def operator(group: str, username: str | None = None):
    user = UserFactory(**({"username": username} if username else {}))
    user.groups.add(Group.objects.get(name=group))
    return user


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def viewer():
    return operator(VIEWERS)


@pytest.fixture
def engineer():
    return operator(ENGINEERS)


@pytest.fixture
def manager():
    return operator(MANAGERS)


@pytest.fixture
def as_viewer(viewer):
    return client_for(viewer)


@pytest.fixture
def as_engineer(engineer):
    return client_for(engineer)


@pytest.fixture
def as_manager(manager):
    return client_for(manager)


def swu_archive(*, device_type="nord-gsm", version="5.40", hardware_revisions=("2.1", "2.2"),
                image=b"\x7fNORD firmware image\x00" * 512, name="nord-gsm-5.40.swu", **kwargs) -> io.BytesIO:
    """A real SWUpdate archive as vendors build it (firmware_updates.swu)."""
    out = io.BytesIO()
    build_archive(out, device_type=device_type, version=version, hardware_revisions=list(hardware_revisions),
                  images=[("fw.bin", image)], **kwargs)
    out.seek(0)
    out.name = name
    return out
