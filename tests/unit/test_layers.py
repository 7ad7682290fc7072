"""The layers of the code hold: the import contracts of pyproject.toml (import-linter) are kept, so an import
that runs up a layer (a service importing the API, a page touching storage, the domain doing I/O) fails the
test run as it fails `make lint`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.env import ROOT


def test_every_import_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    assert lint.exists(), "install the test extras: pip install -e '.[dev]' (import-linter)"
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_broken_contract_is_caught(tmp_path):
    """The check can fail: a contract that the code breaks (the API importing pages) is reported broken."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["app", "pages"]\n\n[[tool.importlinter.contracts]]\n'
        'name = "made to break"\ntype = "forbidden"\n'
        'source_modules = ["app.main"]\nforbidden_modules = ["pages"]\n'
    )
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "BROKEN" in result.stdout


def test_the_picture_of_the_layers_in_the_docs_is_what_the_code_imports():
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import layers
    finally:
        sys.path.remove(str(ROOT / "docs"))
    text = layers.DOC.read_text(encoding="utf-8")
    assert layers.BEGIN in text, "docs/architecture.md lost its layers markers"
    assert layers.drawn(text) == text, (
        "the layers changed: run `python docs/layers.py` and commit the picture"
    )
    assert "-->" in layers.mermaid()  # the picture has arrows: the imports were found
