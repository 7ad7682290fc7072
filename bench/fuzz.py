"""schemathesis over every operation of the platform's OpenAPI document with an admin token, against a real
platform process, with cases that follow the document and cases that break it: counts the cases and lists
every answer of 500 or more (there must be none).

    .venv/bin/python bench/fuzz.py [--cases 10000] [--seed 1]

Two operations are left out because a generated case would end the run rather than test anything: revoking
a token (the run's own is id 1) and deleting a user (the first admin is id 1). Both are covered by the
tests of admin scope and of the role matrix. Long: about 2 minutes for 10 000 cases on this machine.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import schemathesis  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import response_schema_conformance  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from tests.support.env import ADMIN_TOKEN  # noqa: E402
from tests.support.servers import PlatformProcess  # noqa: E402

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LEFT_OUT = {("DELETE", "/api/auth/tokens/{token_id}"), ("DELETE", "/api/auth/users/{user_id}")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases in all, spread over the operations")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="iaq-fuzz-")) / "data"
    server = PlatformProcess(data, IAQ_ALERTS="1").start()
    try:
        schema = schemathesis.openapi.from_url(
            server.anonymous_url + "/openapi.json", headers=AUTH, timeout=10
        )
        operations = [
            result.ok()
            for result in schema.get_all_operations()
            if (result.ok().method.upper(), result.ok().path) not in LEFT_OUT
        ]
        statuses: collections.Counter[int] = collections.Counter()
        failures: list[str] = []
        undescribed: list[str] = []
        started = time.monotonic()
        runs = [(o, mode) for o in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
        per_operation = max(1, args.cases // len(runs))
        for operation, mode in runs:

            @given(case=operation.as_strategy(mode))
            @settings(
                max_examples=per_operation,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                derandomize=False,
                phases=[Phase.generate],  # no shrinking: every case counts once
            )
            def fuzz(case) -> None:
                response = case.call(base_url=server.anonymous_url, headers=AUTH, timeout=30)
                statuses[response.status_code] += 1
                try:
                    case.validate_response(response, checks=[response_schema_conformance])
                except Exception as exc:  # an answer the document does not describe
                    undescribed.append(f"{response.status_code} {case.method} {case.path}: {str(exc)[:300]}")
                if response.status_code >= 500:
                    failures.append(
                        f"{response.status_code} {case.method} {response.request.url}\n"
                        f"    body: {str(case.body)[:200]}\n    answer: {response.text[:200]}"
                    )

            try:
                with contextlib.redirect_stdout(io.StringIO()):  # hypothesis's notes on unsatisfiable runs
                    fuzz()
            except Unsatisfiable:  # nothing of this operation can break its document (no parameters)
                continue
        elapsed = time.monotonic() - started
        total = sum(statuses.values())
        print(f"{total} cases over {len(operations)} operations in {elapsed:.0f} s")
        print("statuses:", dict(sorted(statuses.items())))
        print(f"answers the document does not describe: {len(undescribed)}")
        for line in sorted(set(undescribed))[:30]:
            print("   ", line)
        print(f"server errors: {len(failures)}")
        for failure in failures[:50]:
            print(failure)
        errors = [line for line in server.log().splitlines() if " ERROR " in line or "Traceback" in line]
        print(f"error lines in the server log: {len(errors)}")
        for line in errors[:20]:
            print("   ", line)
        sys.exit(1 if failures else 0)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
