"""Endpoint secrets: ``whsec_`` + base64 of 32 random bytes (Standard Webhooks). The
platform must sign with them, so they are kept, sealed under FASTPAY_KEK when it is set
(fastpay.keyvault), shown to the user once."""

import base64
import secrets as random

from django.conf import settings

from fastpay.keyvault import kek_from_text, seal, unseal

PREFIX = "whsec_"


def secret_new() -> str:
    return PREFIX + base64.b64encode(random.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret."""
    return base64.b64decode(secret.removeprefix(PREFIX))


def secret_store(secret: str) -> str:
    kek = settings.FASTPAY_KEK
    return seal(secret.encode(), kek_from_text(kek), label="webhook") if kek else secret


def secret_load(stored: str) -> str:
    if not stored or stored.startswith(PREFIX):
        return stored
    return unseal(stored, kek_from_text(settings.FASTPAY_KEK)).decode()
