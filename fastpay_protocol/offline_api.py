"""The platform's offline endpoints as a wallet or terminal calls them (stdlib HTTP, no
Django): register a voucher (limits checked, ticket signed) and sync redemptions."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class PlatformError(Exception):
    """The platform refused (``code`` from its {"error": {...}} body) or was unreachable
    (``code`` = "unreachable"; retry later)."""

    def __init__(self, code: str, message: str, status: int | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class PlatformClient:
    """``base_url`` like http://127.0.0.1:8000; ``token``: a JWT (payer) or API key."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _post(self, path: str, body: Any, idempotency_key: str | None = None) -> Any:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {self.token}",
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        # http(s) only: checked in __init__
        request = urllib.request.Request(  # noqa: S310
            self.base_url + path, json.dumps(body).encode(), headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read())["error"]
                raise PlatformError(error["code"], error.get("message", ""), exc.code) from None
            except (ValueError, KeyError, TypeError):
                raise PlatformError("http_error", f"HTTP {exc.code}", exc.code) from None
        except (OSError, ValueError) as exc:
            raise PlatformError("unreachable", str(exc)) from None

    def voucher_register(self, *, certificate: dict, validity_s: int) -> dict:
        """{"id", "address", "not_before", "not_after", "ticket", "issuer"}."""
        return self._post(
            "/api/v1/offline/vouchers/",
            {"certificate": certificate, "validity_s": validity_s},
        )

    def redemptions_sync(self, payments: list[str]) -> dict:
        """{"results": [{"spend_id", "id", "state", "reason", ...}, ...]} in order."""
        return self._post(
            "/api/v1/offline/redemptions/sync/", {"items": [{"payment": p} for p in payments]}
        )
