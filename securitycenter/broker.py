"""kombu's Redis transport, with the one fix that keeps a worker alive across a Redis outage.

With celery and kombu 5.7, a worker holding a message it has not acknowledged yet (every
task here is `acks_late`) exits for good when Redis goes away: on the connection loss the
consumer first collects the connection, which detaches the transport from it
(`transport.client = None`), then closes it; closing the channel a second time tries to put
the unacknowledged message back through a client built from `transport.client`, and kombu
raises AttributeError ("'NoneType' object has no attribute 'hostname'") instead of a
connection error. Celery counts that as unrecoverable and stops the worker (the same happens
to the late acknowledgement of a task that finishes after the reconnect).

Here the channel says what happened in the transport's own terms, a connection error, which
celery and kombu already ignore while closing a broken connection and log when an
acknowledgement fails; the worker reconnects and goes on consuming. The message itself is
safe either way: a Redis that comes back with its data redelivers it after the visibility
timeout, and one that comes back empty lost it with everything else, which beat's
reconciliation re-sends (every task may run twice). tests/worker/test_outages.py holds it.

Settings select it for redis:// and rediss:// brokers (CELERY_BROKER_TRANSPORT), with
`REDIS_TRANSPORT_OPTIONS`: a Redis that does not answer costs a call at most 2 s to connect
and 2 s to read. Down, it refuses the connection at once; frozen (stopped, swapping, a paused
VM), it accepts and never replies, which without the read timeout held a request that sends a
task (queueing a site, "update all") and /healthz for good (tests/worker/test_frozen_redis.py).
A worker's blocking read (BRPOP) waits 1 s, within it.

`FilesystemTransport`, the embedded default's on-disk broker, writes each message under a
name the consumers do not look at and renames it into the queue once it is whole. kombu's
own creates the message's file and then writes it, and a worker polling the folder meanwhile
may take the empty file: its JSON fails to decode, celery calls that unrecoverable and the
worker stops (the demo lost its worker after a quarter of an hour, issue 11). A rename within
one folder is atomic: a consumer sees a message whole or not at all.
"""

import os
import uuid

from kombu.exceptions import ChannelError
from kombu.transport import filesystem as kombu_filesystem
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps
from redis.exceptions import ConnectionError as RedisConnectionError

REDIS_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise RedisConnectionError("The broker connection was closed (connection lost).")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel


class FilesystemChannel(kombu_filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: written whole under a temporary name, then renamed to
        the name consumers look for (`<time>_<uuid>.<queue>.msg`, as kombu names it)."""
        name = f"{int(round(kombu_filesystem.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.writing")
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class FilesystemTransport(kombu_filesystem.Transport):
    Channel = FilesystemChannel
