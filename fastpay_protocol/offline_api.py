"""The platform's offline endpoints as a wallet or terminal calls them (stdlib HTTP, no
Django): link a FastPay address, defund, register a voucher (limits checked, ticket
signed), sync redemptions, read the terminal configuration."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from eth_utils import to_checksum_address


def link_message(address: str, username: str) -> str:
    """The text a user signs (EIP-191 personal_sign) with their FastPay key to link its
    address to their platform account; the platform checks the same text."""
    return f"FastPay: link {to_checksum_address(address)} to user {username}"


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
        return self._request("POST", path, body, idempotency_key)

    def _request(
        self, method: str, path: str, body: Any = None, idempotency_key: str | None = None
    ) -> Any:
        headers = {"Accept": "application/json", "Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        # http(s) only: checked in __init__
        request = urllib.request.Request(  # noqa: S310
            self.base_url + path, data, headers, method=method
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

    def terminal_config(self) -> dict:
        """What a terminal caches: {"committee", "previous_committees", "issuer", "vendor",
        "grace_s"}."""
        return self._request("GET", "/api/v1/offline/terminal/")

    def me(self) -> dict:
        """The caller's profile: {"username", "role", "status", ...}."""
        return self._request("GET", "/api/v1/me/")

    def offline_account(self) -> dict:
        """{"address", "platform_address", "state"} of the caller's linked account."""
        return self._request("GET", "/api/v1/offline/account/")

    def link(self, *, address: str, signature: str) -> dict:
        """Link ``address`` to the caller (``signature``: of ``link_message``)."""
        return self._post("/api/v1/offline/account/", {"address": address, "signature": signature})

    def defund(self, *, certificate: dict, idempotency_key: str) -> dict:
        """Hand in a certificate paying the platform's FastPay account from the caller's:
        the platform credits the online balance (once per certificate)."""
        return self._post("/api/v1/offline/defund/", {"certificate": certificate}, idempotency_key)
