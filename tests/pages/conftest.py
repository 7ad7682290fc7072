"""Every page test also checks the server side: no error is logged while the test uses the pages (an
exception in a page's handler is logged, not shown, so a test that only looks at the page would miss it).
A test that provokes an error on purpose says so with `@pytest.mark.logs_errors`."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def no_error_logged(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING)
    yield
    if request.node.get_closest_marker("logs_errors"):
        return
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and not _earlier_loop(r)]
    assert not errors, "errors logged while the pages were used:\n" + "\n".join(
        f"{r.name}: {r.getMessage()}" + (f"\n{r.exc_text}" if r.exc_text else "") for r in errors
    )


def _earlier_loop(record: logging.LogRecord) -> bool:
    """asyncio's word, when the garbage collector finds it, about a task of an earlier test's event loop
    (the simulated user's app runs one loop per test): not this test's pages."""
    return record.name == "asyncio" and "Task was destroyed but it is pending" in record.getMessage()
