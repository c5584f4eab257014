"""One table from domain errors to HTTP status, and the one place the JSON body is built."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .. import errors

STATUS = {
    errors.InvalidParameter: 400,
    errors.InvalidImageId: 400,
    errors.Forbidden: 403,
    errors.AccessDenied: 403,
    errors.ImageNotFound: 404,
    errors.TileNotFound: 404,
    errors.PageNotFound: 404,
    errors.AssociatedImageNotFound: 404,
    errors.TooLarge: 413,
    errors.ReadBudgetExceeded: 413,
    errors.UnsupportedImage: 415,
    errors.UpstreamError: 502,
    errors.UpstreamUnavailable: 503,
    # Changed twice during one request: let the client retry.
    errors.SourceChanged: 503,
    errors.ConversionPending: 503,
    errors.DeadlineExceeded: 504,
}

HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def error_response(status: int, code: str, message: str, retry_after: int | None = None) -> JSONResponse:
    # Short-lived so a CDN neither hammers the origin nor keeps a transient error for long.
    headers = {"Cache-Control": "public, max-age=60" if status < 500 else "no-store"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ())[1:]) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.GigatileError)
    async def _domain(request: Request, exc: errors.GigatileError):
        status = STATUS.get(type(exc), 500)
        return error_response(status, exc.code, exc.message, getattr(exc, "retry_after", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return error_response(400, "invalid_parameter", _validation_message(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        return error_response(exc.status_code, HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail))
