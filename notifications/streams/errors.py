"""Why a stream was refused or closed: a stable code (sent to the client in a
``stream.error`` message before the close) and the WebSocket close code.

Close codes 4000-4999 are the application's (RFC 6455 7.4.2); 4400/4401/4403/4404 echo
the HTTP statuses, 4008 echoes 1008 (policy violation) for a slow or silent client.
"""

from rest_framework import status

from fastpay.errors import DomainError


class StreamRefused(Exception):
    def __init__(self, code: str, message: str, close_code: int):
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


def bad_request(code: str, message: str) -> StreamRefused:
    return StreamRefused(code, message, 4400)


def unauthenticated(code: str, message: str) -> StreamRefused:
    return StreamRefused(code, message, 4401)


def forbidden(code: str, message: str) -> StreamRefused:
    return StreamRefused(code, message, 4403)


SLOW_CONSUMER = 4008


class StreamForbidden(DomainError):
    """The ticket API's refusal: the same code the stream itself would close with."""

    code = "stream_forbidden"
    status_code = status.HTTP_403_FORBIDDEN
