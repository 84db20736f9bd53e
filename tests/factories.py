"""factory-boy factories for the fleet."""

import hashlib

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction

from core.tokens import token_digest
from firmware_updates.models import ACTIVE_STATES, Release, UpdateJob
from receivers.models import Receiver
from sites.models import Device, DeviceType, Site


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"operator{n}")
    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or "correct horse battery")
        if create:
            self.save(update_fields=["password"])


class ReceiverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Receiver
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"rcv{n}")
    name = factory.LazyAttribute(lambda o: f"Receiver {o.code}")


class DeviceTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeviceType
        django_get_or_create = ("code",)

    code = "nord-gsm"
    name = "Nord GSM"


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    receiver = factory.SubFactory(ReceiverFactory)
    number = factory.Sequence(lambda n: 1000 + n)


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    class Params:
        token = None

    site = factory.SubFactory(SiteFactory)
    receiver = factory.LazyAttribute(lambda o: o.site.receiver)
    serial = factory.Sequence(lambda n: f"NG{n:08d}")
    device_type = factory.SubFactory(DeviceTypeFactory)
    hardware_revision = "2.1"
    firmware_version = "5.30"
    channels = factory.LazyFunction(lambda: ["gprs"])
    partitions = factory.LazyFunction(lambda: [{"number": 1, "armed": True}, {"number": 2, "armed": False}])
    token_hash = factory.LazyAttribute(lambda o: token_digest(o.token) if o.token else None)


class ReleaseFactory(factory.django.DjangoModelFactory):
    """A release row with a placeholder archive (for selectors and services that never read it)."""

    class Meta:
        model = Release

    device_type = factory.SubFactory(DeviceTypeFactory)
    version = "5.40"
    hardware_revisions = factory.LazyFunction(lambda: ["2.1", "2.2"])
    archive = factory.LazyAttribute(lambda o: ContentFile(b"placeholder", name=f"{o.device_type.code}-{o.version}.swu"))
    filename = factory.LazyAttribute(lambda o: f"{o.device_type.code}-{o.version}.swu")
    size = 11
    sha256 = hashlib.sha256(b"placeholder").hexdigest()
    sha1 = hashlib.sha1(b"placeholder").hexdigest()
    md5 = hashlib.md5(b"placeholder").hexdigest()
    is_current = True


class UpdateJobFactory(factory.django.DjangoModelFactory):
    """A job row in any state. An active one becomes its device's `active_job`, as the services
    that queue jobs do, a finished one (the newest) its `last_outcome`, as those that finish
    them do (tests.consistency checks both agree)."""

    class Meta:
        model = UpdateJob
        skip_postgeneration_save = True

    device = factory.SubFactory(DeviceFactory)
    release = factory.SubFactory(ReleaseFactory)
    bytes_total = factory.LazyAttribute(lambda o: o.release.size)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # The job and its device's pointer land in one transaction, as the services write them:
        # a worker's beat repairing Device.active_job must never see one without the other.
        with transaction.atomic():
            job = super()._create(model_class, *args, **kwargs)
            if job.state in ACTIVE_STATES:
                Device.objects.filter(pk=job.device_id).update(active_job=job)
                job.device.active_job_id = job.pk
            else:  # finished: how it ended, unless a job created after it is there
                newest = UpdateJob.objects.filter(device=job.device_id).order_by("-created_at", "-pk").first()
                if newest == job:
                    Device.objects.filter(pk=job.device_id).update(last_outcome=job.state)
                    job.device.last_outcome = job.state
        return job
