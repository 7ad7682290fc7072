"""The common request body of `POST /api/ingest`, read straight from its bytes in one compiled pass.

Most devices send the same shape: known fields, the metrics under their canonical names (`co2`, `pm25`),
numbers in range, a timestamp as seconds or ISO text. `msgspec` decodes such a body into typed structs and
checks those types and ranges in C while it reads the JSON, which costs a fraction of decoding into
dictionaries and checking them in Python (`readings.parse_plain_reading`). The rules stay in one place:
this decoder accepts a subset of what `readings` accepts and gives the same drafts; anything else (an
alias such as `CO2`, units, an unknown metric, a wrong field, broken JSON) makes it answer None, and the
caller reads the body the ordinary way, which accepts it or names each faulty field.
`tests/unit/test_wire.py` checks on generated bodies that both ways agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .metrics import ALL_KNOWN, canonical_name
from .readings import ReadingDraft, _clean_id

__all__ = ["decode_readings"]


def _values_struct() -> type[msgspec.Struct]:
    """A struct with one optional field per known metric, bounded by its physical range (absent, not
    null: a null metric is an error the ordinary path names)."""
    fields = []
    for name, metric in ALL_KNOWN.items():
        assert canonical_name(name) == name, name  # a canonical key must not be renamed on the other path
        bounded = Annotated[float, Meta(ge=float(metric.low), le=float(metric.high))]
        fields.append((name, bounded | UnsetType, UNSET))
    return msgspec.defstruct("Values", fields, forbid_unknown_fields=True, gc=False)


_Values = _values_struct()
_Seconds = Annotated[float, Meta(ge=0, lt=1e11)]  # as the ordinary path: larger looks like milliseconds


class _Reading(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    sensor_id: str
    values: _Values  # type: ignore[valid-type]
    enseigne: str | None = None
    salle: str | None = None
    timestamp: _Seconds | str | None = None
    units: dict[str, str] | None = None  # accepted here only when empty


_decoder = msgspec.json.Decoder(list[_Reading] | _Reading)
_to_dict = msgspec.to_builtins


def decode_readings(raw: bytes) -> tuple[list[ReadingDraft], bool] | None:
    """The drafts of a body of the common shape and whether it was a list; None for any other body
    (including broken JSON and an empty list: the ordinary path says what is wrong)."""
    try:
        decoded = _decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    batch = type(decoded) is list
    items = decoded if batch else [decoded]
    drafts = []
    add = drafts.append
    clean = _clean_id
    for item in items:
        sensor_id = clean(item.sensor_id)
        site, room, ts = item.enseigne, item.salle, item.timestamp
        if (
            sensor_id is None
            or (site is not None and (site := clean(site)) is None)
            or (room is not None and (room := clean(room)) is None)
            or item.units
        ):
            return None
        if type(ts) is str:
            try:
                ts = datetime.fromisoformat(ts.strip())
            except ValueError:
                return None
        values = _to_dict(item.values)
        if not values:
            return None
        add(ReadingDraft(sensor_id, site, room, ts, values))
    if not drafts:
        return None
    return drafts, batch
