"""Draws the layers of the code from its imports: which part imports which, as a Mermaid flowchart between
the markers of docs/architecture.md. A test (tests/unit/test_layers.py) fails
when the picture there is not what the code says; run `python docs/layers.py` to redraw it.

The parts are those of the import contracts in pyproject.toml, top to bottom.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- layers:begin (python docs/layers.py) -->", "<!-- layers:end -->"
# (part, module prefixes), most specific first: a module belongs to the first part whose prefix it has
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("entry points", ("app.__main__", "app.main", "app.cli")),
    ("app.api", ("app.api",)),
    ("pages", ("pages",)),
    ("app.auth", ("app.auth",)),
    ("app.runtime", ("app.runtime",)),
    ("components", ("components",)),
    ("services", ("services",)),
    ("core: storage", ("app.core.storage",)),
    ("core: db", ("app.core.db",)),
    ("core: domain", ("app.core.domain",)),
    ("core: bus, settings, workers", ("app.core",)),
]


def part_of(module: str) -> str | None:
    for part, prefixes in PARTS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return part
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, module: str) -> list[str]:
    """The project modules `path` imports at run time (not those only for type checking)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    checking = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if id(node) in checking:
            continue
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.append(base)
    return out


def edges() -> tuple[Counter, Counter]:
    """(import statements between parts, lines per part)."""
    between: Counter = Counter()
    lines: Counter = Counter()
    for folder in ("app", "services", "pages", "components"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            module = module_name(path)
            source = part_of(module)
            if source is None:
                continue
            lines[source] += len(path.read_text(encoding="utf-8").splitlines())
            for target in map(part_of, imports_of(path, module)):
                if target is not None and target != source:
                    between[(source, target)] += 1
    return between, lines


def mermaid() -> str:
    between, lines = edges()
    order = {part: i for i, (part, _) in enumerate(PARTS)}
    ids = {part: f"L{i}" for part, i in order.items()}
    out = ["```mermaid", "flowchart TD"]
    out += [f'    {ids[part]}["{part}"]' for part, _ in PARTS if lines[part]]
    ranked = sorted(between.items(), key=lambda edge: (order[edge[0][0]], order[edge[0][1]]))
    out += [f"    {ids[a]} --> {ids[b]}" for (a, b), _ in ranked]
    out.append("```")
    return "\n".join(out)


def drawn(text: str) -> str:
    """`text` with the picture between the markers redrawn."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{mermaid()}\n{END}{tail}"


if __name__ == "__main__":
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text:
        sys.exit(f"{DOC} has no {BEGIN} marker")
    DOC.write_text(drawn(text), encoding="utf-8")
    print(f"redrew the layers in {DOC.relative_to(ROOT)}")
