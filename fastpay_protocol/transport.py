"""JSON over HTTP/1.1 with keep-alive, for the committee client (stdlib only).

One ``http.client`` connection per (thread, authority): the client's worker threads each
keep their own connections open, so steady traffic pays no TCP handshake and no
connection-pool lock. Every socket operation has the timeout; a timed-out connection is
dropped (its late answer must not be read as the next request's).
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

API_PREFIX = "/authority/v1"


class TransportError(Exception):
    """No usable HTTP answer. ``kind``: "timeout", "unreachable" or "bad_response"."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """A member URL: ``http://host:port`` (the API under /authority/v1) or the full
        ``http://host:port/authority/v1``."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        prefix = parts.path.rstrip("/")
        if not prefix.endswith(API_PREFIX):
            prefix += API_PREFIX
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, prefix)


# a keep-alive connection the server closed while idle fails on reuse with one of these;
# every protocol request is idempotent (the same order gets the same vote, a repeated
# certificate is a no-op), so one retry on a fresh connection is safe
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class HttpTransport:
    def __init__(self, timeout: float = 3.0):
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self, endpoint: Endpoint, timeout: float) -> http.client.HTTPConnection:
        connections = self._local.__dict__.setdefault("connections", {})
        connection = connections.get(endpoint)
        if connection is None:
            factory = (
                http.client.HTTPSConnection
                if endpoint.scheme == "https"
                else http.client.HTTPConnection
            )
            connection = factory(endpoint.host, endpoint.port, timeout=timeout)
            connections[endpoint] = connection
        elif connection.sock is not None:
            connection.sock.settimeout(timeout)
        connection.timeout = timeout
        return connection

    def _drop(self, endpoint: Endpoint) -> None:
        connection = self._local.__dict__.get("connections", {}).pop(endpoint, None)
        if connection is not None:
            connection.close()

    def request(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        body: Any = None,
        timeout: float | None = None,
    ) -> tuple[int, Any]:
        """(HTTP status, decoded JSON body); ``body`` is JSON-able or already encoded bytes.
        Raises TransportError."""
        if body is None or isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body, separators=(",", ":")).encode()
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        timeout = self.timeout if timeout is None else timeout
        for attempt in (0, 1):
            connection = self._connection(endpoint, timeout)
            reused = connection.sock is not None
            try:
                connection.request(method, endpoint.prefix + path, payload, headers)
                response = connection.getresponse()
                raw = response.read()
            except TimeoutError as exc:  # socket.timeout is TimeoutError since 3.10
                self._drop(endpoint)
                raise TransportError("timeout", f"no answer within {timeout}s") from exc
            except _STALE as exc:
                self._drop(endpoint)
                if reused and attempt == 0:
                    continue
                raise TransportError("unreachable", str(exc) or type(exc).__name__) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop(endpoint)
                kind = "unreachable" if isinstance(exc, OSError) else "bad_response"
                raise TransportError(kind, str(exc) or type(exc).__name__) from exc
            if response.will_close:
                self._drop(endpoint)
            try:
                return response.status, json.loads(raw) if raw else None
            except ValueError as exc:
                raise TransportError(
                    "bad_response", f"HTTP {response.status} with a non-JSON body"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close this thread's connections (others close when their thread ends)."""
        for endpoint in list(self._local.__dict__.get("connections", {})):
            self._drop(endpoint)
