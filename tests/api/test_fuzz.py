"""Property-based fuzzing of the ingestion and query API from the app's own OpenAPI document (schemathesis,
on hypothesis), against a real platform process: no answer is a 5xx, every answer (errors included) has a
status and a body the document describes, and a refused write stores nothing.

A bounded number of cases per operation runs here (IAQ_FUZZ_EXAMPLES, default 25); docs/security.md gives
the figures of a larger run."""

from __future__ import annotations

import os
import sqlite3

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from tests.support.env import ADMIN_TOKEN
from tests.support.servers import platform

pytestmark = pytest.mark.slow  # make test runs it; make test-fast leaves it out

EXAMPLES = int(os.environ.get("IAQ_FUZZ_EXAMPLES", "25"))
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FUZZED = r"^/(api/ingest|iaq|api/iaq/data)$"


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    with platform(tmp_path_factory.mktemp("fuzz") / "data") as srv:
        yield srv


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    loaded = schemathesis.openapi.from_url(
        fuzz_server.anonymous_url + "/openapi.json", headers=AUTH, timeout=10
    )
    return loaded.include(path_regex=FUZZED)


def stored_readings(server) -> int:
    with sqlite3.connect(f"file:{server.data_dir / 'iaqverse.db'}?mode=ro", uri=True, timeout=10) as db:
        return db.execute("SELECT count(*) FROM readings").fetchone()[0]


def test_fuzzed_requests_get_no_server_error_and_refused_writes_store_nothing(fuzz_server, api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {f"{o.method.upper()} {o.path}" for o in operations} == {
        "POST /api/ingest",
        "POST /iaq",
        "GET /api/iaq/data",
    }
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def fuzz(case) -> None:
            before = stored_readings(fuzz_server) if case.method == "POST" else None
            response = case.call(base_url=fuzz_server.anonymous_url, headers=AUTH, timeout=10)
            case.validate_response(
                response, checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
            )
            if before is not None and response.status_code >= 400:
                assert stored_readings(fuzz_server) == before, (
                    f"{response.status_code} but readings were stored"
                )

        fuzz()
