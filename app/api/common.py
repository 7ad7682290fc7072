"""What every router shares: reading JSON bodies safely, and turning service errors into HTTP answers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth.middleware import BodyTooLarge
from app.core.domain.readings import FieldError, InvalidInput
from app.core.domain.validation import MAX_DEPTH, MAX_ID
from services.device_keys import KeyRefused
from services.errors import Conflict, NotFound
from services.ingestion import BatchTooLarge, IngestUnavailable, SiteRefused
from services.scope import OutOfScope, Selection, Sites, check_site

log = logging.getLogger(__name__)
API_PREFIXES = ("/api/", "/iaq", "/health", "/metrics", "/ws")
Receive = Callable[[], Awaitable[dict[str, Any]]]


ObjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="the object's id")]


class HTTPProblem(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        self.status, self.message, self.headers = status, message, headers


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_json_body(
    content_type: str,
    content_length: str | None,
    receive: Receive,
    max_bytes: int,
    max_depth: int | None = MAX_DEPTH,
) -> Any:
    """A JSON body read from an ASGI `receive`: 415 for another content type, 413 past `max_bytes`
    (checked before reading when the length is declared), 400 for an empty body or broken JSON
    (`parse_json`)."""
    return parse_json(await read_json_bytes(content_type, content_length, receive, max_bytes), max_depth)


async def read_json_bytes(
    content_type: str, content_length: str | None, receive: Receive, max_bytes: int
) -> bytes:
    """The bytes of a body said to be JSON, not decoded yet (see `read_json_body`)."""
    if not _is_json(content_type):
        raise HTTPProblem(415, f"Content-Type must be application/json, got {content_type or 'nothing'!r}")
    if content_length and content_length.isdigit() and int(content_length) > max_bytes:
        raise HTTPProblem(413, f"body of {int(content_length)} bytes exceeds the limit of {max_bytes} bytes")
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPProblem(400, "the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise HTTPProblem(413, f"body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    if not body:
        raise HTTPProblem(400, "the body is empty; send a JSON document")
    return body


def parse_json(body: bytes, max_depth: int | None = MAX_DEPTH) -> Any:
    """A JSON document: 400 for broken JSON or one nested deeper than `max_depth` (None: orjson's own limit
    of 1024, for the device lane, whose parser reads a fixed shape). Numbers that do not fit a 64-bit
    integer become floats (infinite past a float's range), which validation refuses naming their field."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise HTTPProblem(400, _TOO_DEEP) from None
        # orjson refuses NaN, Infinity and numbers past a float's range; json reads them, then validation
        # names the field
        try:
            value = json.loads(body, parse_int=_parse_int)
        except UnicodeDecodeError:
            raise HTTPProblem(400, "the body is not UTF-8 text") from None
        except RecursionError:
            raise HTTPProblem(400, _TOO_DEEP) from None
        except json.JSONDecodeError as exc:
            problem = f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            raise HTTPProblem(400, problem) from None
    if max_depth is not None and isinstance(value, dict | list) and _deeper_than(value, max_depth):
        raise HTTPProblem(400, f"the JSON document nests deeper than {max_depth} levels")
    return value


_TOO_DEEP = "the JSON document nests too deeply"


def _parse_int(text: str) -> int | float:
    """An integer of a JSON document, as orjson reads it: past 64 bits, a float (so it cannot overflow a
    database column or a conversion later; `float` of a long text is infinite rather than an error)."""
    value = int(text) if len(text) <= 20 else None  # int() of thousands of digits is refused (and slow)
    return value if value is not None and -(2**63) <= value < 2**63 else float(text)


def _deeper_than(value: dict | list, limit: int) -> bool:
    """Whether containers nest deeper than `limit` (iteratively: a deep document must not fill the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


async def read_json(request: Request, max_bytes: int, max_depth: int | None = MAX_DEPTH) -> Any:
    """The request's JSON body (see `read_json_body`)."""
    return await read_json_body(
        request.headers.get("content-type", ""),
        request.headers.get("content-length"),
        request.receive,
        max_bytes,
        max_depth,
    )


def actor(request: Request) -> str:
    """Who is asking: the signed-in principal (app/auth/middleware.py), recorded with what it does."""
    principal = getattr(request.state, "principal", None)
    return principal.name if principal is not None else "api"


def on_behalf(actor_name: str, named: Any) -> str:
    """What is recorded as "by": the signed-in account, with a name the body gives kept as "for <name>" (a
    shared console's operator), never in its place."""
    if named is None or named == "":
        return actor_name
    if not isinstance(named, str) or len(named.strip()) > 128:
        raise FieldError(
            "by", "must be a name of 1 to 128 characters (the signed-in account is recorded)"
        ).as_error()
    named = named.strip()
    return actor_name if named == actor_name else f"{actor_name} for {named}"


def check_object_site(request: Request, site: str | None, what: str) -> None:
    """A site-limited principal acts only on objects of its sites (the rules let it reach the handler)."""
    principal = getattr(request.state, "principal", None)
    if principal is not None and not principal.may_use_site(site):
        raise HTTPProblem(403, f"{principal.name} may not act on {what}: it belongs to another site")


class Reach:
    """What the request's principal may touch, for the handlers: every name a request gives goes through
    here (services/scope.py), and list services take the `Selection` it returns. A request without a
    principal (only the rules' open paths) sees nothing."""

    def __init__(self, request: Request):
        principal = getattr(request.state, "principal", None)
        self.sites: Sites = principal.sites if principal is not None else frozenset()
        self.resolver = request.app.state.runtime.scope

    async def select(
        self,
        *,
        site: str | None = None,
        room: str | None = None,
        sensor_id: str | None = None,
        room_id: int | None = None,
    ) -> Selection:
        """The rooms the request names (all it may see when it names none); 403 for a name outside its
        sites, 404 for one that does not exist."""
        if self.sites is None and not (site or room or sensor_id or room_id is not None):
            return Selection(None)  # nothing to look up
        return await asyncio.to_thread(
            self.resolver.resolve, self.sites, site=site, room=room, sensor_id=sensor_id, room_id=room_id
        )

    def site(self, site: str | None) -> None:
        """403 when the request names a site outside the principal's (for one-room endpoints, whose
        service looks the room up by this same name)."""
        check_site(self.sites, site or None)
        if self.sites is not None and not site:
            raise OutOfScope("name the site (enseigne)")

    async def room(self, room_id: int | None, what: str) -> None:
        """403 when an object found by id (`what`) lies in a room outside the principal's sites."""
        if self.sites is not None:
            await asyncio.to_thread(self.resolver.check_room, self.sites, room_id, what)


ReachDep = Annotated[Reach, Depends(Reach)]


async def read_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request's JSON body, which must be an object: 422 otherwise."""
    body = await read_json(request, max_bytes)
    if not isinstance(body, dict):
        raise HTTPProblem(422, "body: must be a JSON object")
    return body


def error_answer(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str] | None]:
    """The one mapping of errors to (status, JSON body, headers): for FastAPI's handlers and the lane."""
    if isinstance(exc, HTTPProblem):
        return exc.status, {"error": exc.message}, exc.headers
    if isinstance(exc, BodyTooLarge):
        return 413, {"error": str(exc)}, None
    if isinstance(exc, KeyRefused):
        return exc.status, {"error": exc.message}, exc.headers()
    if isinstance(exc, InvalidInput):
        first = exc.errors[0]
        more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
        return (
            422,
            {
                "error": f"{first.field}: {first.problem}{more}",
                "detail": [e.as_dict() for e in exc.errors[:100]],
            },
            None,
        )
    if isinstance(exc, OutOfScope | SiteRefused):
        return 403, {"error": str(exc)}, None
    if isinstance(exc, NotFound):
        return 404, {"error": str(exc)}, None
    if isinstance(exc, Conflict):
        return 409, {"error": str(exc)}, None
    if isinstance(exc, BatchTooLarge):
        return 413, {"error": str(exc)}, None
    if isinstance(exc, IngestUnavailable):
        return 503, {"error": str(exc)}, {"Retry-After": "5"}
    return 500, {"error": "internal error; the details are in the server log"}, None


def install_error_handlers(app: FastAPI, *, page_not_found: Callable[..., Awaitable[Response]]) -> None:
    """The API's error shape for every refusal; `page_not_found` answers an unknown page's address."""

    async def answer(request: Request, exc: Exception) -> JSONResponse:
        status, body, headers = error_answer(exc)
        if status == 500:
            log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(body, status_code=status, headers=headers)

    async def request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(".".join(str(p) for p in e.get("loc", ())[1:]) or "request", e.get("msg", "invalid"))
            for e in exc.errors()
        ]
        return await answer(request, InvalidInput(errors))

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """FastAPI's and Starlette's own refusals (405, an unknown API path's 404) in the API's error shape;
        an unknown page keeps NiceGUI's page."""
        if exc.status_code == 404 and not request.url.path.startswith(API_PREFIXES):
            return await page_not_found(request, exc)
        message = (
            f"no such endpoint: {request.method} {request.url.path}" if exc.status_code == 404 else exc.detail
        )
        return JSONResponse({"error": str(message)}, status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(404, http_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    for kind in (
        HTTPProblem,
        BodyTooLarge,
        KeyRefused,
        InvalidInput,
        NotFound,
        OutOfScope,
        SiteRefused,
        Conflict,
        BatchTooLarge,
        IngestUnavailable,
        Exception,
    ):
        app.add_exception_handler(kind, answer)
