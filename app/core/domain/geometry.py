"""Room geometry for the digital twin: validation of what an operator enters, and the default layout.

A room's geometry is stored as JSON in `rooms.geometry`:

    {"footprint": [[0, 0], [6, 0], [6, 4], [0, 4]],   # polygon on the floor, metres (x east, y north)
     "height": 3.0,                                    # metres, floor to ceiling
     "floor": 0,                                       # storey: 0 ground floor, -1 basement, 1 first floor
     "sensors": {"s1": [3, 2, 1.5]}}                   # sensor positions in metres, z above the room's floor

Rooms without geometry are laid out as a grid of boxes on the ground floor, next to the rooms that have one,
so a new site shows something at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from app.core.i18n import _

from .readings import FieldError, InvalidInput

MAX_COORDINATE_M = 2000.0  # a campus fits; a typo of three extra zeros does not
MAX_FOOTPRINT_POINTS = 200
MAX_HEIGHT_M = 50.0
MIN_FLOOR, MAX_FLOOR = -10, 200
MAX_SENSORS = 200

DEFAULT_WIDTH_M, DEFAULT_DEPTH_M, DEFAULT_HEIGHT_M = 6.0, 5.0, 3.0
DEFAULT_GAP_M = 1.0
DEFAULT_SENSOR_HEIGHT_M = 1.5  # breathing height of a seated person, where sensors usually hang
MIN_STOREY_M = 3.5


@dataclass(frozen=True, slots=True)
class RoomGeometry:
    """A room placed in the site: footprint in metres, height, storey and sensor positions."""

    footprint: tuple[tuple[float, float], ...]
    height: float
    floor: int
    sensors: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)
    default: bool = False  # placed by the default layout, not entered by an operator

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min x, min y, max x, max y)."""
        xs = [p[0] for p in self.footprint]
        ys = [p[1] for p in self.footprint]
        return min(xs), min(ys), max(xs), max(ys)

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.bounds
        return (x0 + x1) / 2, (y0 + y1) / 2

    def sensor_position(self, sensor_id: str, index: int = 0) -> tuple[float, float, float]:
        """Where a sensor is drawn: its stored position, else near the room's centre (`index` spreads
        several unplaced sensors apart)."""
        if sensor_id in self.sensors:
            return self.sensors[sensor_id]
        x, y = self.centre
        return x + 0.8 * index, y, min(DEFAULT_SENSOR_HEIGHT_M, self.height * 0.8)

    def as_dict(self) -> dict[str, Any]:
        return {
            "footprint": [list(p) for p in self.footprint],
            "height": self.height,
            "floor": self.floor,
            "sensors": {k: list(v) for k, v in self.sensors.items()},
        }


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_geometry(data: Any, where: str = "") -> RoomGeometry:
    """Validate an operator's geometry; raises InvalidInput naming every bad field (`footprint[2]`,
    `height`, `sensors.s1`), prefixed with `where.` when given."""
    prefix = f"{where}." if where else ""
    if not isinstance(data, Mapping):
        raise FieldError(
            where or "geometry", _('must be an object such as {"footprint": [[0, 0], ...]}')
        ).as_error()
    errors: list[FieldError] = []
    for key in data:
        if key not in ("footprint", "height", "floor", "sensors"):
            errors.append(
                FieldError(f"{prefix}{key}", _("is not a known field (footprint, height, floor, sensors)"))
            )
    footprint = _footprint(data.get("footprint"), f"{prefix}footprint", errors)
    height = data.get("height", DEFAULT_HEIGHT_M)
    if not _number(height) or not 0 < height <= MAX_HEIGHT_M:
        errors.append(
            FieldError(
                f"{prefix}height",
                _("must be a number of metres above 0 and at most {MAX_HEIGHT_M:g}").format(
                    MAX_HEIGHT_M=MAX_HEIGHT_M
                ),
            )
        )
    floor = data.get("floor", 0)
    if isinstance(floor, float) and floor.is_integer():
        floor = int(floor)
    if not isinstance(floor, int) or isinstance(floor, bool) or not MIN_FLOOR <= floor <= MAX_FLOOR:
        errors.append(
            FieldError(
                f"{prefix}floor",
                _("must be a whole number from {MIN_FLOOR} to {MAX_FLOOR}").format(
                    MIN_FLOOR=MIN_FLOOR, MAX_FLOOR=MAX_FLOOR
                ),
            )
        )
    sensors = _sensors(data.get("sensors") or {}, f"{prefix}sensors", errors)
    if errors:
        raise InvalidInput(errors)
    assert footprint is not None
    return RoomGeometry(footprint, float(height), floor, sensors)


def _footprint(value: Any, where: str, errors: list[FieldError]) -> tuple[tuple[float, float], ...] | None:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or not 3 <= len(value) <= MAX_FOOTPRINT_POINTS
    ):
        errors.append(
            FieldError(
                where,
                _("must be a polygon: a list of 3 to {MAX_FOOTPRINT_POINTS} [x, y] points in metres").format(
                    MAX_FOOTPRINT_POINTS=MAX_FOOTPRINT_POINTS
                ),
            )
        )
        return None
    points: list[tuple[float, float]] = []
    for i, p in enumerate(value):
        if (
            not isinstance(p, Sequence)
            or isinstance(p, str)
            or len(p) != 2
            or not all(_number(c) and abs(c) <= MAX_COORDINATE_M for c in p)
        ):
            errors.append(
                FieldError(
                    f"{where}[{i}]",
                    _("must be [x, y] in metres, each within ±{MAX_COORDINATE_M:g}").format(
                        MAX_COORDINATE_M=MAX_COORDINATE_M
                    ),
                )
            )
            return None
        points.append((float(p[0]), float(p[1])))
    if len(points) > 3 and points[0] == points[-1]:
        points.pop()  # a closed ring: the last point repeats the first
    if abs(_area(points)) < 0.01:
        errors.append(FieldError(where, _("encloses no area: its points lie on one line or repeat")))
        return None
    crossing = _self_crossing(points)
    if crossing is not None:
        errors.append(FieldError(f"{where}[{crossing}]", _("makes the outline cross itself")))
        return None
    return tuple(points)


def _sensors(value: Any, where: str, errors: list[FieldError]) -> dict[str, tuple[float, float, float]]:
    if not isinstance(value, Mapping) or len(value) > MAX_SENSORS:
        errors.append(
            FieldError(
                where,
                _('must be an object {{"sensor id": [x, y, z]}} of at most {MAX_SENSORS}').format(
                    MAX_SENSORS=MAX_SENSORS
                ),
            )
        )
        return {}
    out: dict[str, tuple[float, float, float]] = {}
    for sensor_id, p in value.items():
        if (
            not isinstance(p, Sequence)
            or isinstance(p, str)
            or len(p) != 3
            or not all(_number(c) and abs(c) <= MAX_COORDINATE_M for c in p)
        ):
            errors.append(FieldError(f"{where}.{sensor_id}", _("must be [x, y, z] in metres")))
            continue
        out[str(sensor_id)] = (float(p[0]), float(p[1]), float(p[2]))
    return out


def _area(points: Sequence[tuple[float, float]]) -> float:
    """Signed area (shoelace formula)."""
    return 0.5 * sum(a[0] * b[1] - b[0] * a[1] for a, b in pairwise([*points, points[0]]))


def _self_crossing(points: Sequence[tuple[float, float]]) -> int | None:
    """Index of the first point whose outgoing edge crosses a non-adjacent edge, or None."""
    edges = list(pairwise([*points, points[0]]))
    n = len(edges)
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # adjacent through the closing edge
            if _segments_cross(*edges[i], *edges[j]):
                return i
    return None


def _segments_cross(a, b, c, d) -> bool:
    def orient(p, q, r) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    d1, d2, d3, d4 = orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d)
    return d1 * d2 < 0 and d3 * d4 < 0


def box(x: float, y: float, width: float, depth: float) -> tuple[tuple[float, float], ...]:
    return ((x, y), (x + width, y), (x + width, y + depth), (x, y + depth))


def site_layout(rooms: Sequence[tuple[int, Any]]) -> dict[int, RoomGeometry]:
    """Geometry for every room of a site: `rooms` is [(room id, stored geometry or None)].

    Stored geometry is used as it is (an invalid stored value counts as none). The other rooms get boxes of
    6 × 5 × 3 m in a square-ish grid on the ground floor, to the east of the rooms that have a geometry.
    """
    placed: dict[int, RoomGeometry] = {}
    missing: list[int] = []
    for room_id, stored in rooms:
        try:
            placed[room_id] = check_geometry(stored) if stored else None  # type: ignore[assignment]
        except InvalidInput:
            placed[room_id] = None  # type: ignore[assignment]
        if placed[room_id] is None:
            del placed[room_id]
            missing.append(room_id)
    if not missing:
        return placed
    ground = [g.bounds for g in placed.values() if g.floor == 0]
    start_x = max((b[2] for b in ground), default=-DEFAULT_GAP_M) + DEFAULT_GAP_M
    start_y = min((b[1] for b in ground), default=0.0)
    columns = math.ceil(math.sqrt(len(missing)))
    for k, room_id in enumerate(missing):
        row, col = divmod(k, columns)
        x = start_x + col * (DEFAULT_WIDTH_M + DEFAULT_GAP_M)
        y = start_y + row * (DEFAULT_DEPTH_M + DEFAULT_GAP_M)
        placed[room_id] = RoomGeometry(
            box(x, y, DEFAULT_WIDTH_M, DEFAULT_DEPTH_M), DEFAULT_HEIGHT_M, 0, {}, default=True
        )
    return placed


def storey_height(geometries: Sequence[RoomGeometry]) -> float:
    """Vertical distance between floors: the tallest room plus a slab, at least 3.5 m."""
    return max([MIN_STOREY_M, *(g.height + 0.5 for g in geometries)])
