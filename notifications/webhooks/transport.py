"""The HTTP side of a delivery: one pooled httpx client per process, connect and read
timeouts, no redirects, no proxy from the environment, the destination resolved and
checked (notifications.webhooks.ssrf) and the connection pinned to the checked address:
the URL's host is replaced by that address, the Host header and TLS server name (SNI,
certificate check) stay the original host's. Never called inside a DB transaction."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx
from django.conf import settings

from notifications.webhooks.ssrf import DestinationRefused, destination_resolve

EXCERPT_BYTES = 1024
USER_AGENT = "FastPay-Webhooks/1"

_client: httpx.Client | None = None
_client_timeouts: tuple | None = None
_client_lock = threading.Lock()


@dataclass
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str = ""
    excerpt: str = ""
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def client() -> httpx.Client:
    """The process's pooled client (made again if the timeout settings changed)."""
    global _client, _client_timeouts
    timeouts = (
        settings.FASTPAY_WEBHOOKS_CONNECT_TIMEOUT_S,
        settings.FASTPAY_WEBHOOKS_READ_TIMEOUT_S,
    )
    with _client_lock:
        if _client is None or _client_timeouts != timeouts:
            if _client is not None:
                _client.close()
            connect, read = timeouts
            _client = httpx.Client(
                timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=read),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                follow_redirects=False,
                trust_env=False,
            )
            _client_timeouts = timeouts
        return _client


def client_reset() -> None:
    """Close the pooled client (tests changing the timeouts; a forked worker)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None


def pinned_request(url: str) -> tuple[httpx.URL, dict, dict]:
    """(URL to connect to, extra headers, request extensions) for ``url``, its host
    resolved and checked. Raises DestinationRefused."""
    target = httpx.URL(url)
    if target.scheme not in {"http", "https"} or not target.host:
        raise DestinationRefused("only http:// and https:// URLs")
    port = target.port or (443 if target.scheme == "https" else 80)
    address = destination_resolve(
        target.host, port, allow_private=settings.FASTPAY_WEBHOOKS_ALLOW_PRIVATE
    )
    host_header = target.host if target.port is None else f"{target.host}:{target.port}"
    if ":" in target.host and target.port is None:
        host_header = f"[{target.host}]"
    elif ":" in target.host:
        host_header = f"[{target.host}]:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return target.copy_with(host=address), {"Host": host_header}, extensions


def post(url: str, *, headers: dict, body: bytes) -> Outcome:
    """POST ``body``; the outcome, never an exception."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target, extra, extensions = pinned_request(url)
    except DestinationRefused as exc:
        return Outcome(None, elapsed(), error=f"refused: {exc}"[:255])
    pooled = client()
    request = pooled.build_request(
        "POST",
        target,
        content=body,
        headers={
            **headers,
            **extra,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        },
        extensions=extensions,
    )
    try:
        response = pooled.send(request, stream=True)
        try:
            excerpt = b""
            for chunk in response.iter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
        finally:
            response.close()
    except httpx.TimeoutException as exc:
        return Outcome(None, elapsed(), error=f"timeout: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return Outcome(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:255])
    return Outcome(
        response.status_code,
        elapsed(),
        excerpt=excerpt[:EXCERPT_BYTES].decode("utf-8", errors="replace"),
        retry_after=response.headers.get("Retry-After"),
    )
