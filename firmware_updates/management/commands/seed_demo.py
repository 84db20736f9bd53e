"""Seed a demo: receivers, device types, signed releases, a fleet, and the fleet simulator's file.

Idempotent: a second run leaves an existing demo alone. Everything secret (signing key,
device tokens, the operator password) is generated here and kept under var/demo/, never in
the repository.
"""

import io
import json
import random
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from core.tokens import token_digest, token_generate
from firmware_updates import services, swu
from firmware_updates.models import Release
from firmware_updates.services.rollouts import rollout_order
from receivers.models import Receiver
from receivers.services import receiver_create
from sites.models import Device, DeviceType, RemoteUpdate, Site

DEMO_DIR = settings.VAR_DIR / "demo"
# (code, name, [(version, hardware revisions)], current version, channel mixes with weights)
DEVICE_TYPES = [
    ("nord-gsm", "Nord GSM", [("5.20", ["2.1", "2.2"]), ("5.30", ["2.1", "2.2"]), ("5.40", ["2.1", "2.2"])], "5.40",
     [(["gprs", "gsm_voice", "sms"], 8), (["gsm_voice", "sms"], 1)]),
    ("nord-lan", "Nord LAN", [("3.10", ["1.0", "1.1"]), ("3.12", ["1.1"])], "3.12",
     [(["ethernet"], 6), (["ethernet", "gprs"], 3)]),
    ("nord-pro", "Nord Pro", [("1.8", ["3.0"]), ("2.0", ["3.0", "3.1"])], "2.0",
     [(["ethernet", "gprs", "sms"], 5), (["gprs"], 2)]),
]
# Uploaded, never current by default: the story of a faulty release and the good one after it
# (README). 5.41 does not start on 30 % of the demo receiver's Nord GSM panels (fleetsim's
# fail_install fault): the first panel of its rollout's canary and then three of each ten in
# the rollout's order. 5.42 installs everywhere.
LATER_RELEASES = [("nord-gsm", "5.41", ["2.1", "2.2"]), ("nord-gsm", "5.42", ["2.1", "2.2"])]
FAULTY_RELEASE = ("nord-gsm", "5.41")
FAULTY_RANKS = (0, 3, 6)  # of each ten sites in the faulty release's rollout order
# Delta archives (issue 12): (device type, version, base versions). A panel on a base version
# is sent the delta instead of the full archive; fleetsim panels hold their version's real
# image (var/demo/images/) and patch it.
DELTAS = [("nord-gsm", "5.40", ["5.30"]), ("nord-gsm", "5.41", ["5.40"]), ("nord-gsm", "5.42", ["5.40", "5.41"])]
# Where a Nord GSM panel holds its running image and writes the next (its A/B slots).
BASE_DEVICE, TARGET_DEVICE = "/dev/mmcblk0p2", "/dev/mmcblk0p3"
HARDWARE = {"nord-gsm": [("2.1", 6), ("2.2", 3), ("1.0", 1)], "nord-lan": [("1.1", 7), ("1.0", 3)],
            "nord-pro": [("3.0", 1), ("3.1", 1)]}
DEMO_SITES = 300
# The alarm centre's side (docs/security-center.md): after its install one Nord LAN panel stays
# off the line (fleetsim's offline_after_install fault), so its site turns red with "did not
# come back" once its device type's expected offline window is over, which the demo shortens
# from the default 180 s so that it is seen within a couple of minutes.
NOT_RETURNING_TYPE = "nord-lan"
DEMO_EXPECTED_OFFLINE_SECONDS = 60
# (user, groups, superuser). The manager may also approve updates held at sites that ask for
# approval (issue 14): approvers are a group of their own, given here on top of managers.
OPERATORS = [("admin", ("managers",), True), ("manager", ("managers", "approvers"), False),
             ("engineer", ("engineers",), False), ("viewer", ("viewers",), False)]
# Issue 14: Nord Pro sites that ask for approval (the first outdated ones a rollout would
# queue, by site number), and a share of the panels whose mains fails now and then (simulated
# seconds, the demo runs in real time): ten minutes on battery each hour, the battery low after
# five of them and charged five minutes after the mains is back.
APPROVAL_SITES = ("nord-pro", 2)
POWER_OUTAGE_SHARE = 0.1
POWER_OUTAGES = {"mode": "outages", "outage_every": 3600, "outage_for": 600, "low_after": 300, "recharge_for": 300}


def pick(rng: random.Random, weighted):
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights=weights)[0]


class Command(BaseCommand):
    help = "Seed the demo receiver, fleet and signed releases (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--sites", type=int, default=DEMO_SITES)
        parser.add_argument("--server", default="http://127.0.0.1:8000")
        parser.add_argument("--wakeup-url", default="http://127.0.0.1:9100/")

    def handle(self, *args, sites, server, wakeup_url, **options):
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        fleet_file = DEMO_DIR / "fleet.json"
        if Receiver.objects.filter(code="demo").exists() and fleet_file.exists():
            self.stdout.write(f"Demo already seeded ({fleet_file.parent}): going on where it stopped.")
            return
        key_pem, cert_pem = self.signing_identity()
        with transaction.atomic():
            self.operators()
            images = self.releases(key_pem, cert_pem)
            panels = self.demo_receiver(sites, wakeup_url)
            for panel in panels:
                if (panel["device_type"], panel["firmware_version"]) in images:
                    panel["firmware_image"] = images[panel["device_type"], panel["firmware_version"]]
            failing = self.faulty_release_fails_on(panels)
            away = self.not_returning(panels)
            asking = self.sites_asking_for_approval()
            on_battery = self.power_outages(panels)
            self.seed_example()
        # fleetsim's fleet file (docs/fleetsim.md): panels verify signatures with the demo
        # certificate, and partitions arm and disarm now and then so installs can happen.
        fleet = {"defaults": {"trusted_certs_file": "signing-cert.pem",
                              "arming": {"mode": "random", "mean_toggle": 300}},
                 "panels": panels}
        fleet_file.write_text(json.dumps(fleet, indent=1))
        fleet_file.chmod(0o600)
        code, version = FAULTY_RELEASE
        self.stdout.write(self.style.SUCCESS(
            f"Seeded {sites} sites on the Central receiver, {len(panels)} of whose panels (those with GPRS or "
            f"Ethernet) the fleet simulator runs (fleet file {fleet_file}); {code} {version} (uploaded, not "
            f"current) does not start on {failing} of them. Site {away} ({NOT_RETURNING_TYPE}) stays off the "
            f"line after its install. Sites {', '.join(map(str, asking))} ask for approval; {on_battery} panels "
            f"lose mains power now and then."))

    def signing_identity(self) -> tuple[bytes, bytes]:
        key_path, cert_path = DEMO_DIR / "signing-key.pem", DEMO_DIR / "signing-cert.pem"
        if not key_path.exists():
            key_pem, cert_pem = swu.make_signing_identity("Nord demo firmware signing")
            key_path.write_bytes(key_pem)
            key_path.chmod(0o600)
            cert_path.write_bytes(cert_pem)
        return key_path.read_bytes(), cert_path.read_bytes()

    def operators(self) -> None:
        password_file = DEMO_DIR / "password"
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(9))
            password_file.chmod(0o600)
        password = password_file.read_text().strip()
        User = get_user_model()
        for username, groups, superuser in OPERATORS:
            user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": superuser,
                                                                             "is_superuser": superuser})
            user.set_password(password)
            user.save()
            user.groups.add(*Group.objects.filter(name__in=groups))

    def releases(self, key_pem: bytes, cert_pem: bytes) -> dict[tuple[str, str], str]:
        """Every release's archive (each version's image a step from the one before, as a
        compiler's output moves) and the deltas of DELTAS. Returns where each image is kept
        for fleetsim, relative to the fleet file."""
        later = {}
        for code, version, revisions in LATER_RELEASES:
            later.setdefault(code, []).append((version, revisions))
        (DEMO_DIR / "images").mkdir(exist_ok=True)
        files, images = {}, {}
        for code, name, versions, current, _ in DEVICE_TYPES:
            device_type, _ = DeviceType.objects.get_or_create(code=code, defaults={"name": name})
            image = None
            for version, revisions in versions + later.get(code, []):
                rng = random.Random(f"{code}-{version}")
                image = rng.randbytes(rng.randint(200_000, 480_000)) if image is None else evolve_image(image, rng)
                images[code, version] = image
                files[code, version] = f"images/{code}-{version}.bin"
                (DEMO_DIR / files[code, version]).write_bytes(image)
                release = Release.objects.filter(device_type=device_type, version=version).first()
                if release is None:
                    out = io.BytesIO()
                    swu.build_archive(out, device_type=code, version=version, hardware_revisions=revisions,
                                      images=[("firmware.bin", image)], key_pem=key_pem, cert_pem=cert_pem,
                                      description=f"{name} firmware {version}", device=TARGET_DEVICE)
                    release = services.release_create(
                        archive=ContentFile(out.getvalue(), name=f"{code}-{version}.swu"))
                if version == current:
                    services.release_mark_current(release=release)
        for code, version, bases in DELTAS:
            release = Release.objects.get(device_type__code=code, version=version)
            revisions = release.hardware_revisions
            for base in bases:
                if release.deltas.filter(base_version=base).exists():
                    continue
                out = io.BytesIO()
                swu.build_delta_archive(out, device_type=code, version=version, hardware_revisions=revisions,
                                        base_version=base, base_image=images[code, base], image=images[code, version],
                                        filename="firmware.bin.rdiff", base_device=BASE_DEVICE, device=TARGET_DEVICE,
                                        key_pem=key_pem, cert_pem=cert_pem)
                services.release_delta_create(
                    release=release, archive=ContentFile(out.getvalue(), name=f"{code}-{version}-from-{base}.swu"))
        return files

    def faulty_release_fails_on(self, panels: list[dict]) -> int:
        """Give the panels the faulty release does not start on the fail_install fault: three
        of each ten in the order its rollout would queue them, the canary's first included, so
        a rollout of it with the default waves halts at its canary. Returns how many."""
        code, version = FAULTY_RELEASE
        release = Release.objects.get(device_type__code=code, version=version)
        order = rollout_order(receiver=Receiver.objects.get(code="demo"), release=release)
        failing = {serial for rank, serial in enumerate(order.values_list("serial", flat=True))
                   if rank % 10 in FAULTY_RANKS}
        for panel in panels:
            if panel["serial"] in failing:
                panel["faults"] = {"fail_install": [version]}
        return len(failing)

    def sites_asking_for_approval(self) -> list[int]:
        """Remote update at the first outdated sites of APPROVAL_SITES' type that a rollout
        would queue needs approval: their jobs wait for the manager (approvers group)."""
        code, count = APPROVAL_SITES
        release = Release.objects.get(device_type__code=code, is_current=True)
        order = rollout_order(receiver=Receiver.objects.get(code="demo"), release=release)
        numbers = sorted(order.values_list("site__number", flat=True))[:count]
        Site.objects.filter(receiver__code="demo", number__in=numbers).update(remote_update=RemoteUpdate.APPROVAL)
        return numbers

    def power_outages(self, panels: list[dict]) -> int:
        """POWER_OUTAGES for a share of the panels (each its first outage within the first hour),
        so some wait for mains power or a charged battery before installing. Returns how many."""
        rng = random.Random(1405)
        chosen = [panel for panel in panels if rng.random() < POWER_OUTAGE_SHARE]
        for panel in chosen:
            panel["power"] = {**POWER_OUTAGES, "first_outage_at": rng.randrange(0, 3600, 60)}
        return len(chosen)

    def not_returning(self, panels: list[dict]) -> int:
        """Give the first outdated, eligible Nord LAN site the offline_after_install fault and
        shorten the demo types' expected offline window; returns that site's number (also
        written to var/demo/not-returning-site for rundemo's banner)."""
        DeviceType.objects.filter(code__in=[t[0] for t in DEVICE_TYPES]).update(
            expected_offline_seconds=DEMO_EXPECTED_OFFLINE_SECONDS)
        release = Release.objects.get(device_type__code=NOT_RETURNING_TYPE, is_current=True)
        online = {panel["serial"]: panel for panel in panels}
        number, serial = next(
            (number, serial) for number, serial in rollout_order(receiver=Receiver.objects.get(code="demo"),
                                                                  release=release)
            .order_by("site__number").values_list("site__number", "serial") if serial in online)
        online[serial]["faults"] = {**online[serial].get("faults", {}), "offline_after_install": True}
        (DEMO_DIR / "not-returning-site").write_text(str(number))
        return number

    def demo_receiver(self, sites: int, wakeup_url: str) -> list[dict]:
        receiver = Receiver.objects.filter(code="demo").first()
        if receiver is None:
            receiver, gateway_token = receiver_create(code="demo", name="Central receiver", wakeup_url=wakeup_url,
                                                      poll_sleep=timedelta(seconds=30))
            (DEMO_DIR / "gateway-token").write_text(gateway_token)
        rng = random.Random(1204)
        types = {code: DeviceType.objects.get(code=code) for code, *_ in DEVICE_TYPES}
        weights = {"nord-gsm": 6, "nord-lan": 3, "nord-pro": 2}
        panels, devices = [], []
        Site.objects.filter(receiver=receiver).delete()
        Device.objects.filter(receiver=receiver).delete()
        for i in range(sites):
            code = pick(rng, weights.items())
            spec = next(t for t in DEVICE_TYPES if t[0] == code)
            hardware = pick(rng, HARDWARE[code])
            # A board runs only versions built for it; an old board no release supports keeps
            # the oldest firmware (it shows as "hardware not supported").
            versions = [v for v, revisions in spec[2] if hardware in revisions] or [spec[2][0][0]]
            version = rng.choices(versions, weights=[1] * (len(versions) - 1) + [2])[0]
            channels = pick(rng, spec[4])
            partitions = [{"number": n, "armed": rng.random() < 0.6} for n in range(1, rng.randint(1, 4) + 1)]
            # The address takes the draws the name once took, so the fleet stays the one the README tells of.
            address = f"{rng.choice(STREETS)} {rng.randint(1, 120)}"
            site = Site.objects.create(receiver=receiver, number=1001 + i, name=site_name(i), address=address)
            token = token_generate()
            serial = f"{code.split('-')[1].upper()}{2400000 + i}"
            devices.append(Device(site=site, receiver=receiver, serial=serial, device_type=types[code],
                                  hardware_revision=hardware, firmware_version=version, channels=channels,
                                  partitions=partitions, token_hash=token_digest(token)))
            link = "ethernet" if channels[0] == "ethernet" else "gprs"
            panels.append({
                "serial": serial, "tenant": receiver.code, "token": token, "device_type": code,
                "hardware_revision": hardware, "firmware_version": version, "channels": channels,
                "partitions": partitions, "settings": {"entry_delay": rng.choice([15, 30, 45]), "zones": rng.randint(4, 32)},
                "link": link, "online": "gprs" in channels or "ethernet" in channels,
            })
        for device in devices:
            device.refresh_derived()
        Device.objects.bulk_create(devices)
        return [p for p in panels if p.pop("online")]

    def seed_example(self) -> None:
        """The seed's own example: 20 Nord GSM, current 5.40, 10 outdated (6 red, 4 yellow), 10 current."""
        if Receiver.objects.filter(code="example").exists():
            return
        receiver, _ = receiver_create(code="example", name="Example receiver (seed figures)")
        nord = DeviceType.objects.get(code="nord-gsm")
        now = timezone.now()
        for i in range(20):
            site = Site.objects.create(receiver=receiver, number=1 + i, name=f"Example site {1 + i}")
            Device.objects.create(site=site, receiver=receiver, serial=f"EXAMPLE{i:04d}", device_type=nord,
                                  hardware_revision="2.1", firmware_version="5.40" if i < 10 else "5.30",
                                  channels=["gprs"], partitions=[{"number": 1, "armed": True}], last_seen=now)
        admin = get_user_model().objects.get(username="admin")
        for number in (11, 12, 13, 14):
            services.update_job_create(receiver=receiver, site_number=number, actor=admin)


STREETS = ["Harbour St", "Mill Rd", "Station Sq", "Birch Ave", "Fjord Way", "North Quay", "Old Market",
           "Linden Ln", "Castle Hill", "Pine Ct", "Granite Blvd", "Lake View"]


def not_returning_site() -> str:
    path = DEMO_DIR / "not-returning-site"
    return path.read_text().strip() if path.exists() else ""


def evolve_image(image: bytes, rng: random.Random) -> bytes:
    """The next version's image: some words changed all over (addresses a compiler moved) and
    a few KB of new code inserted."""
    data = bytearray(image)
    for _ in range(60):
        at = rng.randrange(len(data) - 4)
        data[at:at + 4] = rng.randbytes(4)
    at = rng.randrange(len(data))
    return bytes(data[:at] + rng.randbytes(rng.randint(2_000, 8_000)) + data[at:])
KINDS = ["Bakery", "Pharmacy", "School", "Warehouse", "Kiosk", "Clinic", "Library", "Garage", "Bank branch",
         "Jeweller", "Petrol station", "Kindergarten", "Post office", "Café", "Hardware store"]
OWNERS = ["Nordlys", "Berg", "Dahl", "Fjell", "Hagen", "Lund", "Moen", "Strand", "Vik", "Aas", "Holm", "Foss"]


def site_name(i: int) -> str:
    """A demo site's name (its own random stream: the fleet's draws stay as they were)."""
    rng = random.Random(f"site-name-{i}")
    return f"{rng.choice(OWNERS)} {rng.choice(KINDS)}"


def demo_password() -> str:
    path = DEMO_DIR / "password"
    return path.read_text().strip() if path.exists() else ""

