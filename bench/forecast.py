"""Forecast evaluation on every shared recording: the figures of docs/forecasting.md.

    python bench/forecast.py [--metric co2] [--horizon 30] [--only uci,uhoo,...] > figures.md

Runs `services.forecasting.evaluate` on each file (same code, same choices for all files), prints one
Markdown row per file and then the mean of each data set and the mean over data sets. Long (minutes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATASETS = ROOT.parent / "shared" / "datasets"

from services.forecasting.evaluate import evaluate  # noqa: E402
from services.forecasting.models import CANDIDATES  # noqa: E402


def files() -> list[tuple[str, str, Path]]:
    out = [("uci", "uci", p) for p in sorted((DATASETS / "uci-occupancy").glob("*.txt"))]
    out += [("uhoo", "uhoo", p) for p in sorted((DATASETS / "uhoo-homes").glob("*.csv"))]
    out += [("awair", "awair", p) for p in sorted((DATASETS / "rice130-awair").iterdir()) if p.is_dir()]
    out += [("r1", "r1", DATASETS / "upstream-r1" / "r1_5min.csv")]
    out += [
        ("smart-building", "smart-building", p) for p in sorted((DATASETS / "smart-building").glob("*.csv"))
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--metric", default="co2")
    parser.add_argument("--horizon", type=float, default=30)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    only = {s for s in args.only.split(",") if s}
    names = [*CANDIDATES, "combined"]
    print(f"| set | file | {' | '.join(names)} | chosen | best ratio | s |")
    print("|---|---|" + "---|" * len(names) + "---|---|---|")
    per_set: dict[str, list[float]] = {}
    for dataset, fmt, path in files():
        if only and dataset not in only:
            continue
        started = time.perf_counter()
        try:
            report = evaluate(str(path), fmt, args.metric, args.horizon)
        except ValueError as exc:
            print(f"| {dataset} | {path.name} | skipped: {exc} |")
            continue
        ratios = " | ".join(f"{report['models'][n]['mae_ratio']:.3f}" for n in names)
        choices = ",".join(f"{k}:{v}" for k, v in report["models"]["selected"]["choices"].items())
        best = report["best_mae_ratio"]
        per_set.setdefault(dataset, []).append(best)
        print(
            f"| {dataset} | {path.name} | {ratios} | {choices} | {best:.3f} | "
            f"{time.perf_counter() - started:.0f} |",
            flush=True,
        )
    print()
    print("| set | files | mean best ratio | worst file |")
    print("|---|---|---|---|")
    for dataset, values in per_set.items():
        print(f"| {dataset} | {len(values)} | {sum(values) / len(values):.3f} | {max(values):.3f} |")
    means = [sum(v) / len(v) for v in per_set.values()]
    if means:
        print(f"\nmean over data sets: {sum(means) / len(means):.3f}")


if __name__ == "__main__":
    main()
