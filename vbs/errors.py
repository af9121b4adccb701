"""The one error hierarchy of the service. The API maps it once to problem+json (RFC 9457).

Messages never carry personal data (names, dates of birth): they name fields and lines.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class VbsError(Exception):
    status: int = 400
    title: str = "Bad request"
    type_slug: str = "bad-request"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title


class ValidationFailed(VbsError):
    status = 422
    title = "Validation failed"
    type_slug = "validation"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        super().__init__(detail or "; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class Unauthorized(VbsError):
    status = 401
    title = "Not signed in"
    type_slug = "unauthorized"


class Forbidden(VbsError):
    status = 403
    title = "Not allowed"
    type_slug = "forbidden"


class NotFound(VbsError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(VbsError):
    status = 409
    title = "Conflict"
    type_slug = "conflict"


class PayloadTooLarge(VbsError):
    status = 413
    title = "Payload too large"
    type_slug = "too-large"


class UnsupportedFile(VbsError):
    status = 415
    title = "Unsupported file"
    type_slug = "unsupported-file"


class TooManyRequests(VbsError):
    status = 429
    title = "Too many requests"
    type_slug = "quota"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ServiceUnavailable(VbsError):
    status = 503
    title = "Service unavailable"
    type_slug = "unavailable"
