"""The composition root: builds every runtime object once and hands them to the API, pages and workers."""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from app.core.bus import EventBus
from app.core.db.migrate import upgrade_to_head
from app.core.db.session import make_engine, make_sessionmaker
from app.core.domain.score import DEFAULT_THRESHOLDS
from app.core.observability import PlatformMetrics
from app.core.settings import Settings
from app.core.storage.alerts import SqlAlertStore
from app.core.storage.base import TimeSeriesStore
from app.core.storage.modules import SqlModuleStore
from app.core.storage.rollups import SqlRollupStore
from app.core.storage.scores import SqlScoreStore
from app.core.storage.sql import SqlTimeSeriesStore
from app.core.workers import Worker
from services.accounts import AccountService
from services.alerting import AlertingService
from services.automation import AutomationService
from services.compliance import ComplianceService
from services.config import ConfigService
from services.device_keys import DeviceKeys
from services.devices import DevicesOnBroker, SimulatedDevices
from services.effectiveness import EffectivenessTracker
from services.forecasting.registry import ModelRegistry
from services.forecasting.service import ForecastService
from services.ingestion import IngestionService
from services.modules import ModuleService
from services.mqtt import MqttBridge
from services.mqtt_readings import MqttReadings
from services.notify import EmailNotifier, RetryingNotifier, WebhookNotifier
from services.query import QueryService
from services.registry_index import RegistryIndex
from services.rollups import RollupReader, RollupService
from services.scope import ScopeResolver
from services.scoring import ScoringService

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: TimeSeriesStore
    bus: EventBus
    metrics: PlatformMetrics
    index: RegistryIndex
    ingestion: IngestionService
    config: ConfigService
    query: QueryService
    scoring: ScoringService
    alerting: AlertingService
    compliance: ComplianceService
    scope: ScopeResolver  # what a request may touch (services/scope.py)
    rollups: RollupService | None = None
    workers: dict[str, Worker] = field(default_factory=dict)
    started: bool = False
    simulator: Any = None  # the demo simulator, when demo mode runs it
    drainer: Any = (
        None  # the outbox drainer, when InfluxDB holds the time series (app/core/storage/outbox.py)
    )
    modules: ModuleService | None = None
    automation: AutomationService | None = None
    effectiveness: EffectivenessTracker | None = None
    devices: Any = None  # the device link: the MQTT bridge, or simulated devices without a broker
    mqtt_readings: MqttReadings = None  # type: ignore[assignment]  # MQTT sensors' readings (build_runtime)
    demo_devices: DevicesOnBroker | None = None  # the demo's devices on the broker, in demo mode with one
    registry: Any = None  # services.forecasting.registry.ModelRegistry
    forecasting: Any = None  # services.forecasting.service.ForecastService
    accounts: AccountService = None  # type: ignore[assignment]  # users, tokens, audit log (build_runtime)
    device_keys: DeviceKeys = None  # type: ignore[assignment]  # ingestion keys, for every lane

    @property
    def local_login_enabled(self) -> bool:
        """Local passwords work unless switched off while single sign-on is on (never lock everyone out)."""
        return self.settings.local_login or not self.settings.oidc_enabled

    def start(self) -> None:
        """Migrate the database, start the writer, then the background workers.

        Synchronous on purpose: NiceGUI runs async start-up handlers as background tasks, so pages and the
        API could be served before the schema exists. Blocking here delays serving until everything is ready.
        """
        upgrade_to_head(self.engine)
        if self.settings.use_influxdb:
            self._start_influxdb()
        self.accounts.bootstrap()  # the first admin, on first start
        self.device_keys.load()
        self.ingestion.start()
        self.scoring.load()
        if self.settings.workers_enabled and self.settings.score_interval_s > 0:
            self.scoring.start_recording()
            self.workers["scores"] = Worker("scores", self.scoring.run_writer)
        self.alerting.load()
        if self.rollups is not None:
            self.rollups.check_disk()
            self.bus.measurements.subscribe(self.rollups.on_measurements)
            if self.settings.workers_enabled and self.settings.rollup_interval_s > 0:
                self.workers["rollups"] = Worker("rollups", self.rollups.run)
        if self.settings.workers_enabled and self.settings.alerts_enabled:
            self.alerting.start()
            self.workers["alerts"] = Worker("alerts", self.alerting.run)
        self._start_modules()
        if self.settings.workers_enabled and self.settings.demo:
            self.workers["simulator"] = self._demo_worker()
        if self.drainer is not None and self.settings.workers_enabled:
            self.workers["outbox"] = Worker("outbox", self.drainer.run)
        if self.settings.workers_enabled:
            self.workers["storage-status"] = Worker("storage-status", self._watch_storage)
        if self.settings.workers_enabled and self.settings.forecasting_enabled:
            s = self.settings
            self.workers["trainer"] = Worker(
                "trainer", lambda: self.forecasting.run_trainer(s.ml_trainer_interval_s, s.ml_trainer_delay_s)
            )
            self.workers["predictor"] = Worker(
                "predictor", lambda: self.forecasting.run_predictor(s.ml_predictor_interval_s)
            )
        for worker in self.workers.values():
            worker.start()
        self.started = True
        # What exists now (modules, app, registry) lives as long as the process: keep it out of the cyclic
        # garbage collector's full passes, which re-scanned it all while readings flowed (docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        # Readings make and drop tens of thousands of small objects a second: a young-generation pass every
        # 700 allocations (the default) ran many times per batch; every 10 000 keeps memory bounded the same
        # way (reference counting frees almost everything at once) for about a tenth less CPU per reading.
        self._gc_thresholds = gc.get_threshold()
        gc.set_threshold(10_000, 10, 10)
        log.info(
            "IAQverse started: database %s, demo %s",
            self.engine.url.render_as_string(hide_password=True),
            "on" if self.settings.demo else "off",
        )

    def _start_modules(self) -> None:
        """Modules into memory, the device link (MQTT bridge, or simulated devices), automation and the
        measurement of ventilation's effectiveness."""
        assert self.modules is not None and self.automation is not None and self.effectiveness is not None
        self.modules.load()
        self.automation.load()
        settings = self.settings
        if settings.mqtt_host is not None:
            bridge = MqttBridge(
                settings.mqtt_host, settings.mqtt_port, on_state=self.modules.report_state,
                on_availability=self.modules.report_availability, on_reading=self.mqtt_readings.receive,
                is_current=self.modules.is_current,
                prefix=settings.mqtt_topic_prefix, client_id=settings.mqtt_client_id,
                username=settings.mqtt_username, password=settings.mqtt_password,
            )  # fmt: skip
            self.devices = self.modules.link = bridge
            if settings.workers_enabled:
                self.workers["mqtt"] = Worker("mqtt", bridge.run)
        else:
            modules = self.modules
            self.devices = self.modules.link = SimulatedDevices(
                modules.report_state, delay_s=settings.simulated_device_delay_s, clock=lambda: modules.clock()
            )
        self.effectiveness.start()
        if settings.workers_enabled and settings.automation_enabled:
            self.automation.start()
            self.workers["automation"] = Worker("automation", self.automation.run)

    async def stop(self) -> None:
        if self.modules is not None:
            await self.modules.stop()
        if isinstance(self.devices, MqttBridge):
            await self.devices.stop()
        elif isinstance(self.devices, SimulatedDevices):
            await self.devices.close()
        if self.demo_devices is not None:
            await self.demo_devices.close()
        for worker in self.workers.values():
            await worker.stop()
        await self.ingestion.stop()
        await self.forecasting.close()
        await self.scoring.flush()  # the last scores the writer had not stored yet
        for notifier in self.alerting.notifiers:
            await notifier.drain(timeout_s=2)
            await notifier.close()
        if self.drainer is not None:
            self.store.http.close()
        self.engine.dispose()
        self.started = False
        gc.unfreeze()  # a runtime built again in the same process (tests) must not keep this one alive
        if getattr(self, "_gc_thresholds", None):
            gc.set_threshold(*self._gc_thresholds)

    def _start_influxdb(self) -> None:
        """Check InfluxDB's answer to our credentials (refuse to start when it rejects them) and create the
        database; an InfluxDB that cannot be reached is no reason to refuse: the outbox waits for it."""
        from app.core.storage.influx_http import InfluxAuthError
        from app.core.storage.outbox import OutboxDrainer

        store = self.store
        try:
            if not store.http.ensure_database():
                store.reachable = False
                log.warning("InfluxDB at %s cannot be reached; readings wait in the outbox", store.http.url)
        except InfluxAuthError as exc:
            message = (
                f"InfluxDB at {store.http.url} rejected the credentials ({exc}); "
                "check INFLUXDB_TOKEN (user:password for InfluxDB 1.x, an API token for 2.x/3.x)"
            )
            log.critical(message)
            raise SystemExit(message) from None
        store.count_waiting()
        s = self.settings
        self.drainer = OutboxDrainer(
            store, batch=s.outbox_batch, poll_s=s.outbox_poll_s, backoff_max_s=s.outbox_backoff_max_s
        )
        self.bus.measurements.subscribe(lambda _: self.drainer.wake())

    async def _watch_storage(self, interval_s: float = 2.0) -> None:
        """Publish the store's status on `bus.storage` when it changes (the dashboard's banner follows it)."""
        last = self.storage_status()
        while True:
            await asyncio.sleep(interval_s)
            current = self.storage_status()
            if current != last:
                last = current
                self.bus.storage.emit(current)

    def _demo_worker(self) -> Worker:
        from services.simulator.demo import DEMO_SITES, DemoSimulator  # only demo mode pays for importing it

        s = self.settings
        if s.mqtt_host is not None:  # the demo's modules answer over the broker, as real devices would
            self.demo_devices = DevicesOnBroker(
                s.mqtt_host, s.mqtt_port, prefix=s.mqtt_topic_prefix, client_id=s.mqtt_client_id,
                delay_s=s.simulated_device_delay_s, username=s.mqtt_username, password=s.mqtt_password,
            )  # fmt: skip
            self.workers["demo-devices"] = Worker("demo-devices", self.demo_devices.run)

        async def sink(payloads: list[dict]) -> None:
            await self.ingestion.ingest(payloads, source="simulator")

        simulator = DemoSimulator(sink, interval_s=self.settings.demo_interval_s)

        async def work() -> None:
            await self._register_demo_sites(DEMO_SITES)
            await self._demo_modules(simulator)
            if self.settings.demo_backfill_hours > 0 and await asyncio.to_thread(self.store.count) == 0:
                await simulator.backfill(hours=self.settings.demo_backfill_hours)
            await simulator.run()

        self.simulator = simulator
        return Worker("simulator", work)

    async def _register_demo_sites(self, sites) -> None:
        """Create the demo sites with their time zones and opening hours, unless they exist (then leave them:
        an operator may have changed them)."""
        existing = {s["name"] for s in await self.config.list_sites()}
        weekdays = {day: [["08:00", "19:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
        new = [
            {
                "name": site.name,
                "timezone": site.tz,
                "opening_hours": weekdays
                if site.name == "Head office"
                else {**weekdays, "sat": [["10:00", "19:00"]]},
                "rooms": [{"name": room.name, "sensors": [room.sensor_id]} for room in site.rooms],
            }
            for site in sites
            if site.name not in existing
        ]
        if new:
            await self.config.import_config({"sites": new})

    async def _demo_modules(self, simulator) -> None:
        """A ventilation, a purifier and a window in every demo room, whose simulated devices act on the
        simulated rooms (so commands show in the readings): in memory without a broker, on the broker with
        one (`DevicesOnBroker`)."""
        assert self.modules is not None
        for room in simulator.rooms:
            try:
                room_id = await self.modules.room_id(room.site, room.room)
            except Exception:
                continue  # an operator deleted it
            await self.modules.ensure_modules(room_id, ("ventilation", "purifier", "window"))
            devices = self.demo_devices if self.demo_devices is not None else self.devices
            if isinstance(devices, SimulatedDevices | DevicesOnBroker):
                for module in self.modules.modules(room_id):
                    devices.attach(module.topic, module.module_type, room.model, module.state)

    async def health(self) -> dict:
        """Status of the database, the ingestion writer and each worker; `ok` is False when degraded."""
        checks: dict[str, dict] = {}
        try:
            await asyncio.wait_for(asyncio.to_thread(self._ping_db), timeout=5)
            checks["database"] = {"status": "ok"}
        except Exception as exc:
            checks["database"] = {"status": "down", "error": type(exc).__name__}
        storage = getattr(self.store, "read_status", None)
        if storage is not None:
            checks["storage"] = self.storage_status()
        ingest_ok = self.ingestion.state == "running" and self.ingestion.last_error is None
        checks["ingestion"] = {"status": "ok" if ingest_ok else "degraded", "state": self.ingestion.state}
        if isinstance(self.devices, MqttBridge):  # a lost broker is a state to report, not an exception
            checks["mqtt"] = {
                "status": "ok" if self.devices.connected else "degraded",
                "broker": f"{self.devices.host}:{self.devices.port}",
                "connections": self.devices.connects,
                "last_error": self.devices.last_error,
            }
        for name, worker in self.workers.items():
            checks[f"worker:{name}"] = {
                "status": "ok" if worker.healthy else "degraded",
                "state": worker.state,
                "restarts": worker.restarts,
            }
            self.metrics.worker_up.labels(name).set(1 if worker.healthy else 0)
        if self.rollups is not None and self.rollups.disk["status"] != "ok":
            checks["disk"] = self.rollups.disk  # a warning: reported, the platform still serves
        ok = all(c["status"] in ("ok", "warning") for c in checks.values())
        return {"status": "ok" if ok else "degraded", "checks": checks}

    def storage_status(self) -> dict:
        """The time-series store's state; with InfluxDB: reachable or not, readings waiting in the outbox."""
        store = self.store
        disk = self.rollups.disk if self.rollups is not None else {"status": "ok"}
        if getattr(store, "backend", "sql") != "influxdb":
            return disk if disk["status"] != "ok" else {"status": "ok", "backend": "sql"}
        waiting = store.waiting
        degraded = not store.reachable or (waiting > 0 and self.drainer is None)
        out = {"status": "degraded" if degraded else "ok", "backend": "influxdb", "waiting": waiting}
        if degraded:
            out["message"] = f"storage degraded, {waiting} readings waiting"
            out["series_waiting"] = store.series.waiting  # scores, forecasts, actions
            if store.last_error:
                out["error"] = store.last_error
        elif disk["status"] != "ok":
            out.update(status=disk["status"], message=disk["message"])
        return out

    def _ping_db(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


def _time_series_store(settings: Settings, engine: Engine):
    """SQL tables in the registry's database, or InfluxDB (behind the outbox) when INFLUXDB_URL is set."""
    if settings.influxdb_enabled and not settings.influxdb_url:
        raise SystemExit("INFLUXDB_ENABLED is set but INFLUXDB_URL is empty: set the server's URL")
    if not settings.use_influxdb:
        return SqlTimeSeriesStore(engine)
    from app.core.storage.influx import InfluxTimeSeriesStore
    from app.core.storage.influx_http import InfluxHttp

    assert settings.influxdb_url is not None
    http = InfluxHttp(
        settings.influxdb_url,
        settings.influxdb_bucket,
        settings.influxdb_token,
        timeout_s=settings.influxdb_timeout_s,
    )
    return InfluxTimeSeriesStore(
        engine,
        http,
        max_waiting=settings.outbox_max_readings,
        duplicate_window_ms=int(settings.duplicate_window_h * 3600_000),
    )


def _influx_action_sink(series):
    """Each new or changed action as an `iaq_actions` point, committed to the series outbox (a one-row
    transaction right after the action's own; actions come at human or automation pace)."""
    from app.core.storage.influx_series import encode
    from services.modules import iaq_actions_point

    def sink(action: dict) -> None:
        series.add([(action.get("room_id"), encode(*iaq_actions_point(action)))])

    return sink


def build_runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    settings.ensure_data_dir()
    engine = make_engine(settings.db_url, sqlite_synchronous=settings.sqlite_synchronous)
    sessions = make_sessionmaker(engine)
    store = _time_series_store(settings, engine)
    bus = EventBus()
    metrics = PlatformMetrics()
    index = RegistryIndex(settings.default_timezone)
    ingestion = IngestionService(
        engine=engine, store=store, bus=bus, settings=settings, metrics=metrics, index=index
    )
    config = ConfigService(
        sessions=sessions,
        index=index,
        bus=bus,
        default_timezone=settings.default_timezone,
        time_series=store if settings.use_influxdb else None,  # SQL readings go by foreign-key cascade
    )
    rollups = RollupService(
        store=store,
        rollups=SqlRollupStore(engine),
        raw_retention_days=settings.raw_retention_days,
        rollup_retention_days=settings.rollup_retention_days,
        interval_s=settings.rollup_interval_s,
        data_dir=settings.data_dir,
        disk_warn_percent=settings.disk_warn_percent,
    )
    query = QueryService(sessions=sessions, store=RollupReader(store, rollups))
    scoring = ScoringService(
        sessions=sessions,
        store=store,
        scores=SqlScoreStore(engine, series=getattr(store, "series", None)),  # + InfluxDB's iaq_scores
        bus=bus,
        stale_after_s=settings.score_stale_after_s,
        interval_s=settings.score_interval_s,
        thresholds=DEFAULT_THRESHOLDS.merged(settings.score_thresholds),  # the deployment's, then sites'
    )
    alert_store = SqlAlertStore(engine)
    notifiers: list[RetryingNotifier] = []
    retry = {"retries": settings.webhook_retries, "backoff_s": settings.webhook_backoff_s}
    if settings.webhook_urls:
        notifiers.append(WebhookNotifier(settings.webhook_urls, alert_store.record_notification, **retry))
    if settings.smtp_host and settings.alert_emails:
        notifiers.append(
            EmailNotifier(
                settings.alert_emails,
                alert_store.record_notification,
                host=settings.smtp_host,
                port=settings.smtp_port,
                security=settings.smtp_security,
                user=settings.smtp_user,
                password=settings.smtp_password,
                sender=settings.smtp_from,
                **retry,
            )
        )
    alerting = AlertingService(
        store=alert_store,
        bus=bus,
        interval_s=settings.alert_interval_s,
        sensor_interval_s=settings.sensor_interval_s,
        notifiers=notifiers,
    )
    compliance = ComplianceService(sessions=sessions, store=store, scoring=scoring)
    module_store = SqlModuleStore(engine)
    modules = ModuleService(
        store=module_store,
        sessions=sessions,
        bus=bus,
        alerting=alerting,
        command_timeout_s=settings.command_timeout_s,
        topic_prefix=settings.mqtt_topic_prefix,
    )
    if getattr(store, "series", None) is not None:  # InfluxDB: actions also go to `iaq_actions`
        modules.action_sinks.append(_influx_action_sink(store.series))
    automation = AutomationService(modules=modules, store=module_store, bus=bus)
    effectiveness = EffectivenessTracker(modules, bus, window_s=settings.ach_window_s)
    registry = ModelRegistry(sessions, settings.data_dir)
    forecasting = ForecastService(
        sessions=sessions,
        store=store,
        bus=bus,
        registry=registry,
        metrics=settings.ml_metrics,
        use_process_pool=settings.ml_process_pool,
        alerting=alerting,
        module_store=module_store,
    )
    accounts = AccountService(sessions, settings)
    device_keys = DeviceKeys(
        sessions, accounts, rate_per_s=settings.device_key_rate, burst=settings.device_key_burst
    )
    return Runtime(
        settings,
        engine,
        sessions,
        store,
        bus,
        metrics,
        index,
        ingestion,
        config,
        query,
        scoring,
        alerting,
        compliance,
        ScopeResolver(sessions),
        rollups=rollups,
        modules=modules,
        automation=automation,
        effectiveness=effectiveness,
        registry=registry,
        forecasting=forecasting,
        accounts=accounts,
        device_keys=device_keys,
        mqtt_readings=MqttReadings(ingestion=ingestion, device_keys=device_keys, config=config),
    )
