"""Who may do what: a panel acts only for itself, a gateway only for its receiver; failures
say nothing about which serials exist."""

import pytest

from firmware_updates.models import JobState
from sites.models import Device

from .client import DdiClient
from .conftest import SERIAL, make_release

pytestmark = pytest.mark.live
S = JobState


def endpoints(job_id: int, release) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", "", None),
        ("PUT", "/configData", {"data": {"sw_version": "9.99"}}),
        ("GET", f"/deploymentBase/{job_id}", None),
        (
            "POST",
            f"/deploymentBase/{job_id}/feedback",
            {"status": {"execution": "closed", "result": {"finished": "failure"}}},
        ),
        ("GET", f"/cancelAction/{job_id}", None),
        (
            "POST",
            f"/cancelAction/{job_id}/feedback",
            {"status": {"execution": "closed", "result": {"finished": "success"}}},
        ),
        ("GET", f"/installedBase/{job_id}", None),
        ("GET", f"/softwaremodules/{release.pk}/artifacts", None),
        ("GET", f"/softwaremodules/{release.pk}/artifacts/{release.filename}", None),
        ("HEAD", f"/softwaremodules/{release.pk}/artifacts/{release.filename}", None),
        ("GET", f"/softwaremodules/{release.pk}/artifacts/{release.filename}.MD5SUM", None),
    ]


def assert_refused_everywhere(client: DdiClient, job, release, status=401):
    for method, path, body in endpoints(job.pk, release):
        reply = client.request(method, path, body=body)
        assert reply.status == status, (method, path, reply.status, reply.body)
        if status == 401:
            assert reply.headers["WWW-Authenticate"].startswith("TargetToken")
        if method != "HEAD":
            assert reply.json()["message"]


def untouched(fleet, job):
    device = Device.objects.get(serial=SERIAL)
    assert (
        device.attributes_at is None
        and device.firmware_version == "5.30"
        and device.last_seen is None
    )
    assert fleet.job(job).state == S.QUEUED


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "TargetToken",
        "TargetToken ",
        "Bearer {token}",
        "Token {token}",
        "TargetToken {token}x",
        "GatewayToken {token}",
        "TargetToken {token} extra",
        "Basic dXNlcjpwYXNz",
    ],
    ids=[
        "none",
        "empty",
        "no-token",
        "blank-token",
        "bearer",
        "drf-token",
        "wrong",
        "target-as-gateway",
        "two-words",
        "basic",
    ],
)
def test_missing_malformed_or_wrong_tokens_are_401_everywhere(fleet, authorization):
    job = fleet.queue()
    client = fleet.client()
    client.authorization = (
        authorization.format(token=fleet.token) if authorization is not None else None
    )

    assert_refused_everywhere(client, job, fleet.release)

    untouched(fleet, job)


def test_the_answer_does_not_tell_whether_a_serial_exists(fleet):
    fleet.queue()
    known = fleet.client(token="not-the-token").poll()
    unknown = fleet.client(serial="NG99999999", token="not-the-token").poll()
    gateway_unknown = fleet.gateway("NG99999999", token="not-the-gateway-token").poll()

    assert known.status == unknown.status == gateway_unknown.status == 401
    assert known.body == unknown.body == gateway_unknown.body


def test_another_devices_token_is_401(fleet, neighbour):
    job = fleet.queue()
    impostor = fleet.client(token=neighbour.authorization.split()[1])

    assert_refused_everywhere(impostor, job, fleet.release)

    untouched(fleet, job)


def test_a_device_sees_only_its_own_actions_and_artifacts(fleet, neighbour):
    job = fleet.queue()
    fleet.client().poll()  # our panel has its action; the neighbour has none

    for method, path, body in endpoints(job.pk, fleet.release)[2:]:
        reply = neighbour.request(method, path, body=body)
        assert reply.status == 404, (method, path, reply.status)
    assert fleet.job(job).state == S.QUEUED


def test_a_device_cannot_fetch_another_release_than_its_jobs(fleet, signing_identity, tmp_path):
    other = make_release(
        fleet.device_type, "5.39", signing_identity=signing_identity, tmp_path=tmp_path
    )
    fleet.queue()
    client = fleet.client()

    assert (
        client.request("GET", f"/softwaremodules/{other.pk}/artifacts/{other.filename}").status
        == 404
    )
    assert (
        client.request("GET", f"/softwaremodules/{fleet.release.pk}/artifacts/other.swu").status
        == 404
    )
    assert (
        client.request(
            "GET", f"/softwaremodules/{fleet.release.pk}/artifacts/{fleet.release.filename}"
        ).status
        == 200
    )


def test_another_receivers_gateway_token_is_401(fleet, other_receiver):
    _south, south_gateway_token, _ = other_receiver
    job = fleet.queue()

    assert_refused_everywhere(fleet.gateway(SERIAL, token=south_gateway_token), job, fleet.release)
    # Nor can it reach our panel through its own tenant, or register it there.
    reply = fleet.gateway(SERIAL, token=south_gateway_token, tenant="south").poll()
    assert reply.status == 401
    assert Device.objects.filter(serial=SERIAL).count() == 1
    untouched(fleet, job)


def test_a_target_token_works_only_under_its_own_tenant(fleet, other_receiver):
    job = fleet.queue()

    assert_refused_everywhere(fleet.client(tenant="south"), job, fleet.release)


def test_unknown_tenant_is_404(fleet):
    reply = fleet.client(tenant="atlantis").poll()
    gateway = fleet.gateway(SERIAL, tenant="atlantis").poll()

    assert reply.status == gateway.status == 404
    assert reply.json()["errorCode"] == "ddi.not_found"


def test_the_receivers_gateway_may_act_for_its_panel(fleet):
    job = fleet.queue()
    gateway = fleet.gateway(SERIAL)

    body = gateway.poll().json()
    deployment = gateway.request("GET", body["_links"]["deploymentBase"]["href"]).json()
    artifact = deployment["deployment"]["chunks"][0]["artifacts"][0]
    ranged = gateway.request(
        "GET", artifact["_links"]["download"]["href"], headers={"Range": "bytes=0-99"}
    )

    assert ranged.status == 206 and len(ranged.body) == 100
    assert gateway.feedback(job.pk, "downloaded").status == 200
    assert fleet.job(job).state == S.DOWNLOADED


def test_tokens_are_stored_only_as_digests(fleet):
    device = Device.objects.get(serial=SERIAL)
    assert fleet.token not in device.token_hash and len(device.token_hash) == 64
    assert fleet.gateway_token not in fleet.receiver.gateway_token_hash
