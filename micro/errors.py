"""Errors that cross service boundaries.

Every error a micro service returns is a :class:`MicroError` with an ``id`` (who raised
it), an HTTP-like ``code``, a lower-case ``detail`` and the HTTP ``status`` text. Raised in
a handler it reaches callers with its code (gRPC status + ``micro-error`` trailer, gateway
HTTP status); raised from a call it comes back as the same class.

    MicroError(id, code, detail)
    ├── BadRequest            400
    ├── Unauthorized          401
    ├── Forbidden             403
    ├── NotFound              404
    ├── Timeout               408
    ├── Conflict              409
    ├── TooLarge              413
    ├── TooManyRequests       429
    ├── InternalServerError   500
    ├── NotImplementedError_  501  (a service or endpoint that does not exist)
    └── Unavailable           503  (the server or node cannot be reached)

Foreign errors (grpc, sqlite, OS) are translated only at boundaries, with ``raise … from``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, ClassVar

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "InternalServerError",
    "MicroError",
    "NotFound",
    "NotImplementedError_",
    "Timeout",
    "TooLarge",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "from_code",
    "from_json",
]


def _status_text(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


class MicroError(Exception):
    """The root of every error that crosses a service boundary."""

    code: ClassVar[int] = 500
    default_detail: ClassVar[str] = "internal server error"

    def __init__(self, detail: str | None = None, *, id: str = "", code: int | None = None) -> None:
        self.detail = detail if detail is not None else self.default_detail
        self.id = id
        if code is not None:
            self.code = code  # type: ignore[misc]
        super().__init__(self.detail)

    @property
    def status(self) -> str:
        return _status_text(self.code)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "code": self.code, "detail": self.detail, "status": self.status}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r}, id={self.id!r}, code={self.code})"


class BadRequest(MicroError):
    code = 400
    default_detail = "bad request"


class Unauthorized(MicroError):
    code = 401
    default_detail = "an account is required"


class Forbidden(MicroError):
    code = 403
    default_detail = "forbidden"


class NotFound(MicroError):
    code = 404
    default_detail = "not found"


class Timeout(MicroError):
    code = 408
    default_detail = "request timed out"


class Conflict(MicroError):
    code = 409
    default_detail = "conflict"


class TooLarge(MicroError):
    code = 413
    default_detail = "request too large"


class TooManyRequests(MicroError):
    code = 429
    default_detail = "too many requests"


class InternalServerError(MicroError):
    code = 500
    default_detail = "internal server error"


class NotImplementedError_(MicroError):
    code = 501
    default_detail = "not implemented"


class Unavailable(MicroError):
    code = 503
    default_detail = "service unavailable"


_BY_CODE: dict[int, type[MicroError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Timeout,
        Conflict,
        TooLarge,
        TooManyRequests,
        InternalServerError,
        NotImplementedError_,
        Unavailable,
    )
}


def from_code(code: int, detail: str | None = None, *, id: str = "") -> MicroError:
    """The error class for ``code`` (a plain MicroError for codes without one)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return MicroError(detail, id=id, code=code)
    return cls(detail, id=id)


def from_json(text: str | bytes) -> MicroError | None:
    """Parse go-micro's error JSON; None when it is not one."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("code"), int):
        return None
    return from_code(data["code"], str(data.get("detail", "")), id=str(data.get("id", "")))
