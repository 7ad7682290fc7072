"""The OpenAPI document says what the API really sends when it refuses: every error is a `Problem`
(`{"error": "...", "detail": [{"field", "problem"}]}`, the detail for 422 only), as `app.api.common`
writes them, instead of FastAPI's default `HTTPValidationError`, which this API never sends."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from .schemas import COMPONENTS

PROBLEM_REF = "#/components/schemas/Problem"


class FieldProblem(BaseModel):
    field: str = Field(
        description="the field, e.g. `values.co2`, `[3].timestamp`, `limit`", examples=["values.co2"]
    )
    problem: str = Field(examples=["45000 ppm is outside the physical range 0 to 40000"])


class Problem(BaseModel):
    """Every error answer: a sentence that names the field and the problem; for 422 also each field."""

    error: str = Field(examples=["values.co2: 45000 ppm is outside the physical range 0 to 40000"])
    detail: list[FieldProblem] | None = Field(None, description="422 only: every invalid field (100 at most)")


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": PROBLEM_REF}}}}


def _with_problems(doc: dict[str, Any]) -> dict[str, Any]:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(COMPONENTS)  # nested models of the request bodies (app/api/schemas.py)
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "422" in responses:
                responses["422"] = _problem(
                    "a parameter or a field of the body is invalid; nothing was changed"
                )
            responses.setdefault(
                "default", _problem("any other error (401, 403, 404, 409, 413, 415, 429, 503)")
            )
    return doc


def install_openapi(app: FastAPI) -> None:
    """Serve the document with the API's real error bodies (built once, on the first request for it)."""
    app.openapi_schema = None

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = _with_problems(doc)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
