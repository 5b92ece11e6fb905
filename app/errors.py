"""One JSON shape for every client error: {"error": ..., "detail": [{"param": ..., "message": ...}]}."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException


class ParamDetail(BaseModel):
    param: str  # the query parameter at fault
    message: str  # what is wrong and what is allowed


class ErrorResponse(BaseModel):
    error: str
    detail: list[ParamDetail] = []


class ParamError(Exception):
    """A request parameter that passed type checks but is still invalid (e.g. characters outside the vocabulary)."""

    def __init__(self, param: str, message: str, status_code: int = 422):
        self.param, self.message, self.status_code = param, message, status_code


class ServiceUnavailable(Exception):
    """A model is not loaded, or the service is saturated; answered with 503 and Retry-After."""

    def __init__(self, message: str, retry_after: int | None = None):
        self.message, self.retry_after = message, retry_after


class ClientDisconnected(Exception):
    """The client went away while its request waited for a generation slot: no work is done, and the request is
    logged with status 499 (nginx's "client closed request"; nobody receives the response)."""


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    414: {"model": ErrorResponse, "description": "The query string is longer than 32 KiB"},
    422: {"model": ErrorResponse, "description": "A parameter is out of range, of the wrong type, or has characters outside the vocabulary"},
    503: {"model": ErrorResponse, "description": "The model is not loaded, or the service is saturated (see Retry-After)"},
}


def _allowed(request: Request) -> dict[str, str]:
    """'allowed: …' per query parameter of the matched route (its dependencies' included), from the declared bounds,
    so every message states the whole range and not only the bound that was crossed."""
    out: dict[str, str] = {}
    pending = [getattr(request.scope.get("route"), "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is None:
            continue
        pending.extend(dependant.dependencies)
        for field in dependant.query_params:
            meta = field.field_info.metadata
            lo = next((m.ge for m in meta if getattr(m, "ge", None) is not None), None)
            hi = next((m.le for m in meta if getattr(m, "le", None) is not None), None)
            shortest = next((m.min_length for m in meta if getattr(m, "min_length", None) is not None), None)
            longest = next((m.max_length for m in meta if getattr(m, "max_length", None) is not None), None)
            if lo is not None and hi is not None:
                out[field.alias] = f"allowed: {lo} to {hi}"
            elif longest is not None:
                out[field.alias] = (f"allowed: {shortest} to {longest} characters" if shortest else
                                    f"allowed: at most {longest} characters")
    return out


def _describe_validation(err: dict[str, Any], allowed: dict[str, str]) -> ParamDetail:
    loc = [str(part) for part in err.get("loc", ()) if part not in ("query", "path", "body", "header")]
    param = ".".join(loc) or "request"
    message = err.get("msg", "invalid value")
    if "input" in err and err.get("type") != "missing":
        shown = repr(err["input"])
        message = f"{message} (got {shown[:60]}{'…' if len(shown) > 60 else ''})"
    if param in allowed:
        message += f"; {allowed[param]}"
    return ParamDetail(param=param, message=message)


async def http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """404, 405 and other framework errors in the same shape as ours."""
    body = ErrorResponse(error=str(exc.detail), detail=[])
    return JSONResponse(status_code=exc.status_code, content=body.model_dump(), headers=getattr(exc, "headers", None))


async def validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    allowed = _allowed(request)
    details = [_describe_validation(e, allowed) for e in exc.errors()]
    body = ErrorResponse(error="invalid request parameters", detail=details)
    return JSONResponse(status_code=422, content=body.model_dump())


async def param_error_handler(request: Request, exc: ParamError) -> JSONResponse:
    body = ErrorResponse(error="invalid request parameters", detail=[ParamDetail(param=exc.param, message=exc.message)])
    return JSONResponse(status_code=exc.status_code, content=body.model_dump())


async def disconnected_handler(request: Request, exc: ClientDisconnected) -> Response:
    return Response(status_code=499)


async def unavailable_handler(request: Request, exc: ServiceUnavailable) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return JSONResponse(status_code=503, content=ErrorResponse(error=exc.message).model_dump(), headers=headers)
