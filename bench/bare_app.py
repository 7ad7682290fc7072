"""The reference: a bare Starlette route that only parses the JSON body and answers 204."""

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def ingest(request: Request) -> Response:
    json.loads(await request.body())
    return Response(status_code=204)


app = Starlette(routes=[Route("/api/ingest", ingest, methods=["POST"])])
