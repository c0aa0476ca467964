"""The SMS backend interface, for operators to plug a provider in
(FASTPAY_SMS_BACKEND, a dotted path to a class with this ``send``).

    class MyProviderSms:
        def send(self, *, to: str, text: str) -> None:
            ...  # raise SmsError when the provider refuses it

``ConsoleSmsBackend`` (the default) writes each message to standard output, as Django's
console email backend does; ``MemorySmsBackend`` keeps them in ``outbox`` (tests).
"""

import sys
import threading
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class SmsError(Exception):
    """The backend could not send the message (logged on the SentNotification row)."""


class SmsBackend(Protocol):
    def send(self, *, to: str, text: str) -> None: ...


class ConsoleSmsBackend:
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def send(self, *, to: str, text: str) -> None:
        with self._lock:
            self.stream.write(f"SMS to {to}\n{text}\n{'-' * 40}\n")
            self.stream.flush()


class MemorySmsBackend:
    outbox: list[dict] = []

    def send(self, *, to: str, text: str) -> None:
        MemorySmsBackend.outbox.append({"to": to, "text": text})


def sms_backend() -> SmsBackend:
    return import_string(settings.FASTPAY_SMS_BACKEND)()
