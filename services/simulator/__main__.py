"""Feed a running IAQverse over HTTP with simulated rooms or a replayed data set.

    python -m services.simulator --url URL [--rooms 3] [--interval 5] [--backfill-hours 24]
    python -m services.simulator --url URL --replay FILE [FILE ...] [--format uhoo] [--speed 60]

Exit codes: 0 normal end (including Ctrl-C), 1 the server never answered, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from services.datasets import DATASET_FORMATS, infer_format, read_dataset
from services.simulator.demo import DemoSimulator, demo_sites
from services.simulator.http_sink import IngestClient, ServerUnreachable
from services.simulator.replay import merge_rows, replay


def _number(kind: type, minimum: float, inclusive: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value < minimum or (value == minimum and not inclusive):
            raise argparse.ArgumentTypeError(f"must be {'>=' if inclusive else '>'} {minimum}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its error messages
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The command line interface (exits with code 2 on bad arguments, as argparse does)."""
    parser = argparse.ArgumentParser(
        prog="python -m services.simulator",
        description="Post simulated or replayed IAQ readings to a platform's /api/ingest.",
    )
    parser.add_argument("--url", required=True, help="platform base URL, e.g. http://localhost:8080")
    parser.add_argument("--api-key", help="sent as 'Authorization: Bearer KEY' and 'X-API-Key: KEY'")
    parser.add_argument(
        "--rooms",
        type=_number(int, 1, True),
        default=3,
        help="simulated rooms (the 3 demo rooms, then extra 'Room N' offices)",
    )
    parser.add_argument(
        "--interval",
        type=_number(float, 0, False),
        default=5.0,
        help="seconds between simulated rounds (default 5)",
    )
    parser.add_argument(
        "--backfill-hours",
        type=_number(float, 0, True),
        default=0.0,
        help="first send this many hours of simulated history (1-minute steps)",
    )
    parser.add_argument(
        "--replay",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="replay data set files (or an Awair day folder) instead of simulating",
    )
    parser.add_argument("--format", choices=DATASET_FORMATS, help="data set format (default: inferred)")
    parser.add_argument(
        "--speed",
        type=_number(float, 0, False),
        default=60.0,
        help="replay speed: recorded seconds per real second (default 60)",
    )
    parser.add_argument("--count", type=_number(int, 1, True), help="stop after N rounds (replay: N posts)")
    parser.add_argument(
        "--retries",
        type=_number(int, 0, True),
        default=5,
        help="retries on connection errors and 5xx, with backoff (default 5)",
    )
    parser.add_argument("--seed", type=int, help="random seed, for a reproducible simulation")
    return parser


async def _simulate(args: argparse.Namespace, client: IngestClient) -> None:
    unreachable: list[ServerUnreachable] = []

    async def sink(payloads: list[dict]) -> None:
        if unreachable:  # do not wait through the retries again for every chunk
            raise unreachable[0]
        try:
            await client.send(payloads)
        except ServerUnreachable as exc:
            unreachable.append(exc)
            simulator.stop()
            raise

    simulator = DemoSimulator(sink, interval_s=args.interval, sites=demo_sites(args.rooms), seed=args.seed)
    if args.backfill_hours:
        await simulator.backfill(hours=args.backfill_hours, step_s=60)
    if not unreachable:
        await simulator.run(rounds=args.count)
    if unreachable:
        raise unreachable[0]


async def _replay(args: argparse.Namespace, formats: list[str], client: IngestClient) -> None:
    streams = [read_dataset(path, fmt) for path, fmt in zip(args.replay, formats, strict=True)]
    rows = streams[0] if len(streams) == 1 else merge_rows(*streams)
    await replay(rows, client.send, speed=args.speed, max_calls=args.count)


async def _main(args: argparse.Namespace, formats: list[str]) -> int:
    async with IngestClient(args.url, api_key=args.api_key, retries=args.retries) as client:
        try:
            if args.replay:
                await _replay(args, formats, client)
            else:
                await _simulate(args, client)
        except ServerUnreachable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            print(client.summary(), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run until done (or Ctrl-C) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error("--url must start with http:// or https://")
    formats = []
    if args.replay:
        if args.backfill_hours:
            parser.error("--backfill-hours applies to simulated rooms, not to --replay")
        for path in args.replay:
            if not path.exists():
                parser.error(f"--replay: no such file or folder: {path}")
            fmt = args.format or infer_format(path)
            if fmt is None:
                parser.error(f"cannot tell the data set format of {path}; pass --format")
            formats.append(fmt)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_main(args, formats))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
