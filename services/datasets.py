"""Readers for the shared real-world indoor air data sets.

The formats are documented in ``shared/datasets/README.md``. Every reader yields
:class:`DatasetRow` objects in time order, with UTC timestamps and canonical metric
names, ready for :func:`payload_from_row`. Files are streamed row by row; only an
Awair day folder (six small wide files) is merged in memory.

Glitches (CO2 at 8 ppm, 394 °C, saturated TVOC...) are passed through untouched:
judging them is the platform's validation job. Only cells that are not finite
numbers are dropped, metric by metric.
"""

from __future__ import annotations

import csv
import heapq
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

DATASET_FORMATS = ("uci", "uhoo", "smart-building", "awair", "r1")

#: Units the platform stores the core metrics in; other units travel in ``DatasetRow.units``.
# Zones of the naive local timestamps, as the data sets' README documents them.
UCI_TZ = ZoneInfo("Europe/Brussels")  # the UCI office is in Mons, Belgium
UHOO_TZ = ZoneInfo("Europe/Rome")
R1_TZ = ZoneInfo("Europe/Paris")

# Rows up to this many lines out of order are put back in order while streaming;
# later stragglers are dropped with a warning (none of the shipped files needs it).
REORDER_WINDOW_ROWS = 256

UHOO_COLUMNS = ("temperature", "humidity", "pm25", "tvoc", "co2", "co", "pressure", "ozone", "no2")
UCI_COLUMNS = {
    "temperature": "temperature",
    "humidity": "humidity",
    "light": "light",
    "co2": "co2",
    "humidityratio": "humidity_ratio",
    "occupancy": "occupancy",
}
SMART_BUILDING_COLUMNS = ("co2", "humidity", "light", "pir", "temperature")
R1_COLUMNS = ("co2", "pm25", "tvoc", "temperature", "humidity")
# awair_score.csv is Awair's composite index, not a measurement, so it is not read.
AWAIR_FILES = {
    "co2_ppm.csv": "co2",
    "pm25_ugm3.csv": "pm25",
    "voc_ppb.csv": "tvoc",
    "temperature_c.csv": "temperature",
    "humidity_pct.csv": "humidity",
}
PPB_TVOC = {"tvoc": "ppb"}


@dataclass(frozen=True, slots=True)
class DatasetRow:
    """One reading of one sensor: aware UTC time, canonical metric names, non-canonical units."""

    ts: datetime
    sensor_id: str
    site: str
    room: str
    values: dict[str, float]
    units: dict[str, str] = field(default_factory=dict)


def read_dataset(
    path: str | Path, fmt: str, *, site: str | None = None, room: str | None = None
) -> Iterator[DatasetRow]:
    """Stream the rows of a data set file (or Awair day folder) in time order.

    ``site`` and ``room`` override the format's default names. Duplicate stamps of a
    sensor keep their first row. Raises ``ValueError`` for an unknown format and
    ``FileNotFoundError`` for a missing path, at call time rather than on first use.
    """
    reader = _READERS.get(fmt)
    if reader is None:
        raise ValueError(f"unknown data set format {fmt!r}; expected one of {', '.join(DATASET_FORMATS)}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no data set at {path}")
    return _in_time_order(reader(path, site, room), source=str(path))


def infer_format(path: str | Path) -> str | None:
    """Guess a data set's format from its header (or folder content), then its path; None if unsure."""
    path = Path(path)
    if path.is_dir():
        children = (child for child in path.iterdir() if child.is_dir())
        return "awair" if _is_awair_folder(path) or any(_is_awair_folder(c) for c in children) else None
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError):
        header = []
    fields = [name.strip().lower() for name in header]
    if fields[:2] == ["date", "temperature"]:
        return "uci"
    if fields[:1] == ["timestamp_ms"]:
        return "awair"
    if fields[:1] == ["timestamp"] and "pir" in fields:
        return "smart-building"
    if fields[:1] == ["timestamp"] and "capteur_id" in fields:
        return "r1"
    if len(fields) == 12 and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?", fields[0]):
        return "uhoo"
    hints = {"uci": "uci", "uhoo": "uhoo", "smart-building": "smart-building", "awair": "awair", "r1": "r1"}
    text = path.as_posix().lower()
    return next((fmt for hint, fmt in hints.items() if hint in text), None)


def iso_utc(ts: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with 'Z'; milliseconds only when non-zero."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: a time zone is required")
    ts = ts.astimezone(UTC)
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    millis = ts.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def payload_from_row(row: DatasetRow) -> dict:
    """Turn a row into one reading of the platform's ingest format."""
    payload = {
        "sensor_id": row.sensor_id,
        "enseigne": row.site,
        "salle": row.room,
        "timestamp": iso_utc(row.ts),
        "values": dict(row.values),
    }
    if row.units:
        payload["units"] = dict(row.units)
    return payload


# --- parsing helpers -------------------------------------------------------------------------


def _number(text: str | None) -> float | None:
    """A finite float from a CSV cell, or None for blanks, words ('None', 'NA') and NaN/inf."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _values(pairs: Iterable[tuple[str, str | None]]) -> dict[str, float]:
    """Keep the metrics whose cell parses; a missing metric never drops the whole row."""
    return {name: value for name, text in pairs if (value := _number(text)) is not None}


def _local_to_utc(text: str, zone: ZoneInfo, *, round_to_minute: bool = False) -> datetime:
    """Parse a naive local stamp in ``zone`` (DST folds resolve to the first occurrence)."""
    stamp = datetime.fromisoformat(text.strip())
    if round_to_minute:
        stamp = (stamp + timedelta(seconds=30)).replace(second=0, microsecond=0)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=zone)
    return stamp.astimezone(UTC)


def _csv_rows(path: Path) -> Iterator[list[str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        yield from csv.reader(handle)


def _in_time_order(rows: Iterable[DatasetRow], source: str) -> Iterator[DatasetRow]:
    """Re-order a nearly sorted stream through a small heap and drop repeated (sensor, ts) pairs."""
    heap: list[tuple[datetime, int, DatasetRow]] = []
    last_ts_by_sensor: dict[str, datetime] = {}
    newest_out: datetime | None = None
    duplicates = late = 0
    for seq, row in enumerate(chain(rows, (None,))):
        if row is not None:
            if newest_out is not None and row.ts < newest_out:
                late += 1
                continue
            heapq.heappush(heap, (row.ts, seq, row))  # seq keeps file order among equal stamps
        keep = 0 if row is None else REORDER_WINDOW_ROWS
        while len(heap) > keep:
            ts, _, out = heapq.heappop(heap)
            if last_ts_by_sensor.get(out.sensor_id) == ts:
                duplicates += 1
                continue
            last_ts_by_sensor[out.sensor_id] = newest_out = ts
            yield out
    if duplicates:
        log.info("%s: dropped %d rows repeating a sensor's timestamp", source, duplicates)
    if late:
        log.warning("%s: dropped %d rows too far out of time order", source, late)


# --- one reader per format -------------------------------------------------------------------

Reader = Callable[[Path, str | None, str | None], Iterator[DatasetRow]]


def _read_uci(path: Path, site: str | None, room: str | None) -> Iterator[DatasetRow]:
    rows = _csv_rows(path)
    header = [name.strip().lower() for name in next(rows, [])]
    columns = [(index, UCI_COLUMNS[name]) for index, name in enumerate(header) if name in UCI_COLUMNS]
    date_index = header.index("date")
    for record in rows:
        if len(record) == len(header) + 1:  # the original UCI files prefix rows with a row number
            record = record[1:]
        if len(record) != len(header):
            continue
        try:
            # The logger's clock drifts: some minutes are stamped :59 of the previous one.
            ts = _local_to_utc(record[date_index], UCI_TZ, round_to_minute=True)
        except ValueError:
            continue
        values = _values((name, record[index]) for index, name in columns)
        if values:
            yield DatasetRow(ts, "uci-office-1", site or "Mons office", room or "Office", values)


def _read_uhoo(path: Path, site: str | None, room: str | None) -> Iterator[DatasetRow]:
    # Headerless; the monitors sat in homes of a cooking study, hence the kitchen default.
    sensor_id, site, room = f"uhoo-home{path.stem}", site or f"Home {path.stem}", room or "Kitchen"
    for record in _csv_rows(path):
        if len(record) < 1 + len(UHOO_COLUMNS):
            continue
        try:
            ts = _local_to_utc(record[0], UHOO_TZ)
        except ValueError:
            continue
        values = _values(zip(UHOO_COLUMNS, record[1:], strict=False))
        if values:
            yield DatasetRow(ts, sensor_id, site, room, values, dict(PPB_TVOC) if "tvoc" in values else {})


def _read_smart_building(path: Path, site: str | None, room: str | None) -> Iterator[DatasetRow]:
    sensor_id, site, room = f"sb-{path.stem}", site or "Smart building", room or f"Room {path.stem}"
    rows = _csv_rows(path)
    header = [name.strip().lower() for name in next(rows, [])]
    columns = [(index, name) for index, name in enumerate(header) if name in SMART_BUILDING_COLUMNS]
    for record in rows:
        try:
            ts = _local_to_utc(record[0], UTC)
        except (ValueError, IndexError):
            continue
        values = _values((name, record[index] if index < len(record) else None) for index, name in columns)
        if values:
            yield DatasetRow(ts, sensor_id, site, room, values)


def _read_r1(path: Path, site: str | None, room: str | None) -> Iterator[DatasetRow]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for record in csv.DictReader(handle):
            try:
                ts = _local_to_utc(record["timestamp"], R1_TZ)
            except (ValueError, KeyError, AttributeError):
                continue
            values = _values((name, record.get(name)) for name in R1_COLUMNS)
            if values:
                yield DatasetRow(
                    ts,
                    record.get("capteur_id") or "r1-1",
                    site or record.get("enseigne") or "R1",
                    room or record.get("salle") or "Room",
                    values,
                )


def _is_awair_folder(folder: Path) -> bool:
    return any((folder / name).is_file() for name in AWAIR_FILES)


def _read_awair(path: Path, site: str | None, room: str | None) -> Iterator[DatasetRow]:
    # Accept a day folder, one of its files, or the parent holding several day folders.
    folder = path if path.is_dir() else path.parent
    days = [folder] if _is_awair_folder(folder) else sorted(filter(_is_awair_folder, folder.iterdir()))
    for day in days:
        yield from _read_awair_day(day, site or "Campus", room or "Rice 130")


def _read_awair_day(folder: Path, site: str, room: str) -> Iterator[DatasetRow]:
    merged: dict[tuple[int, int], dict[str, float]] = {}  # (epoch ms, column) -> values
    sensors: list[str] = []
    for filename, metric in AWAIR_FILES.items():
        if not (folder / filename).is_file():
            continue
        rows = _csv_rows(folder / filename)
        header = [name.strip() for name in next(rows, [])]
        columns = []
        for name in header[1:]:
            if name not in sensors:
                sensors.append(name)
            columns.append(sensors.index(name))
        for record in rows:
            stamp_ms = _number(record[0]) if record else None
            if stamp_ms is None:
                continue
            for column, text in zip(columns, record[1:], strict=False):
                value = _number(text)
                if value is not None:
                    merged.setdefault((int(stamp_ms), column), {})[metric] = value
    for (stamp_ms, column), values in sorted(merged.items()):
        ts = datetime.fromtimestamp(stamp_ms / 1000, UTC)
        units = dict(PPB_TVOC) if "tvoc" in values else {}
        yield DatasetRow(ts, f"awair-{sensors[column]}", site, room, values, units)


_READERS: dict[str, Reader] = {
    "uci": _read_uci,
    "uhoo": _read_uhoo,
    "smart-building": _read_smart_building,
    "awair": _read_awair,
    "r1": _read_r1,
}
