"""What every router shares: reading JSON bodies safely, and turning service errors into HTTP answers."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.domain.readings import FieldError, InvalidInput
from services.errors import Conflict, NotFound
from services.ingestion import BatchTooLarge, IngestUnavailable

log = logging.getLogger(__name__)


class HTTPProblem(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        self.status, self.message, self.headers = status, message, headers


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request's JSON body; 415 for another content type, 413 past `max_bytes`, 400 for broken JSON."""
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type):
        raise HTTPProblem(415, f"Content-Type must be application/json, got {content_type or 'nothing'!r}")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPProblem(413, f"body of {int(declared)} bytes exceeds the limit of {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPProblem(413, f"body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise HTTPProblem(400, "the body is empty; send a JSON document")
    try:
        return json.loads(body)  # NaN and Infinity parse here and are refused by validation, naming the field
    except UnicodeDecodeError:
        raise HTTPProblem(400, "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise HTTPProblem(400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_request: Request, exc: RequestValidationError):
        errors = [
            FieldError(".".join(str(p) for p in e.get("loc", ())[1:]) or "request", e.get("msg", "invalid"))
            for e in exc.errors()
        ]
        return await _invalid(_request, InvalidInput(errors))

    @app.exception_handler(HTTPProblem)
    async def _problem(_request: Request, exc: HTTPProblem):
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(InvalidInput)
    async def _invalid(_request: Request, exc: InvalidInput):
        first = exc.errors[0]
        more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
        return JSONResponse(
            {
                "error": f"{first.field}: {first.problem}{more}",
                "detail": [e.as_dict() for e in exc.errors[:100]],
            },
            status_code=422,
        )

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound):
        return JSONResponse({"error": str(exc)}, status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(_request: Request, exc: Conflict):
        return JSONResponse({"error": str(exc)}, status_code=409)

    @app.exception_handler(BatchTooLarge)
    async def _too_large(_request: Request, exc: BatchTooLarge):
        return JSONResponse({"error": str(exc)}, status_code=413)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": "internal error; the details are in the server log"}, status_code=500)

    @app.exception_handler(IngestUnavailable)
    async def _unavailable(_request: Request, exc: IngestUnavailable):
        return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "5"})
