"""`/models`: the model registry (versions, metrics, activate, roll back), the training history, "train
now" with a progress indicator, and how a room's stored forecasts compared with what was then measured,
next to persistence (the last value) as the baseline.

Activation and rollback are open to every user until authentication (issue 8) adds an admin role.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from nicegui import background_tasks, ui

from app.core.i18n import N_, _, number, table_columns, term
from components.access import page_actor, page_allows, page_bus, page_has_role, page_sites
from components.actions import attempt, audit, small_button
from components.charts import date_axis
from components.dialogs import confirm
from components.frame import add_nav_link, frame
from components.labels import metric_name, model_status
from components.refresh import Coalesced
from components.storage_status import SeriesNotice
from components.times import local_time
from services.scope import keep

if TYPE_CHECKING:
    from app.runtime import Runtime

MODEL_COLUMNS = [
    {"name": "model_name", "label": N_("Model"), "field": "model_name", "align": "left", "sortable": True},
    {"name": "model_version", "label": N_("Version"), "field": "model_version", "align": "left"},
    {"name": "model_type", "label": N_("Type"), "field": "model_type", "align": "left"},
    {"name": "status", "label": N_("Status"), "field": "status_text", "align": "left", "sortable": True},
    {"name": "mae", "label": N_("MAE (30 min)"), "field": "mae"},
    {"name": "ratio", "label": N_("MAE / persistence"), "field": "ratio"},
    {"name": "activated", "label": N_("Activated"), "field": "activated", "align": "left"},
]
RUN_COLUMNS = [
    {"name": "started_at", "label": N_("Started"), "field": "started_at", "align": "left"},
    {"name": "model_name", "label": N_("Model"), "field": "model_name", "align": "left"},
    {"name": "trigger", "label": N_("Trigger"), "field": "trigger", "align": "left"},
    {"name": "outcome", "label": N_("Outcome"), "field": "outcome", "align": "left"},
    {"name": "duration_s", "label": N_("Duration (s)"), "field": "duration_s"},
    {"name": "data_points", "label": N_("Points"), "field": "data_points"},
    {"name": "error", "label": N_("Error"), "field": "error", "align": "left"},
]


def register(runtime: Runtime) -> None:
    add_nav_link(N_("Models"), "/models", icon="insights", order=40)

    @ui.page("/models")
    async def models_page() -> None:
        with frame(_("Models")):
            await ModelsPage(runtime).start()


def model_row(m: dict[str, Any], zone: str | None) -> dict[str, Any]:
    metrics = m.get("metrics") or {}
    ratio = metrics.get("mae_ratio")
    return {
        "id": m["id"],
        "room_id": m["room_id"],
        "model_name": m["model_name"],
        "model_version": m["model_version"],
        "model_type": m["model_type"],
        "status": m["status"],
        "status_text": model_status(m["status"]),
        "mae": f"{metrics['mae']:.1f}" if isinstance(metrics.get("mae"), int | float) else "",
        "ratio": f"{ratio:.3f}" if isinstance(ratio, int | float) else "",
        "activated": _("{time} by {who}").format(
            time=local_time(m["activated_at"], zone), who=m["activated_by"]
        )
        if m.get("activated_at")
        else "",
    }


def training_outcome(run: dict[str, Any]) -> str:
    """What a training run did, for the person who asked for it (no exception class names)."""
    if run["outcome"] == "failed":
        reason = (run.get("error") or _("unknown reason")).split(": ", 1)[-1]
        return _("Training failed: {reason}. The active model stays in use.").format(reason=reason)
    if run["outcome"] == "kept":
        return _("Training done: the new model is no better than the active one; kept as a candidate")
    return _("Training {outcome}").format(outcome=term("training", run["outcome"]))


def ratio_to_persistence(row: dict[str, Any]) -> float | None:
    try:
        return float(row.get("ratio") or "")
    except ValueError:
        return None


TRACK_HOURS = 72
FORECAST_METRICS = ("co2", "pm25", "tvoc", "temperature", "humidity")
TRACK_REFRESH_S = 300
TRACK_COLUMNS = [
    {"name": "room", "label": N_("Room"), "field": "room", "align": "left"},
    {"name": "points", "label": N_("Forecasts compared"), "field": "points", "align": "right"},
    {"name": "mae", "label": N_("Error"), "field": "mae", "align": "right"},
    {"name": "persistence", "label": N_("Persistence's error"), "field": "persistence", "align": "right"},
    {"name": "ratio", "label": N_("Ratio"), "field": "ratio", "align": "right"},
]


def track_row(room: str, record: dict[str, Any]) -> dict[str, Any]:
    ratio = record["ratio"]
    return {
        "room": room,
        "points": record["points"],
        "mae": f"{record['mae']:.1f}",
        "persistence": f"{record['persistence_mae']:.1f}",
        "ratio": "—"
        if ratio is None
        else number(ratio, 2) + (_(" (worse than persistence)") if ratio > 1 else ""),
        "ratio_value": ratio,
    }


def worse_than(row: dict[str, Any], rows: list[dict[str, Any]]) -> str | None:
    """Why activating `row` would make forecasts worse, by how much, on its backtest; None when it would not:
    worse than persistence (assuming the value stays as it is), or than the version active now."""
    ratio = ratio_to_persistence(row)
    if ratio is not None and ratio > 1:
        return _(
            "On its backtest its error is {ratio}× that of persistence (assuming the value stays as it is): "
            "its forecasts would be worse than no forecast at all."
        ).format(ratio=number(ratio, 1))
    active = next(
        (
            r
            for r in rows
            if r["model_name"] == row["model_name"] and r["status"] == "active" and r is not row
        ),
        None,
    )
    try:
        mine, theirs = float(row["mae"]), float(active["mae"]) if active else None
    except (TypeError, ValueError):
        return None
    if theirs and mine > theirs:
        return _(
            "On its backtest its error is {ratio}× that of the active version {version} ({mine} against "
            "{theirs}): forecasts would get worse."
        ).format(
            ratio=number(mine / theirs, 1),
            version=active["model_version"],
            mine=number(mine, 2, fixed=False),
            theirs=number(theirs, 2, fixed=False),
        )
    return None


def run_row(r: dict[str, Any], zone: str | None) -> dict[str, Any]:
    return {
        **r,
        "started_at": local_time(r["started_at"], zone),
        "outcome": term("training", r["outcome"]),
        "trigger": term("trigger", r["trigger"]) if r.get("trigger") else "",
        "duration_s": number(r["duration_s"], 1) if r.get("duration_s") is not None else "",
        "error": r.get("error") or "",
    }


class ModelsPage:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime, self.registry = runtime, runtime.registry
        self.reload = Coalesced(self._reload)
        self.rooms: dict[int, str] = {}
        self.room_sites: dict[int, str] = {}  # room id -> site name, for the site checks of changes
        self.room_zones: dict[int, str] = {}  # room id -> time zone, for the times of its models
        self.track_shown: tuple[str | None, float] = (None, 0.0)  # metric, monotonic time
        self.sites = page_sites()  # a site-limited account sees its rooms' models only

    async def start(self) -> None:
        sites = keep(self.sites, await self.runtime.config.list_sites())
        self.rooms = {
            room["id"]: f"{site['name']} / {room['name']}" for site in sites for room in site["rooms"]
        }
        self.room_sites = {room["id"]: site["name"] for site in sites for room in site["rooms"]}
        self.room_zones = {room["id"]: room["effective_timezone"] for site in sites for room in site["rooms"]}
        self._training_card()
        self._registry_section()
        self._backtest_section()
        self._track_section()
        self.room.on_value_change(lambda _event: self.reload())
        self.metric.on_value_change(lambda _event: self.reload())
        await self._reload()
        page_bus(self.runtime.bus).predictions.subscribe(lambda _msg: self.reload())

    def _training_card(self) -> None:
        """The room and metric the page shows; admins train them from here."""
        with ui.card().classes("w-full gap-2"):
            ui.label(_("Train now") if page_has_role("admin") else _("Room and metric")).classes("text-h6")
            with ui.row().classes("items-center gap-4"):
                self.room = ui.select(
                    self.rooms, label=_("Room"), value=next(iter(self.rooms), None)
                ).classes("min-w-[240px]")
                self.room.mark("train-room")
                self.metric = ui.select({m: metric_name(m) for m in FORECAST_METRICS}, value="co2").mark(
                    "train-metric"
                )
                self.train_button = ui.button(
                    _("Train now"), icon="model_training", on_click=self.train
                ).mark("train-now")
                self.train_button.set_visibility(page_has_role("admin"))
                self.progress = ui.spinner(size="lg").mark("train-progress")
                self.progress.set_visibility(False)
                self.train_status = ui.label().classes("text-grey-8").mark("train-status")

    def _registry_section(self) -> None:
        """The registered versions (admins activate or roll back) and the training runs."""
        ui.label(_("Registry")).classes("text-h6 mt-4")
        with ui.row().classes("gap-2") as registry_buttons:
            small_button(_("Activate selected"), "check_circle", self.activate, "activate")
            small_button(_("Roll back its name"), "undo", self.rollback, "rollback")
        registry_buttons.set_visibility(page_has_role("admin"))
        self.models = ui.table(
            columns=table_columns(MODEL_COLUMNS), rows=[], row_key="id", selection="single"
        ).classes("w-full")
        no_models = _(
            "No models yet: train a room above (it needs 6 h of readings, two days for its daily cycle)."
        )
        self.models.mark("models-table").props(f'no-data-label="{no_models}"')
        self.problems = ui.label().classes("text-negative").mark("model-problems")
        ui.label(_("Training history")).classes("text-h6 mt-4")
        self.runs = ui.table(columns=table_columns(RUN_COLUMNS), rows=[], row_key="id").classes("w-full")
        no_runs = _("No training yet: the trainer runs daily, or use Train now above.")
        self.runs.mark("runs-table").props(f'no-data-label="{no_runs}"')

    def _backtest_section(self) -> None:
        """The room's forecasts against what was then measured."""
        ui.label(_("Forecast against actual (30 min ahead)")).classes("text-h6 mt-4")
        status, changes = self.runtime.health.storage(), self.runtime.bus.storage
        self.notice = SeriesNotice(status, changes, what=_("the measured curve"))
        empty = _(
            "No forecasts to compare yet: the room's active model forecasts every minute, and each forecast "
            "is drawn here once its time has come (30 minutes later). Train a model above if the room has "
            "none."
        )
        self.backtest_empty = ui.label(empty).classes("text-grey-7").mark("backtest-empty")
        self.backtest = ui.plotly({"data": [], "layout": {}}).classes("w-full").style("height: 360px")
        self.backtest.mark("backtest-chart")

    def _track_section(self) -> None:
        """Every room's running ratio to persistence: whether to believe the forecasts."""
        title = _("Track record of every room, last {value} days (30 min ahead)").format(
            value=TRACK_HOURS // 24
        )
        ui.label(title).classes("text-h6 mt-4")
        ui.label(
            _(
                "Each forecast against what was then measured; a ratio below 1 beats assuming the value "
                "stays as it is (persistence)."
            )
        ).classes("text-caption text-grey-7")
        self.track = (
            ui.table(columns=table_columns(TRACK_COLUMNS), rows=[], row_key="room")
            .classes("w-full")
            .mark("track-record")
        )
        no_track = _("No forecast has come true yet: a room needs an active model and 30 minutes.")
        self.track.props(f'dense flat no-data-label="{no_track}"')

    async def _reload(self) -> None:
        models = await asyncio.to_thread(self.registry.list)
        runs = await asyncio.to_thread(self.registry.training_history, 50)
        if self.sites is not None:
            models = [m for m in models if m["room_id"] in self.rooms]
            names, ids = {m["model_name"] for m in models}, {m["id"] for m in models}
            runs = [r for r in runs if r["model_id"] in ids or r["model_name"] in names]
        self.models.rows = [model_row(m, self.room_zones.get(m["room_id"])) for m in models]
        self.models.update()
        self.runs.rows = [run_row(r, self.room_zones.get(r.get("room_id"))) for r in runs]
        self.runs.update()
        problems = self.runtime.forecasting.problems
        self.problems.set_text(
            "; ".join(
                _("model {id}: {why} (forecasting with persistence)").format(id=mid, why=why)
                for mid, why in problems.items()
            )
        )
        await self._plot()
        await self._track()

    async def _track(self) -> None:
        """The track record of each room's forecasts of the chosen metric (rooms without forecasts left
        out), the worst first."""
        metric = self.metric.value
        if self.track_shown[0] == metric and time.monotonic() - self.track_shown[1] < TRACK_REFRESH_S:
            return  # three days of every room change little between two predictions: not on each of them
        self.track_shown = (metric, time.monotonic())

        def work() -> list[dict[str, Any]]:
            rows = []
            for room_id, name in self.rooms.items():
                record = self.runtime.forecasting.track_record(room_id, metric, hours=TRACK_HOURS)
                if record is not None:
                    rows.append(track_row(name, record))
            return sorted(rows, key=lambda r: -(r["ratio_value"] or 0))

        self.track.rows = await asyncio.to_thread(work)
        self.track.update()

    async def _plot(self) -> None:
        if self.room.value is None:
            return
        points = await asyncio.to_thread(
            self.runtime.forecasting.backtest_points, self.room.value, self.metric.value
        )
        zone = ZoneInfo(self.room_zones.get(self.room.value) or "UTC")
        x = [datetime.fromtimestamp(t / 1000, zone).strftime("%Y-%m-%d %H:%M:%S") for t, *_ in points]
        self.backtest_empty.set_visibility(not points)
        self.backtest.style(f"height: {360 if points else 40}px")
        if not points:  # an empty frame, kept small (a hidden plotly chart fails to resize in the browser)
            hidden = {"visible": False}
            self.backtest.figure = {"data": [], "layout": {"xaxis": hidden, "yaxis": hidden, "height": 40}}
            self.backtest.update()
            return
        xaxis: dict[str, Any] = {
            **date_axis(),
            "title": {"text": _("local time ({key})").format(key=zone.key)},
        }
        if len(points) < 3:  # a lone point would span milliseconds: show the hour around it
            middle = points[len(points) // 2][0] / 1000
            xaxis["range"] = [
                datetime.fromtimestamp(middle + side * 1800, zone).strftime("%Y-%m-%d %H:%M:%S")
                for side in (-1, 1)
            ]
        self.backtest.figure = {
            "data": [
                {"type": "scatter", "mode": "lines", "name": "measured", "x": x, "y": [p[1] for p in points]},
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": "forecast",
                    "x": x,
                    "y": [p[2] for p in points],
                    "line": {"dash": "dash"},
                },
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": "persistence",
                    "x": x,
                    "y": [p[3] for p in points],
                    "line": {"dash": "dot"},
                },
            ],
            "layout": {"margin": {"l": 56, "r": 16, "t": 16, "b": 56}, "xaxis": xaxis},
        }
        self.backtest.update()

    async def train(self) -> None:
        if not page_allows("admin", site=self.room_sites.get(self.room.value)):
            return
        if self.room.value is None:
            ui.notify(_("Choose a room first"), type="warning")
            return
        room_id, metric = self.room.value, self.metric.value
        await audit(N_("training started"), f"{self.rooms.get(room_id)}: {metric}")
        self.progress.set_visibility(True)
        self.train_button.disable()
        self.train_status.set_text(
            _("Training {metric} of {get}...").format(metric=metric, get=self.rooms.get(room_id))
        )

        async def work() -> None:
            try:
                run = await self.runtime.forecasting.train_room(room_id, metric, trigger="manual")
                self.train_status.set_text(training_outcome(run))
            finally:
                self.progress.set_visibility(False)
                self.train_button.enable()
                self.track_shown = (None, 0.0)  # a new model has back-filled forecasts: show its record
                await self._reload()

        background_tasks.create(work(), name="train-now")

    def _site_of(self, row: dict[str, Any]) -> str | None:
        return self.room_sites.get(row.get("room_id"))  # type: ignore[arg-type]

    def _selected(self) -> dict[str, Any] | None:
        if not self.models.selected:
            ui.notify(_("Select a model version in the table first"), type="warning")
            return None
        return self.models.selected[0]

    async def activate(self) -> None:
        row = self._selected()
        if row is None or not page_allows("admin", site=self._site_of(row)):
            return
        warning = worse_than(row, self.models.rows)
        if warning and not await confirm(
            _("Activate {value} {value2}?").format(value=row["model_name"], value2=row["model_version"]),
            warning,
            action=_("Activate anyway"),
            colour="warning",
        ):
            return
        if row and await attempt(
            _("The model was not activated"),
            asyncio.to_thread(self.registry.activate, row["id"], by=page_actor()),
            done=_("{value} {value2} is active").format(value=row["model_name"], value2=row["model_version"]),
            audit=N_("model activated"),
            target=f"{row['model_name']} {row['model_version']}",
        ):
            await self._reload()

    async def rollback(self) -> None:
        row = self._selected()
        if row is None or not page_allows("admin", site=self._site_of(row)):
            return
        if row:
            done = await attempt(
                _("The model was not rolled back"),
                asyncio.to_thread(self.registry.rollback, row["model_name"], by=page_actor()),
                done=lambda d: _("{value} is back to {value2}").format(
                    value=d["model_name"], value2=d["model_version"]
                ),
                audit=N_("model rolled back"),
                target=row["model_name"],
            )
            if done:
                await self._reload()
