"""The notifications app's domain errors (rendered by fastpay.errors' one handler)."""

from fastpay.errors import Conflict, DomainError, NotFound


class EndpointNotFound(NotFound):
    code = "not_found"


class EventNotFound(NotFound):
    code = "not_found"


class InvalidWebhookUrl(DomainError):
    code = "invalid_webhook_url"


class EndpointDisabled(Conflict):
    code = "endpoint_disabled"


class TooManyEndpoints(Conflict):
    code = "too_many_endpoints"
