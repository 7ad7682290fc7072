"""The composition root: `build_runtime` builds every object once, from the settings, and hands each the
objects it needs through its constructor; `Runtime.start` then starts them, and nothing is built or wired
afterwards. The API, the pages and the CLI all take their objects from here (the CLI through
`build_storage` and `build_accounts`, the same builders' parts)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.core.bus import EventBus
from app.core.db.migrate import upgrade_to_head
from app.core.db.session import make_engine, make_sessionmaker
from app.core.domain.score import DEFAULT_THRESHOLDS
from app.core.heap import HeapTuning
from app.core.i18n import set_default_language
from app.core.observability import PlatformMetrics
from app.core.settings import Settings
from app.core.storage.alerts import SqlAlertStore
from app.core.storage.base import StoreRefused, TimeSeriesStore
from app.core.storage.modules import SqlModuleStore
from app.core.storage.outbox import OutboxDrainer
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
from services.devices import DeviceLink, DevicesOnBroker, SimulatedDevices
from services.effectiveness import EffectivenessTracker
from services.forecasting.registry import ModelRegistry
from services.forecasting.service import ForecastService
from services.health import HealthService
from services.ingestion import IngestionService
from services.modules import ActionSink, ModuleService
from services.mqtt import MqttBridge
from services.mqtt_readings import MqttReadings
from services.notify import EmailNotifier, RetryingNotifier, WebhookNotifier
from services.query import QueryService
from services.registry_index import RegistryIndex
from services.rollups import RollupReader, RollupService
from services.room_models import RoomModels
from services.scope import ScopeResolver
from services.scoring import ScoringService
from services.simulator.demo_setup import DemoDevices, DemoSetup

log = logging.getLogger(__name__)
Job = Callable[[], Awaitable[None]]  # a worker's work


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
    room_models: RoomModels
    query: QueryService
    scope: ScopeResolver  # what a request may touch (services/scope.py)
    scoring: ScoringService
    alerting: AlertingService
    compliance: ComplianceService
    rollups: RollupService
    devices: DeviceLink  # the MQTT bridge, or simulated devices without a broker
    modules: ModuleService
    automation: AutomationService
    effectiveness: EffectivenessTracker
    registry: ModelRegistry
    forecasting: ForecastService
    accounts: AccountService
    device_keys: DeviceKeys
    mqtt_readings: MqttReadings
    drainer: OutboxDrainer | None  # with InfluxDB as the store: sends the outbox (app/core/storage/outbox.py)
    demo: DemoSetup | None  # demo mode: the simulated sites, rooms and devices
    health: HealthService
    workers: dict[str, Worker] = field(default_factory=dict)  # built with the rest, started by `start`
    started: bool = False
    heap: HeapTuning = field(default_factory=HeapTuning)

    @property
    def local_login_enabled(self) -> bool:
        """Local passwords work unless switched off while single sign-on is on (never lock everyone out)."""
        return self.settings.local_login or not self.settings.oidc_enabled

    def start(self) -> None:
        """Migrate the database, then start the services and the workers.

        Synchronous on purpose: NiceGUI runs async start-up handlers as background tasks, so pages and the
        API could be served before the schema exists. Blocking here delays serving until everything is ready.
        Starting a started runtime does nothing (NiceGUI's test users enter the app's lifespan again).
        """
        if self.started:
            return
        upgrade_to_head(self.engine)
        try:
            self.store.prepare()
        except StoreRefused as exc:
            log.critical("%s", exc)
            raise SystemExit(str(exc)) from None
        self.accounts.bootstrap()  # the first admin, on first start
        self.device_keys.load()
        self.ingestion.start()
        self.scoring.load()
        if "scores" in self.workers:
            self.scoring.start_recording()
        self.alerting.load()
        self.rollups.start()
        if "alerts" in self.workers:
            self.alerting.start()
        self.modules.load()
        self.automation.load()
        self.effectiveness.start()
        if "automation" in self.workers:
            self.automation.start()
        if self.drainer is not None:
            self.drainer.start()
        for worker in self.workers.values():
            worker.start()
        self.started = True
        self.heap.apply()
        log.info(
            "IAQverse started: database %s, demo %s",
            self.engine.url.render_as_string(hide_password=True),
            "on" if self.demo is not None else "off",
        )

    async def stop(self) -> None:
        await self.modules.stop()
        await self.devices.close()
        for worker in self.workers.values():
            await worker.stop()
        if self.demo is not None:
            await self.demo.close()
        await self.ingestion.stop()
        await self.forecasting.close()
        await self.scoring.flush()  # the last scores the writer had not stored yet
        for notifier in self.alerting.notifiers:
            await notifier.drain(timeout_s=2)
            await notifier.close()
        self.store.close()
        self.engine.dispose()
        self.started = False
        self.heap.undo()


# -- the builders ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Storage:
    engine: Engine
    sessions: sessionmaker[Session]
    store: TimeSeriesStore


def time_series_store(settings: Settings, engine: Engine) -> TimeSeriesStore:
    """SQL tables in the registry's database, or InfluxDB (behind the outbox) when INFLUXDB_URL is set."""
    if settings.influxdb_enabled and not settings.influxdb_url:
        raise SystemExit("INFLUXDB_ENABLED is set but INFLUXDB_URL is empty: set the server's URL")
    if not settings.use_influxdb:
        return SqlTimeSeriesStore(engine)
    from app.core.storage.influx import InfluxTimeSeriesStore  # only an InfluxDB deployment imports it
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


def build_storage(settings: Settings) -> Storage:
    """The registry's database and the time-series store (not migrated yet: `Runtime.start` or the CLI's
    `init-db` do that)."""
    settings.ensure_data_dir()
    engine = make_engine(settings.db_url, sqlite_synchronous=settings.sqlite_synchronous)
    return Storage(engine, make_sessionmaker(engine), time_series_store(settings, engine))


def build_accounts(settings: Settings, sessions: sessionmaker[Session]) -> tuple[AccountService, DeviceKeys]:
    accounts = AccountService(sessions, settings)
    keys = DeviceKeys(
        sessions, accounts, rate_per_s=settings.device_key_rate, burst=settings.device_key_burst
    )
    return accounts, keys


def _notifiers(settings: Settings, alert_store: SqlAlertStore) -> list[RetryingNotifier]:
    notifiers: list[RetryingNotifier] = []
    retry = {"retries": settings.webhook_retries, "backoff_s": settings.webhook_backoff_s}
    if settings.webhook_urls:
        notifiers.append(WebhookNotifier(settings.webhook_urls, alert_store.record_notification, **retry))
    if settings.smtp_host and settings.alert_emails:
        notifiers.append(
            EmailNotifier(
                settings.alert_emails, alert_store.record_notification, host=settings.smtp_host,
                port=settings.smtp_port, security=settings.smtp_security, user=settings.smtp_user,
                password=settings.smtp_password, sender=settings.smtp_from, **retry,
            )
        )  # fmt: skip
    return notifiers


def _action_sinks(store: TimeSeriesStore) -> list[ActionSink]:
    """With InfluxDB, each new or changed action is also an `iaq_actions` point, committed to the series
    outbox (a one-row transaction right after the action's own; actions come at human or automation pace)."""
    series = store.series
    if series is None:
        return []
    from app.core.storage.influx_series import encode
    from services.modules import iaq_actions_point

    return [lambda action: series.add([(action.get("room_id"), encode(*iaq_actions_point(action)))])]


def _device_link(settings: Settings) -> tuple[DeviceLink, Job | None, SimulatedDevices | None]:
    """The MQTT bridge (and its worker) when a broker is configured, else simulated devices (returned a
    second time as such: the demo drives them). The services that hear the devices register with the link
    they are given (`listen_devices`, `listen_readings`)."""
    if settings.mqtt_host is None:
        simulated = SimulatedDevices(delay_s=settings.simulated_device_delay_s)
        return simulated, None, simulated
    bridge = MqttBridge(
        settings.mqtt_host, settings.mqtt_port,
        prefix=settings.mqtt_topic_prefix, client_id=settings.mqtt_client_id,
        username=settings.mqtt_username, password=settings.mqtt_password,
    )  # fmt: skip
    return bridge, bridge.run, None


def build_runtime(settings: Settings | None = None) -> Runtime:
    s = settings or Settings()
    set_default_language(s.language)  # what no account chose: e-mails, webhooks' text, the API's CSV
    storage = build_storage(s)
    engine, sessions, store = storage.engine, storage.sessions, storage.store
    bus, metrics, index = EventBus(), PlatformMetrics(), RegistryIndex(s.default_timezone)
    ingestion = IngestionService(
        engine=engine, store=store, bus=bus, settings=s, metrics=metrics, index=index
    )
    room_models = RoomModels.from_settings(s)
    config = ConfigService(
        sessions=sessions, index=index, bus=bus, default_timezone=s.default_timezone, room_models=room_models,
        time_series=store if s.use_influxdb else None,  # SQL readings go by foreign-key cascade
    )  # fmt: skip
    rollups, scoring = _rollups(s, storage, bus), _scoring(s, storage, bus)
    alert_store = SqlAlertStore(engine)
    alerting = AlertingService(
        store=alert_store, bus=bus, interval_s=s.alert_interval_s, sensor_interval_s=s.sensor_interval_s,
        notifiers=_notifiers(s, alert_store),
    )  # fmt: skip
    module_store = SqlModuleStore(engine)
    devices, link_job, simulated = _device_link(s)
    modules = ModuleService(
        store=module_store, sessions=sessions, bus=bus, link=devices, alerting=alerting,
        action_sinks=_action_sinks(store), command_timeout_s=s.command_timeout_s,
        topic_prefix=s.mqtt_topic_prefix,
    )  # fmt: skip
    accounts, device_keys = build_accounts(s, sessions)
    mqtt_readings = MqttReadings(ingestion=ingestion, device_keys=device_keys, config=config, link=devices)
    registry = ModelRegistry(sessions, s.data_dir)
    forecasting = ForecastService(
        sessions=sessions, store=store, bus=bus, registry=registry, metrics=s.ml_metrics,
        use_process_pool=s.ml_process_pool, alerting=alerting, module_store=module_store,
    )  # fmt: skip
    drainer = _drainer(s, store, bus)
    demo, demo_jobs = _demo(s, config, modules, ingestion, store, simulated) if s.demo else (None, {})
    workers: dict[str, Worker] = {}
    health = HealthService(
        engine=engine, store=store, ingestion=ingestion, devices=devices, rollups=rollups, drainer=drainer,
        workers=workers, metrics=metrics, bus=bus,
    )  # fmt: skip
    automation = AutomationService(modules=modules, store=module_store, bus=bus)
    runtime = Runtime(
        settings=s, engine=engine, sessions=sessions, store=store, bus=bus, metrics=metrics, index=index,
        ingestion=ingestion, config=config, room_models=room_models,
        query=QueryService(sessions=sessions, store=RollupReader(store, rollups)),
        scope=ScopeResolver(sessions), scoring=scoring, alerting=alerting,
        compliance=ComplianceService(sessions=sessions, store=store, scoring=scoring),
        rollups=rollups, devices=devices, modules=modules, automation=automation,
        effectiveness=EffectivenessTracker(modules, bus, window_s=s.ach_window_s), registry=registry,
        forecasting=forecasting, accounts=accounts, device_keys=device_keys, mqtt_readings=mqtt_readings,
        drainer=drainer, demo=demo, health=health, workers=workers,
    )  # fmt: skip
    jobs = {"mqtt": link_job, **demo_jobs} if link_job is not None else demo_jobs
    workers.update(_workers(runtime, jobs))
    return runtime


def _rollups(s: Settings, storage: Storage, bus: EventBus) -> RollupService:
    return RollupService(
        store=storage.store, rollups=SqlRollupStore(storage.engine), raw_retention_days=s.raw_retention_days,
        rollup_retention_days=s.rollup_retention_days, interval_s=s.rollup_interval_s, data_dir=s.data_dir,
        disk_warn_percent=s.disk_warn_percent, bus=bus,
    )  # fmt: skip


def _scoring(s: Settings, storage: Storage, bus: EventBus) -> ScoringService:
    store = storage.store
    return ScoringService(
        sessions=storage.sessions, store=store, scores=SqlScoreStore(storage.engine, series=store.series),
        bus=bus, stale_after_s=s.score_stale_after_s, interval_s=s.score_interval_s,
        thresholds=DEFAULT_THRESHOLDS.merged(s.score_thresholds),  # the deployment's, then sites'
    )  # fmt: skip


def _drainer(s: Settings, store: TimeSeriesStore, bus: EventBus) -> OutboxDrainer | None:
    """With InfluxDB as the store: the worker that sends the outbox on (app/core/storage/outbox.py)."""
    if not s.use_influxdb:
        return None
    return OutboxDrainer(
        store,  # type: ignore[arg-type]  # the InfluxDB store (use_influxdb)
        batch=s.outbox_batch, poll_s=s.outbox_poll_s, backoff_max_s=s.outbox_backoff_max_s, bus=bus,
    )  # fmt: skip


def _demo(
    s: Settings,
    config: ConfigService,
    modules: ModuleService,
    ingestion: IngestionService,
    store: TimeSeriesStore,
    simulated: SimulatedDevices | None,
) -> tuple[DemoSetup, dict[str, Job]]:
    """The demo's set-up and its workers; its simulated devices act on the simulated rooms, on the broker when
    one is configured (`DevicesOnBroker`), else through the in-memory simulated devices that are the link."""
    demo_devices: DemoDevices | None = simulated
    jobs: dict[str, Job] = {}
    if demo_devices is None:  # the demo's modules answer over the broker, as real devices would
        assert s.mqtt_host is not None
        on_broker = DevicesOnBroker(
            s.mqtt_host, s.mqtt_port, prefix=s.mqtt_topic_prefix, client_id=s.mqtt_client_id,
            delay_s=s.simulated_device_delay_s, username=s.mqtt_username, password=s.mqtt_password,
        )  # fmt: skip
        demo_devices, jobs["demo-devices"] = on_broker, on_broker.run
    setup = DemoSetup(
        config=config, modules=modules, ingestion=ingestion, store=store, devices=demo_devices,
        interval_s=s.demo_interval_s, backfill_hours=s.demo_backfill_hours,
    )  # fmt: skip
    return setup, {"simulator": setup.run, **jobs}


def _workers(rt: Runtime, jobs: dict[str, Job]) -> dict[str, Worker]:
    """The background work the settings ask for (with `jobs`, the device link's and the demo's), built now
    and started by `Runtime.start`."""
    s = rt.settings
    if not s.workers_enabled:
        return {}
    work: dict[str, Job] = {}
    if s.score_interval_s > 0:
        work["scores"] = rt.scoring.run_writer
    if s.rollup_interval_s > 0:
        work["rollups"] = rt.rollups.run
    if s.alerts_enabled:
        work["alerts"] = rt.alerting.run
    if s.automation_enabled:
        work["automation"] = rt.automation.run
    work.update(jobs)
    if rt.drainer is not None:
        work["outbox"] = rt.drainer.run
    work["storage-status"] = rt.health.watch_storage
    if s.forecasting_enabled:
        work["trainer"] = lambda: rt.forecasting.run_trainer(s.ml_trainer_interval_s, s.ml_trainer_delay_s)
        work["predictor"] = lambda: rt.forecasting.run_predictor(s.ml_predictor_interval_s)
    return {name: Worker(name, job) for name, job in work.items()}
