"""All settings in one place, read from the environment (and an optional `.env` file).

The original product's variable names are kept (`INFLUXDB_URL`, `MQTT_BROKER`, `ML_PREDICTOR_INTERVAL`, ...);
new ones carry the `IAQ_` prefix. `.env.example` documents every one of them.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Runtime configuration. Every field maps to one environment variable (its alias)."""

    # empty variables (as in a copied .env.example) mean "the default", not an empty value
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    # -- web server
    host: str = Field("0.0.0.0", validation_alias=_env("IAQ_HOST"))
    port: int = Field(8080, ge=1, le=65535, validation_alias=_env("IAQ_PORT"))
    data_dir: Path = Field(Path("./data"), validation_alias=_env("IAQ_DATA_DIR"))
    storage_secret: str | None = Field(None, validation_alias=_env("IAQ_STORAGE_SECRET"))
    log_level: str = Field("INFO", validation_alias=_env("IAQ_LOG_LEVEL"))

    # -- demo and workers
    demo: bool = Field(False, validation_alias=_env("IAQ_DEMO"))
    demo_interval_s: float = Field(5.0, gt=0, validation_alias=_env("IAQ_DEMO_INTERVAL"))
    demo_backfill_hours: float = Field(24.0, ge=0, validation_alias=_env("IAQ_DEMO_BACKFILL_HOURS"))
    workers_enabled: bool = Field(True, validation_alias=_env("IAQ_WORKERS"))

    # -- registry and embedded time series
    database_url: str | None = Field(None, validation_alias=_env("DATABASE_URL"))
    sqlite_synchronous: str = Field("FULL", validation_alias=_env("IAQ_SQLITE_SYNCHRONOUS"))
    default_timezone: str = Field("UTC", validation_alias=_env("IAQ_DEFAULT_TIMEZONE"))
    # the language of what no account chose (e-mails, the sign-in page of a browser that asks for none):
    # en, fr
    language: str = Field("en", pattern="^[a-z]{2}$", validation_alias=_env("IAQ_LANGUAGE"))

    # -- ingestion
    auto_register: bool = Field(True, validation_alias=_env("IAQ_AUTO_REGISTER"))
    max_batch_readings: int = Field(5000, ge=1, validation_alias=_env("IAQ_MAX_BATCH"))
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, validation_alias=_env("IAQ_MAX_BODY_BYTES"))
    max_future_s: float = Field(300.0, ge=0, validation_alias=_env("IAQ_MAX_FUTURE_S"))
    tvoc_ugm3_per_ppb: float = Field(4.5, gt=0, validation_alias=_env("IAQ_TVOC_UGM3_PER_PPB"))

    # -- retention and rollups (services/rollups.py), for every time-series store
    raw_retention_days: float = Field(30, ge=0, validation_alias=_env("IAQ_RAW_RETENTION_DAYS"))  # 0: forever
    rollup_retention_days: float = Field(730, ge=0, validation_alias=_env("IAQ_ROLLUP_RETENTION_DAYS"))
    rollup_interval_s: float = Field(300, ge=0, validation_alias=_env("IAQ_ROLLUP_INTERVAL"))  # 0: off
    disk_warn_percent: float = Field(10, ge=0, le=100, validation_alias=_env("IAQ_DISK_WARN_PERCENT"))

    # -- IAQ score
    score_interval_s: float = Field(60.0, ge=0, validation_alias=_env("IAQ_SCORE_INTERVAL"))
    score_stale_after_s: float = Field(3600.0, gt=0, validation_alias=_env("IAQ_SCORE_STALE_AFTER"))
    # JSON, any subset of the score's thresholds; sites and rooms refine it (docs/score.md)
    score_thresholds: dict[str, Any] | None = Field(None, validation_alias=_env("IAQ_SCORE_THRESHOLDS"))

    # -- alerts
    alerts_enabled: bool = Field(True, validation_alias=_env("IAQ_ALERTS"))
    alert_interval_s: float = Field(60.0, gt=0, validation_alias=_env("IAQ_ALERT_INTERVAL"))
    sensor_interval_s: float = Field(300.0, gt=0, validation_alias=_env("IAQ_SENSOR_INTERVAL"))
    webhook_urls_text: str = Field("", validation_alias=_env("IAQ_WEBHOOK_URLS"))
    webhook_retries: int = Field(5, ge=0, le=20, validation_alias=_env("IAQ_WEBHOOK_RETRIES"))
    webhook_backoff_s: float = Field(2.0, gt=0, validation_alias=_env("IAQ_WEBHOOK_BACKOFF"))
    alert_emails_text: str = Field("", validation_alias=_env("IAQ_ALERT_EMAILS"))
    smtp_host: str | None = Field(None, validation_alias=_env("IAQ_SMTP_HOST"))
    smtp_port: int = Field(587, ge=1, le=65535, validation_alias=_env("IAQ_SMTP_PORT"))
    smtp_security: str = Field("starttls", validation_alias=_env("IAQ_SMTP_SECURITY"))
    smtp_user: str | None = Field(None, validation_alias=_env("IAQ_SMTP_USER"))
    smtp_password: str | None = Field(None, validation_alias=_env("IAQ_SMTP_PASSWORD"))
    smtp_from: str = Field("iaqverse@localhost", validation_alias=_env("IAQ_SMTP_FROM"))

    # -- modules and automation (docs/modules.md)
    command_timeout_s: float = Field(10.0, gt=0, validation_alias=_env("IAQ_COMMAND_TIMEOUT"))
    simulated_device_delay_s: float = Field(0.5, ge=0, validation_alias=_env("IAQ_SIMULATED_DEVICE_DELAY"))
    automation_enabled: bool = Field(True, validation_alias=_env("IAQ_AUTOMATION"))
    ach_window_s: float = Field(1200.0, gt=0, validation_alias=_env("IAQ_ACH_WINDOW"))

    # -- digital twin
    max_glb_bytes: int = Field(20 * 1024 * 1024, ge=1024, validation_alias=_env("IAQ_MAX_GLB_BYTES"))

    # -- live updates
    websocket_enabled: bool = Field(True, validation_alias=_env("WEBSOCKET_ENABLED"))
    ws_queue_size: int = Field(20_000, ge=10, validation_alias=_env("IAQ_WS_QUEUE"))

    # -- accounts, sign-in and devices (docs/security.md)
    admin_password: str | None = Field(None, min_length=8, validation_alias=_env("IAQ_ADMIN_PASSWORD"))
    # also made a personal access token of the first admin at first start (provisioning scripts, tests)
    admin_token: str | None = Field(None, min_length=24, validation_alias=_env("IAQ_ADMIN_TOKEN"))
    session_idle_s: float = Field(8 * 3600.0, gt=0, validation_alias=_env("IAQ_SESSION_IDLE"))
    session_max_s: float = Field(7 * 86400.0, gt=0, validation_alias=_env("IAQ_SESSION_MAX"))
    login_max_failures: int = Field(5, ge=1, validation_alias=_env("IAQ_LOGIN_MAX_FAILURES"))
    login_lockout_s: float = Field(300.0, gt=0, validation_alias=_env("IAQ_LOGIN_LOCKOUT"))
    local_login: bool = Field(True, validation_alias=_env("IAQ_LOCAL_LOGIN"))
    device_key_rate: float = Field(50.0, gt=0, validation_alias=_env("IAQ_DEVICE_KEY_RATE"))  # requests/s
    device_key_burst: int = Field(200, ge=1, validation_alias=_env("IAQ_DEVICE_KEY_BURST"))
    cors_origins_text: str = Field("", validation_alias=_env("IAQ_CORS_ORIGINS"))
    # proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: addresses or networks, comma-separated
    trusted_proxies_text: str = Field("", validation_alias=_env("IAQ_TRUSTED_PROXIES"))
    oidc_issuer: str | None = Field(None, validation_alias=_env("IAQ_OIDC_ISSUER"))
    oidc_client_id: str | None = Field(None, validation_alias=_env("IAQ_OIDC_CLIENT_ID"))
    oidc_client_secret: str | None = Field(None, validation_alias=_env("IAQ_OIDC_CLIENT_SECRET"))
    oidc_scope: str = Field("openid email profile", validation_alias=_env("IAQ_OIDC_SCOPE"))
    oidc_role_claim: str = Field("groups", validation_alias=_env("IAQ_OIDC_ROLE_CLAIM"))
    # JSON: claim value -> role, e.g. {"iaq-admins": "admin", "facility": "operator"}
    oidc_role_map: dict[str, str] = Field(default_factory=dict, validation_alias=_env("IAQ_OIDC_ROLE_MAP"))
    # role of a signed-in user whose claims map to none; unset: such users are refused
    oidc_default_role: str | None = Field(None, validation_alias=_env("IAQ_OIDC_DEFAULT_ROLE"))

    # -- kept from the original product; used by later capabilities
    # InfluxDB as the time-series store: on when INFLUXDB_URL is set, unless INFLUXDB_ENABLED=false
    influxdb_enabled: bool | None = Field(None, validation_alias=_env("INFLUXDB_ENABLED"))
    influxdb_url: str | None = Field(None, validation_alias=_env("INFLUXDB_URL"))
    # "user:password" (InfluxDB 1.x, basic auth) or an API token (2.x/3.x, `Authorization: Token ...`)
    influxdb_token: str | None = Field(None, validation_alias=_env("INFLUXDB_TOKEN"))
    influxdb_org: str = Field("iaqverse", validation_alias=_env("INFLUXDB_ORG"))
    # the database, or "database/retention_policy" (how the v1 API maps a 2.x bucket)
    influxdb_bucket: str = Field("iaq_data", validation_alias=_env("INFLUXDB_BUCKET"))
    influxdb_timeout_s: float = Field(10.0, gt=0, validation_alias=_env("IAQ_INFLUXDB_TIMEOUT"))
    # the durable outbox in front of InfluxDB (docs/influxdb.md)
    outbox_max_readings: int = Field(2_000_000, ge=1, validation_alias=_env("IAQ_OUTBOX_MAX"))
    outbox_batch: int = Field(5000, ge=1, le=100_000, validation_alias=_env("IAQ_OUTBOX_BATCH"))
    # hours of reading time for which a reading sent again is known as a duplicate without asking InfluxDB
    duplicate_window_h: float = Field(48.0, ge=0, le=24 * 365, validation_alias=_env("IAQ_DUPLICATE_WINDOW"))
    outbox_poll_s: float = Field(0.5, gt=0, validation_alias=_env("IAQ_OUTBOX_POLL"))
    outbox_backoff_max_s: float = Field(60.0, gt=0, validation_alias=_env("IAQ_OUTBOX_BACKOFF_MAX"))
    # MQTT: on with MQTT_ENABLED=true (broker MQTT_BROKER, default localhost), or when MQTT_BROKER is set
    mqtt_enabled: bool | None = Field(None, validation_alias=_env("MQTT_ENABLED"))
    mqtt_broker: str | None = Field(None, validation_alias=_env("MQTT_BROKER"))
    mqtt_port: int = Field(1883, ge=1, le=65535, validation_alias=_env("MQTT_PORT"))
    mqtt_username: str | None = Field(None, validation_alias=_env("MQTT_USERNAME"))
    mqtt_password: str | None = Field(None, validation_alias=_env("MQTT_PASSWORD"))
    mqtt_topic_prefix: str = Field(
        "iaqverse", pattern=r"^[A-Za-z0-9_-]+$", validation_alias=_env("IAQ_MQTT_PREFIX")
    )
    mqtt_client_id: str = Field("iaqverse", min_length=1, validation_alias=_env("IAQ_MQTT_CLIENT_ID"))
    ml_predictor_interval_s: float = Field(600, gt=0, validation_alias=_env("ML_PREDICTOR_INTERVAL"))
    ml_trainer_interval_s: float = Field(86400, gt=0, validation_alias=_env("ML_TRAINER_INTERVAL"))

    # -- forecasting (docs/forecasting.md)
    forecasting_enabled: bool = Field(True, validation_alias=_env("IAQ_FORECASTING"))
    ml_metrics_text: str = Field("co2", validation_alias=_env("IAQ_ML_METRICS"))
    ml_trainer_delay_s: float = Field(60.0, ge=0, validation_alias=_env("IAQ_ML_TRAINER_DELAY"))
    ml_process_pool: bool = Field(True, validation_alias=_env("IAQ_ML_PROCESS_POOL"))

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from exc
        return value

    @field_validator("score_thresholds")
    @classmethod
    def _valid_thresholds(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        from app.core.domain.readings import InvalidInput
        from app.core.domain.score import DEFAULT_THRESHOLDS

        try:
            DEFAULT_THRESHOLDS.merged(value)
        except InvalidInput as exc:
            raise ValueError(f"IAQ_SCORE_THRESHOLDS: {exc}") from None
        return value

    @field_validator("sqlite_synchronous")
    @classmethod
    def _sync_mode(cls, value: str) -> str:
        value = value.upper()
        if value not in {"FULL", "NORMAL", "EXTRA"}:
            raise ValueError("IAQ_SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA")
        return value

    @field_validator("webhook_urls_text")
    @classmethod
    def _urls(cls, value: str) -> str:
        for url in (u.strip() for u in value.split(",")):
            if url and not url.startswith(("http://", "https://")):
                raise ValueError(f"IAQ_WEBHOOK_URLS: {url!r} is not an http:// or https:// URL")
        return value

    @field_validator("smtp_security")
    @classmethod
    def _smtp_security(cls, value: str) -> str:
        value = value.lower()
        if value not in {"starttls", "ssl", "none"}:
            raise ValueError("IAQ_SMTP_SECURITY must be starttls, ssl or none")
        return value

    @field_validator("ml_metrics_text")
    @classmethod
    def _ml_metrics(cls, value: str) -> str:
        allowed = {"co2", "pm25", "tvoc", "temperature", "humidity"}
        unknown = [m for m in (m.strip() for m in value.split(",")) if m and m not in allowed]
        if unknown:
            raise ValueError(
                f"IAQ_ML_METRICS: unknown {', '.join(unknown)}; use some of {', '.join(sorted(allowed))}"
            )
        return value

    @property
    def ml_metrics(self) -> tuple[str, ...]:
        """IAQ_ML_METRICS, comma-separated: the metrics the trainer forecasts."""
        return tuple(m.strip() for m in self.ml_metrics_text.split(",") if m.strip())

    @field_validator("oidc_role_map")
    @classmethod
    def _role_map(cls, value: dict[str, str]) -> dict[str, str]:
        for claim, role in value.items():
            if role not in ("viewer", "operator", "admin"):
                raise ValueError(
                    f"IAQ_OIDC_ROLE_MAP: {claim!r} maps to {role!r}; use viewer, operator or admin"
                )
        return value

    @field_validator("oidc_default_role")
    @classmethod
    def _default_role(cls, value: str | None) -> str | None:
        if value is not None and value not in ("viewer", "operator", "admin"):
            raise ValueError("IAQ_OIDC_DEFAULT_ROLE must be viewer, operator or admin")
        return value

    @property
    def cors_origins(self) -> list[str]:
        """IAQ_CORS_ORIGINS, comma-separated; empty (the default): no cross-origin access."""
        return [o.strip() for o in self.cors_origins_text.split(",") if o.strip()]

    @property
    def trusted_proxies(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """IAQ_TRUSTED_PROXIES, comma-separated addresses or networks (`10.0.0.0/8`); empty (the default):
        no proxy is believed, the peer's address is the client's."""
        return [
            ipaddress.ip_network(p.strip(), strict=False)
            for p in self.trusted_proxies_text.split(",")
            if p.strip()
        ]

    @field_validator("trusted_proxies_text")
    @classmethod
    def _proxies(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError:
                    raise ValueError(
                        f"IAQ_TRUSTED_PROXIES: {part.strip()!r} is not an address or a network"
                    ) from None
        return value

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def alert_emails(self) -> list[str]:
        """IAQ_ALERT_EMAILS, comma-separated."""
        return [address.strip() for address in self.alert_emails_text.split(",") if address.strip()]

    @property
    def webhook_urls(self) -> list[str]:
        """IAQ_WEBHOOK_URLS, comma-separated."""
        return [url.strip() for url in self.webhook_urls_text.split(",") if url.strip()]

    @property
    def use_influxdb(self) -> bool:
        """InfluxDB holds the time series: INFLUXDB_URL is set and INFLUXDB_ENABLED is not false."""
        return bool(self.influxdb_url) and self.influxdb_enabled is not False

    @field_validator("influxdb_url")
    @classmethod
    def _influx_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"INFLUXDB_URL: {value!r} is not an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @property
    def mqtt_host(self) -> str | None:
        """The broker to connect to, or None: simulated modules (the embedded default)."""
        enabled = self.mqtt_enabled if self.mqtt_enabled is not None else bool(self.mqtt_broker)
        return (self.mqtt_broker or "localhost") if enabled else None

    @property
    def db_url(self) -> str:
        """The registry's SQLAlchemy URL: DATABASE_URL, or a SQLite file in the data folder."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'iaqverse.db').resolve()}"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir
