"""The composition root: builds every runtime object once and hands them to the API, pages and workers."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from app.bus import EventBus
from app.db.migrate import upgrade_to_head
from app.db.session import make_engine, make_sessionmaker
from app.domain.score import DEFAULT_THRESHOLDS
from app.observability import PlatformMetrics
from app.settings import Settings
from app.storage.alerts import SqlAlertStore
from app.storage.scores import SqlScoreStore
from app.storage.sql import SqlTimeSeriesStore
from app.workers import Worker
from services.accounts import AccountService
from services.alerting import AlertingService
from services.compliance import ComplianceService
from services.config import ConfigService
from services.device_keys import DeviceKeys
from services.ingestion import IngestionService
from services.notify import EmailNotifier, RetryingNotifier, WebhookNotifier
from services.query import QueryService
from services.registry_index import RegistryIndex
from services.scoring import ScoringService

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: SqlTimeSeriesStore
    bus: EventBus
    metrics: PlatformMetrics
    index: RegistryIndex
    ingestion: IngestionService
    config: ConfigService
    query: QueryService
    scoring: ScoringService
    alerting: AlertingService
    compliance: ComplianceService
    workers: dict[str, Worker] = field(default_factory=dict)
    started: bool = False
    simulator: Any = None  # the demo simulator, when demo mode runs it
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
        self.accounts.bootstrap()  # the first admin, on first start
        self.device_keys.load()
        self.ingestion.start()
        self.scoring.load()
        if self.settings.workers_enabled and self.settings.score_interval_s > 0:
            self.scoring.start_recording()
            self.workers["scores"] = Worker("scores", self.scoring.run_writer)
        self.alerting.load()
        if self.settings.workers_enabled and self.settings.alerts_enabled:
            self.alerting.start()
            self.workers["alerts"] = Worker("alerts", self.alerting.run)
        if self.settings.workers_enabled and self.settings.demo:
            self.workers["simulator"] = self._demo_worker()
        for worker in self.workers.values():
            worker.start()
        self.started = True
        log.info(
            "IAQverse started: database %s, demo %s",
            self.engine.url.render_as_string(hide_password=True),
            "on" if self.settings.demo else "off",
        )

    async def stop(self) -> None:
        for worker in self.workers.values():
            await worker.stop()
        await self.ingestion.stop()
        await self.scoring.flush()  # the last scores the writer had not stored yet
        for notifier in self.alerting.notifiers:
            await notifier.drain(timeout_s=2)
            await notifier.close()
        self.engine.dispose()
        self.started = False

    def _demo_worker(self) -> Worker:
        from services.simulator.demo import DEMO_SITES, DemoSimulator  # only demo mode pays for importing it

        async def sink(payloads: list[dict]) -> None:
            await self.ingestion.ingest(payloads, source="simulator")

        simulator = DemoSimulator(sink, interval_s=self.settings.demo_interval_s)

        async def work() -> None:
            await self._register_demo_sites(DEMO_SITES)
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

    async def health(self) -> dict:
        """Status of the database, the ingestion writer and each worker; `ok` is False when degraded."""
        checks: dict[str, dict] = {}
        try:
            await asyncio.wait_for(asyncio.to_thread(self._ping_db), timeout=5)
            checks["database"] = {"status": "ok"}
        except Exception as exc:
            checks["database"] = {"status": "down", "error": type(exc).__name__}
        ingest_ok = self.ingestion.state == "running" and self.ingestion.last_error is None
        checks["ingestion"] = {"status": "ok" if ingest_ok else "degraded", "state": self.ingestion.state}
        for name, worker in self.workers.items():
            checks[f"worker:{name}"] = {
                "status": "ok" if worker.healthy else "degraded",
                "state": worker.state,
                "restarts": worker.restarts,
            }
            self.metrics.worker_up.labels(name).set(1 if worker.healthy else 0)
        ok = all(c["status"] == "ok" for c in checks.values())
        return {"status": "ok" if ok else "degraded", "checks": checks}

    def _ping_db(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


def build_runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    settings.ensure_data_dir()
    engine = make_engine(settings.db_url, sqlite_synchronous=settings.sqlite_synchronous)
    sessions = make_sessionmaker(engine)
    store = SqlTimeSeriesStore(engine)
    bus = EventBus()
    metrics = PlatformMetrics()
    index = RegistryIndex(settings.default_timezone)
    ingestion = IngestionService(
        engine=engine, store=store, bus=bus, settings=settings, metrics=metrics, index=index
    )
    config = ConfigService(
        sessions=sessions, index=index, bus=bus, default_timezone=settings.default_timezone
    )
    query = QueryService(sessions=sessions, store=store)
    scoring = ScoringService(
        sessions=sessions,
        store=store,
        scores=SqlScoreStore(engine),
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
        accounts=accounts,
        device_keys=device_keys,
    )
