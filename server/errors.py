"""How the server fails: the HTTP status and OpenAI error type of each class of the one exception tree
(spine/errors.py, re-exported here for the routes and backends), and the one OpenAI error body every failure
becomes. Litestar's own exceptions (bad JSON, body too large, no such route) are folded into the same
`{"error": {"message", "type", "param", "code"}}` body so clients see one shape.
"""

from __future__ import annotations

import logging
import re

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.types import ExceptionHandlersMap

from tunesmith.errors import (
    AuthenticationError,
    BadRequestError,
    ModelNotFoundError,
    TunesmithError,
    UnfinishedAnswerError,
    UpstreamError,
    UpstreamTimeoutError,
)
from tunesmith.server.observe import record_of

__all__ = [
    "EXCEPTION_HANDLERS",
    "AuthenticationError",
    "BadRequestError",
    "ModelNotFoundError",
    "UnfinishedAnswerError",
    "UpstreamTimeoutError",
    "error_body",
    "status_of",
]

_log = logging.getLogger("tunesmith.server")
_NAMED_FIELD = re.compile(r"(?:missing required|contains unknown) field `([^`]+)`")


# Most specific first: the first matching class decides the status and the OpenAI error type.
_KINDS: list[tuple[type[BaseException], int, str, str | None]] = [
    (BadRequestError, 400, "invalid_request_error", None),
    (AuthenticationError, 401, "authentication_error", "invalid_api_key"),
    (ModelNotFoundError, 404, "invalid_request_error", "model_not_found"),
    (UpstreamTimeoutError, 504, "upstream_error", "upstream_timeout"),
    (UpstreamError, 502, "upstream_error", "upstream_unavailable"),
    (TunesmithError, 400, "invalid_request_error", None),
]


def status_of(error: BaseException) -> tuple[int, str, str | None]:
    """HTTP status, OpenAI error type and code for one of our errors."""
    for kind, status, type_, code in _KINDS:
        if isinstance(error, kind):
            return status, type_, code
    return 500, "server_error", None


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict:
    """The OpenAI error body."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _respond(request: Request, body: dict, status: int, headers: dict | None = None) -> Response:
    record_of(request).error = body["error"]["message"]
    return Response(body, status_code=status, headers=headers)


def _tunesmith_handler(request: Request, error: TunesmithError) -> Response:
    status, type_, code = status_of(error)
    param = getattr(error, "param", None)
    # `where` of a BadRequestError is the field, already in `param`; the message stays readable without it.
    message = error.message if isinstance(error, BadRequestError) else str(error)
    if isinstance(error, BadRequestError) and error.hint:
        message = f"{message.rstrip('.')}. {error.hint}"
    return _respond(request, error_body(message, type_, param, code), status)


def _validation_handler(request: Request, error: ValidationException) -> Response:
    # Litestar hands over msgspec's words ("Expected `str`, got `int`") and the field's path; name the field.
    message, param = "invalid request body", None
    for extra in error.extra or []:
        if isinstance(extra, dict) and extra.get("message"):
            message = str(extra["message"])
            key = str(extra.get("key") or "")
            if key == "data" and message == "'data'":
                # Litestar's word for a request with no body at all is the name of the missing handler argument.
                message = (
                    "the request has no body; send one JSON object with the header `Content-Type: application/json`"
                )
                break
            param = key if key and key != "data" else None
            named = _NAMED_FIELD.search(message)
            if named:
                param = f"{param}.{named.group(1)}" if param else named.group(1)
            elif param:
                # Many clients show only the message: name the field in it too.
                message = f"{message.rstrip('.')} at `{param}`"
            break
    return _respond(request, error_body(f"invalid request body: {message}", "invalid_request_error", param), 400)


def _http_handler(request: Request, error: HTTPException) -> Response:
    status = error.status_code
    type_ = "invalid_request_error" if status < 500 else "server_error"
    code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(status)
    message = str(error.detail)
    if isinstance(error.__cause__, SerializationException):
        # Litestar's words alone ("Input data was truncated") do not say that the body is not JSON.
        message = (
            f"invalid JSON body: {error.detail}. Send one JSON object with the header `Content-Type: application/json`"
        )
    if status == 413:
        message = "request body too large; send a smaller body or raise the server's max_body_bytes"
    return _respond(request, error_body(message, type_, None, code), status, error.headers)


def _decode_handler(request: Request, error: msgspec.DecodeError) -> Response:
    return _respond(request, error_body(f"invalid JSON body: {error}", "invalid_request_error"), 400)


def _unexpected_handler(request: Request, error: Exception) -> Response:
    # A bug, not a user error: keep the traceback in the log, give the client the OpenAI shape.
    _log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _respond(request, error_body("internal server error", "server_error"), 500)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    TunesmithError: _tunesmith_handler,
    ValidationException: _validation_handler,
    HTTPException: _http_handler,
    msgspec.DecodeError: _decode_handler,
    Exception: _unexpected_handler,
}
