"""The embedded default's on-disk broker: a consumer polling the queue never finds a message
half-written (kombu's own transport creates the message's file before writing it, and a worker
that took the empty file stopped on the JSON error: the demo lost its worker so)."""

import os

import pytest
from kombu import Connection, Exchange, Queue
from kombu.transport import filesystem as kombu_filesystem
from kombu.utils.json import register_type

from securitycenter.broker import FilesystemTransport

QUEUE = Queue("race", Exchange("race", type="direct"), routing_key="race")


class Probe:
    """Put in a message's headers: encoded while the transport writes the message, it looks
    at the queue folder as a consumer would at that moment."""

    folder = None
    seen: list[str] = []

    def look(self) -> str:
        for name in os.listdir(self.folder):
            if name.partition(".")[2] == "race.msg":  # what kombu's consumer takes
                Probe.seen.append(f"{name} ({os.path.getsize(os.path.join(self.folder, name))} bytes)")
        return "looked"


register_type(Probe, "probe", encoder=Probe.look, decoder=lambda value: value)


def publish_looking(transport, folder) -> list[str]:
    """Publish one message carrying a Probe; returns what a consumer could have taken while
    it was being written, then checks the message arrives whole."""
    Probe.folder, Probe.seen = str(folder), []
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    with Connection(transport=transport, transport_options=options) as connection:
        connection.Producer(serializer="json").publish(
            {"ids": list(range(1000))}, exchange=QUEUE.exchange, routing_key="race", declare=[QUEUE],
            headers={"probe": Probe()})
        message = connection.SimpleQueue(QUEUE).get(timeout=5)
        assert message.payload == {"ids": list(range(1000))}
    return Probe.seen


def test_a_message_is_in_the_queue_only_once_whole(tmp_path):
    assert publish_looking(FilesystemTransport, tmp_path) == []


def test_kombus_own_transport_shows_a_consumer_the_message_before_it_is_written(tmp_path):
    """Why the transport above exists."""
    [seen] = publish_looking(kombu_filesystem.Transport, tmp_path)
    assert seen.endswith("(0 bytes)")


@pytest.fixture(autouse=True)
def _probe_reset(tmp_path, monkeypatch):
    # kombu keeps its exchange tables in ./control by default: in the test's own folder, not
    # in the checkout (a control/race.exchange was committed so once).
    monkeypatch.chdir(tmp_path)
    # ... and forgets the exchanges it declared, in a state global to the process: a test after
    # another would skip declaring "race" and so never write its table to its own folder.
    kombu_filesystem.Transport.global_state.clear()
    yield
    Probe.folder, Probe.seen = None, []
