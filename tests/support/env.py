"""What every test and benchmark shares: the project's folders, the first admin's credentials, and the
environment of a platform subprocess."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATASETS = ROOT.parent / "shared" / "datasets"
# Authentication is on in every test: the first admin gets this password and this personal access token
# (IAQ_ADMIN_PASSWORD, IAQ_ADMIN_TOKEN), and the shared clients send them. A test of refusal uses an
# anonymous client explicitly (`anonymous_url`, `create_user`).
ADMIN_PASSWORD = "admin-password-of-the-tests"
ADMIN_TOKEN = "iaqp_test-admin-token-0123456789abcdef"
BROWSER_ORIGIN = "http://test"  # NiceGUI's simulated users talk to http://test; browsers send their Origin


def server_env(**overrides: str) -> dict[str, str]:
    """Environment for a platform subprocess: this one, minus pytest's marker (NiceGUI changes behaviour
    under pytest), plus the overrides."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["PYTHONPATH"] = str(ROOT)
    env.update(overrides)
    return env
