"""The one way the product POSTs JSON to someone else's endpoint (receivers' wake-up,
the Security Center's webhooks): outside any transaction, with a timeout, 2xx or an error."""

import urllib.error
import urllib.request


class PostFailed(Exception):
    """No 2xx answer: the caller's task retries with back-off."""


def post_json(url: str, body: bytes, *, timeout: float, headers: dict | None = None) -> int:
    """POST `body` (JSON) to `url`; returns the 2xx status, raises PostFailed otherwise."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (operator-set URL)
            status = response.status
    except urllib.error.HTTPError as exc:
        raise PostFailed(f"{url} answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise PostFailed(f"{url} unreachable: {exc}") from None
    if not 200 <= status < 300:
        raise PostFailed(f"{url} answered {status}")
    return status
