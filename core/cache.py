"""Django's Redis cache, degrading instead of failing while Redis is out of reach.

Nothing the product keeps in the cache is needed to answer: the freshest download progress
between two writes of the job row (firmware_updates.services.device_reports), the API's
throttle counters. Django's own RedisCache raises redis' ConnectionError into the request,
so a Redis outage turned device downloads, job lists and the token endpoint into 500s. This
backend (settings: CACHES) answers as an empty cache instead: reads miss, writes are
dropped, `add` and `incr` answer as if the key were new, so a throttle or a rate limit built
on the cache lets requests through (fails open) until Redis is back. One warning per minute
says so; after a failure Redis is left alone for `RETRY_AFTER` seconds, so a Redis that does
not answer at all costs a request at most one connect timeout (OPTIONS
socket_connect_timeout / socket_timeout, set short in settings).
"""

import logging
import threading
import time

from django.core.cache.backends import redis as django_redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class _Outage:
    """Whether a Redis failed lately, shared by a process's threads (each has its own cache
    object); logs at most once per LOG_EVERY seconds."""

    RETRY_AFTER = 2.0
    LOG_EVERY = 60.0

    def __init__(self):
        self.until = 0.0
        self.logged_at = None
        self.lock = threading.Lock()

    def skipping(self) -> bool:
        return self.until > 0 and time.monotonic() < self.until

    def failed(self, exc: Exception) -> None:
        now = time.monotonic()
        self.until = now + self.RETRY_AFTER
        with self.lock:
            if self.logged_at is not None and now - self.logged_at < self.LOG_EVERY:
                return
            self.logged_at = now
        log.warning("cache unreachable (%s): reads miss and writes are dropped until Redis answers again", exc)

    def answered(self) -> None:
        if self.until:
            self.until = 0.0
            self.logged_at = None
            log.warning("cache reachable again")


def _degrading(name: str, fallback):
    """The client's `name`, answering `fallback(*args)` while Redis is unreachable."""
    method = getattr(django_redis.RedisCacheClient, name)

    def call(self, *args):
        if self.outage.skipping():
            return fallback(*args)
        try:
            result = method(self, *args)
        except UNREACHABLE as exc:
            self.outage.failed(exc)
            return fallback(*args)
        self.outage.answered()
        return result

    call.__name__ = name
    return call


def _nothing(*_args):
    return None


_outages: dict[tuple, _Outage] = {}


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, servers, **options):
        super().__init__(servers, **options)
        self.outage = _outages.setdefault(tuple(servers), _Outage())

    get = _degrading("get", lambda key, default: default)
    get_many = _degrading("get_many", lambda keys: {})
    has_key = _degrading("has_key", lambda key: False)
    set = _degrading("set", _nothing)
    set_many = _degrading("set_many", _nothing)
    delete = _degrading("delete", lambda key: False)
    delete_many = _degrading("delete_many", _nothing)
    touch = _degrading("touch", lambda key, timeout: False)
    # As if the key were new: the caller's gate opens, its counter starts again.
    add = _degrading("add", lambda key, value, timeout: True)
    incr = _degrading("incr", lambda key, delta: delta)


class RedisCache(django_redis.RedisCache):
    """`django.core.cache.backends.redis.RedisCache` that degrades during an outage."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
