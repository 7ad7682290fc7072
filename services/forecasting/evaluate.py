"""Evaluate the forecasting candidates on a recording, or the chosen forecaster on every shared one.

    python -m services.forecasting.evaluate --csv FILE --format uci --metric co2 --horizon 30
    python -m services.forecasting.evaluate --all [--datasets ../shared/datasets] [--match uhoo]

With `--all`, every recording found under the data sets' folder is scored at 15, 30 and 60 minutes: one
table row per recording with the chosen forecaster's MAE divided by persistence's, then the mean and the
worst ratio per horizon (the table `docs/forecasting.md` keeps, dated).

Trains on the first 60 % of the time span and scores on the rest (rolling origin, see ``backtest``).
Prints one line per model with its MAE, its MAE divided by persistence's (``mae_ratio``, the MASE against
persistence), RMSE, the coverage of its 80 % interval and, for CO2, the precision and recall of "will
exceed 1000 ppm within the horizon"; then ``selected`` (the model chosen per series on the validation
slice of the training span) and a last line ``best <model> mae_ratio=<x>`` for that choice.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections import Counter
from pathlib import Path

from services.datasets import DATASET_FORMATS, infer_format

from .backtest import backtest
from .models import CANDIDATES
from .series import Series, dataset_series

METRICS = ("co2", "pm25", "tvoc", "temperature", "humidity")


def _fmt(value: float, digits: int = 3) -> str:
    return "nan" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def evaluate(
    path: str,
    fmt: str,
    metric: str = "co2",
    horizon_min: float = 30,
    *,
    train_frac: float = 0.6,
    max_days: float | None = None,
    models: tuple[str, ...] = tuple(CANDIDATES),
) -> dict:
    """Backtest every model on the file; returns the figures the command prints."""
    series = dataset_series(path, fmt, metric)
    if max_days:
        series = [s.slice(0, int(max_days * 86400 / s.step_s)) for s in series]
    series = [s for s in series if len(s) > 0]
    if not series:
        raise ValueError(f"no {metric} values in {path}")
    if "persistence" not in models:
        models = ("persistence", *models)
    results = backtest(series, horizon_min, metric=metric, candidates=models, train_frac=train_frac)
    base = results["persistence"].mae
    rows = {}
    for name, scores in results.items():
        precision, recall = scores.precision_recall()
        rows[name] = {
            "mae": scores.mae,
            "rmse": scores.rmse,
            "mae_ratio": scores.mae / base if base else float("nan"),
            "val_mae_ratio": scores.val_mae / results["persistence"].val_mae
            if results["persistence"].val_mae
            else float("nan"),
            "coverage80": scores.coverage,
            "precision": precision,
            "recall": recall,
            "shrink": sum(scores.shrinks) / len(scores.shrinks) if scores.shrinks else float("nan"),
            "fit_s": scores.fit_s,
            "failures": scores.failures,
            "n": scores.n,
        }
    choices = Counter(results["selected"].choices)
    rows["selected"]["choices"] = dict(choices)
    best = next(iter(choices)) if len(choices) == 1 else "selected"
    return {
        "file": str(path),
        "format": fmt,
        "metric": metric,
        "horizon_min": horizon_min,
        "series": [_describe(s) for s in series],
        "models": rows,
        "best": best,
        "best_mae_ratio": rows["selected"]["mae_ratio"],
    }


def _describe(series: Series) -> dict:
    return {"name": series.name, "points": len(series), "step_s": series.step_s}


def format_report(report: dict) -> str:
    lines = [
        f"# {report['file']} ({report['format']}), {report['metric']} at {report['horizon_min']:g} min, "
        + ", ".join(f"{s['name']}: {s['points']} x {s['step_s']:g} s" for s in report["series"])
    ]
    for name, row in report["models"].items():
        line = (
            f"{name} mae={_fmt(row['mae'])} mae_ratio={_fmt(row['mae_ratio'])} rmse={_fmt(row['rmse'])} "
            f"val_ratio={_fmt(row['val_mae_ratio'])} coverage80={_fmt(row['coverage80'], 2)} "
            f"shrink={_fmt(row['shrink'], 2)}"
        )
        if report["metric"] == "co2":
            line += f" precision1000={_fmt(row['precision'], 2)} recall1000={_fmt(row['recall'], 2)}"
        if name == "selected":
            line += " choices=" + ",".join(f"{k}:{v}" for k, v in row["choices"].items())
        else:
            line += f" fit_s={row['fit_s']:.1f}" + (f" failures={row['failures']}" if row["failures"] else "")
        lines.append(line)
    lines.append(f"best {report['best']} mae_ratio={_fmt(report['best_mae_ratio'])}")
    return "\n".join(lines)


ALL_HORIZONS_MIN = (15, 30, 60)
DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def recordings(root: Path, match: str | None = None) -> list[tuple[str, str, Path]]:
    """(set, format, path) of every recording under `root`: each file (or Awair day folder) of each set's
    folder whose format can be told, in name order; `match` keeps those whose path contains it."""
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for child in sorted(folder.iterdir()):
            if child.is_file() and child.suffix.lower() not in (".csv", ".txt"):
                continue
            fmt = infer_format(child)
            if fmt is not None and (match is None or match in child.as_posix()):
                found.append((folder.name, fmt, child))
    return found


def evaluate_all(
    root: Path, metric: str = "co2", *, match: str | None = None, max_days: float | None = None
) -> list[dict]:
    """The chosen forecaster's MAE ratio to persistence on every recording at 15, 30 and 60 minutes."""
    rows = []
    for name, fmt, path in recordings(root, match):
        started, ratios = time.monotonic(), {}
        for horizon in ALL_HORIZONS_MIN:
            try:
                report = evaluate(str(path), fmt, metric, horizon, max_days=max_days)
                ratios[horizon] = report["best_mae_ratio"]
            except ValueError:  # no values of the metric, or too little history
                ratios[horizon] = float("nan")
        rows.append({"set": name, "file": path.name, "ratios": ratios, "time_s": time.monotonic() - started})
    return rows


def format_all(rows: list[dict], metric: str) -> str:
    """A Markdown table: a row per recording, then the mean and the worst per horizon."""
    head = " | ".join(f"{h} min" for h in ALL_HORIZONS_MIN)
    lines = [
        f"{metric}: the chosen forecaster's MAE / persistence's (below 1: better)",
        "",
        f"| set | file | {head} | time (s) |",
        "|---|---|" + "---|" * len(ALL_HORIZONS_MIN) + "---|",
    ]
    for row in rows:
        cells = " | ".join(_fmt(row["ratios"][h]) for h in ALL_HORIZONS_MIN)
        lines.append(f"| {row['set']} | {row['file']} | {cells} | {row['time_s']:.0f} |")
    for label, pick in (("mean", lambda v: sum(v) / len(v)), ("worst", max)):
        cells = []
        for h in ALL_HORIZONS_MIN:
            values = [r["ratios"][h] for r in rows if not math.isnan(r["ratios"][h])]
            cells.append(_fmt(pick(values)) if values else "nan")
        lines.append(f"| **{label}** | | {' | '.join(cells)} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.forecasting.evaluate", description=__doc__)
    parser.add_argument("--csv", help="data set file (or Awair day folder)")
    parser.add_argument("--format", choices=DATASET_FORMATS)
    parser.add_argument("--all", action="store_true", help="every shared recording at 15, 30 and 60 min")
    parser.add_argument("--datasets", type=Path, default=DATASETS, help="the data sets' folder, with --all")
    parser.add_argument("--match", help="with --all: only recordings whose path contains this")
    parser.add_argument("--metric", default="co2", choices=METRICS)
    parser.add_argument("--horizon", type=float, default=30, help="minutes ahead, 5 to 60")
    parser.add_argument("--train-frac", type=float, default=0.6)
    parser.add_argument("--max-days", type=float, default=None, help="use only the first N days")
    parser.add_argument("--models", default=",".join(CANDIDATES), help="comma-separated candidates")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.all:
        if not args.datasets.is_dir():
            parser.error(f"--datasets: {args.datasets} is not a folder")
        rows = evaluate_all(args.datasets, args.metric, match=args.match, max_days=args.max_days)
        if not rows:
            print(f"error: no recording under {args.datasets}", file=sys.stderr)
            return 2
        print(json.dumps(rows, default=float) if args.json else format_all(rows, args.metric))
        return 0
    if not args.csv or not args.format:
        parser.error("--csv and --format name the recording (or use --all)")
    if not 5 <= args.horizon <= 60:
        parser.error("--horizon: must be between 5 and 60 minutes")
    if not 0.2 <= args.train_frac <= 0.9:
        parser.error("--train-frac: must be between 0.2 and 0.9")
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = [m for m in models if m not in CANDIDATES]
    if unknown:
        parser.error(f"--models: unknown {', '.join(unknown)}; expected some of {', '.join(CANDIDATES)}")
    try:
        report = evaluate(
            args.csv,
            args.format,
            args.metric,
            args.horizon,
            train_frac=args.train_frac,
            max_days=args.max_days,
            models=models,
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, default=float) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
