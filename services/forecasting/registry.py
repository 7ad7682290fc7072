"""The model registry (`ml_models`, `training_runs`): versions, their status, who activated them.

Statuses: `candidate` (registered, not in use), `active` (the one the predictor uses; at most one per
name), `retired` (was active, replaced). Activation and rollback are one transaction each, so a name never
has two active versions. Artifacts are files under `IAQ_DATA_DIR/ml_models/`, saved with joblib and
checked against their sha256 when loaded.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.core.db.models import MlModel, Room, TrainingRun
from app.core.domain.readings import FieldError, InvalidInput
from app.core.i18n import _
from services.errors import Conflict, NotFound

log = logging.getLogger(__name__)
STATUSES = ("candidate", "active", "retired")


class ArtifactError(RuntimeError):
    """An artifact is missing, corrupt or does not match its checksum."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)  # SQLite gives back naive UTC times
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def model_dict(m: MlModel) -> dict[str, Any]:
    return {
        "id": m.id,
        "model_name": m.name,
        "model_version": m.version,
        "model_type": m.model_type,
        "model_path": m.artifact_path,
        "checksum": m.checksum,
        "metric": m.metric,
        "room_id": m.room_id,
        "parameters": m.parameters or {},
        "metrics": m.metrics or {},
        "training_start": _iso(m.training_start),
        "training_end": _iso(m.training_end),
        "status": m.status,
        "activated_by": m.activated_by,
        "activated_at": _iso(m.activated_at),
        "created_at": _iso(m.created_at),
    }


def run_dict(r: TrainingRun) -> dict[str, Any]:
    return {
        "id": r.id,
        "model_name": r.model_name,
        "trigger": r.trigger,
        "started_at": _iso(r.started_at),
        "finished_at": _iso(r.finished_at),
        "duration_s": r.duration_s,
        "data_points": r.data_points,
        "outcome": r.outcome,
        "error": r.error,
        "model_id": r.model_id,
        "metrics": r.metrics or {},
    }


def _text(body: dict, key: str, *, required: bool, max_len: int) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise FieldError(key, _("must be a non-empty string")).as_error()
    if len(value) > max_len:
        raise FieldError(key, _("must be at most {max_len} characters").format(max_len=max_len)).as_error()
    return value.strip()


def _mapping(body: dict, key: str) -> dict | None:
    value = body.get(key)
    if value is not None and not isinstance(value, dict):
        raise FieldError(key, _("must be a JSON object")).as_error()
    return value


class ModelRegistry:
    """Registry operations; synchronous (callers run them in a thread)."""

    def __init__(self, sessions: sessionmaker[Session], data_dir: Path):
        self.sessions = sessions
        self.artifact_dir = Path(data_dir) / "ml_models"
        self.version_seen = 0  # bumped on every change, so the predictor knows when to reload

    # -- artifacts --------------------------------------------------------------------------------------

    def artifact_path(self, name: str, version: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "model"
        return self.artifact_dir / safe / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', version)}.joblib"

    def save_artifact(self, obj: Any, name: str, version: str) -> tuple[str, str]:
        """Dump with joblib; returns (path, sha256)."""
        import joblib

        path = self.artifact_path(name, version)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        joblib.dump(obj, tmp)
        tmp.replace(path)
        return str(path), sha256_file(path)

    @staticmethod
    def load_artifact(path: str | None, checksum: str | None) -> Any:
        """Load a joblib artifact after checking its checksum; ArtifactError when that cannot be done."""
        import joblib

        if not path:
            raise ArtifactError(_("the model has no artifact"))
        file = Path(path)
        if not file.is_file():
            raise ArtifactError(_("artifact {path} is missing").format(path=path))
        if checksum and sha256_file(file) != checksum:
            raise ArtifactError(_("artifact {path} does not match its checksum").format(path=path))
        try:
            return joblib.load(file)
        except Exception as exc:
            raise ArtifactError(
                _("artifact {path} cannot be loaded: {name}").format(path=path, name=type(exc).__name__)
            ) from exc

    # -- registration and status ------------------------------------------------------------------------

    def register(self, body: Any, *, by: str = "api") -> dict[str, Any]:
        """`POST /api/models/register` (seed contract): name, version, type, path, metrics, set_active."""
        if not isinstance(body, dict):
            raise FieldError("body", _("must be a JSON object")).as_error()
        name = _text(body, "model_name", required=True, max_len=256)
        version = _text(body, "model_version", required=True, max_len=64)
        model_type = _text(body, "model_type", required=True, max_len=64)
        path = _text(body, "model_path", required=False, max_len=1024)
        metric = _text(body, "metric", required=False, max_len=64)
        metrics = _mapping(body, "metrics")
        parameters = _mapping(body, "parameters")
        set_active = body.get("set_active", False)
        if not isinstance(set_active, bool):
            raise FieldError("set_active", _("must be true or false")).as_error()
        room_id = body.get("room_id")
        if room_id is not None and (not isinstance(room_id, int) or isinstance(room_id, bool)):
            raise FieldError("room_id", _("must be an integer")).as_error()
        return self.add(
            name=name,
            version=version,
            model_type=model_type,
            artifact_path=path,
            checksum=_text(body, "checksum", required=False, max_len=64),
            metric=metric,
            room_id=room_id,
            parameters=parameters,
            metrics=metrics,
            activate_by=by if set_active else None,
        )

    def add(self, *, activate_by: str | None = None, **fields: Any) -> dict[str, Any]:
        with self.sessions.begin() as s:
            if fields.get("room_id") is not None and s.get(Room, fields["room_id"]) is None:
                raise FieldError(
                    "room_id", _("no room with id {room_id}").format(room_id=fields["room_id"])
                ).as_error()
            exists = s.scalar(
                select(MlModel.id).where(MlModel.name == fields["name"], MlModel.version == fields["version"])
            )
            if exists:
                raise Conflict(
                    _("model {name!r} already has a version {version!r}").format(
                        name=fields["name"], version=fields["version"]
                    )
                )
            model = MlModel(status="candidate", **fields)
            s.add(model)
            s.flush()
            if activate_by:
                self._activate(s, model, activate_by)
            out = model_dict(model)
        self.version_seen += 1
        return out

    def _activate(self, s: Session, model: MlModel, by: str) -> None:
        s.execute(
            update(MlModel)
            .where(MlModel.name == model.name, MlModel.status == "active", MlModel.id != model.id)
            .values(status="retired")
        )
        model.status, model.activated_by, model.activated_at = "active", by, datetime.now(UTC)

    def activate(self, model_id: int, *, by: str) -> dict[str, Any]:
        """Make a version the active one of its name; the previous active one is retired."""
        with self.sessions.begin() as s:
            model = s.get(MlModel, model_id)
            if model is None:
                raise NotFound(_("no model with id {model_id}").format(model_id=model_id))
            self._activate(s, model, by)
            out = model_dict(model)
        self.version_seen += 1
        return out

    def rollback(self, name: str, *, by: str) -> dict[str, Any]:
        """Put back the version that was active before the current one (the newest retired one)."""
        with self.sessions.begin() as s:
            previous = s.scalars(
                select(MlModel)
                .where(MlModel.name == name, MlModel.status == "retired", MlModel.activated_at.is_not(None))
                .order_by(MlModel.activated_at.desc(), MlModel.id.desc())
                .limit(1)
            ).first()
            if previous is None:
                if s.scalar(select(MlModel.id).where(MlModel.name == name)) is None:
                    raise NotFound(_("no model named {name!r}").format(name=name))
                raise Conflict(
                    _("model {name!r} has no earlier active version to roll back to").format(name=name)
                )
            self._activate(s, previous, by)
            out = model_dict(previous)
        self.version_seen += 1
        return out

    def list(self, name: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        if status is not None and status not in STATUSES:
            raise InvalidInput(
                [FieldError("status", _("must be one of {choices}").format(choices=", ".join(STATUSES)))]
            )
        stmt = select(MlModel).order_by(MlModel.name, MlModel.created_at.desc(), MlModel.id.desc())
        if name:
            stmt = stmt.where(MlModel.name == name)
        if status:
            stmt = stmt.where(MlModel.status == status)
        with self.sessions() as s:
            return [model_dict(m) for m in s.scalars(stmt)]

    def get(self, model_id: int) -> dict[str, Any]:
        with self.sessions() as s:
            model = s.get(MlModel, model_id)
            if model is None:
                raise NotFound(_("no model with id {model_id}").format(model_id=model_id))
            return model_dict(model)

    def active(self, name: str) -> dict[str, Any] | None:
        with self.sessions() as s:
            model = s.scalars(select(MlModel).where(MlModel.name == name, MlModel.status == "active")).first()
            return model_dict(model) if model else None

    def active_models(self) -> list[dict[str, Any]]:
        """Active models that forecast a room's metric (what the predictor runs)."""
        stmt = select(MlModel).where(
            MlModel.status == "active", MlModel.room_id.is_not(None), MlModel.metric.is_not(None)
        )
        with self.sessions() as s:
            return [model_dict(m) for m in s.scalars(stmt)]

    def rooms_without_active_model(self) -> list[dict[str, Any]]:
        """The newest candidate of each room metric that has candidates but no active model (none beat
        persistence yet, or activation was refused): the predictor forecasts them with persistence, so such a
        room still has a forecast, labelled as persistence."""
        stmt = select(MlModel).where(
            MlModel.status.in_(("active", "candidate")),
            MlModel.room_id.is_not(None),
            MlModel.metric.is_not(None),
        )
        with self.sessions() as s:
            models = list(s.scalars(stmt.order_by(MlModel.id)))
        active = {(m.room_id, m.metric) for m in models if m.status == "active"}
        newest = {(m.room_id, m.metric): m for m in models if m.status == "candidate"}
        return [model_dict(m) for key, m in newest.items() if key not in active]

    # -- training runs ------------------------------------------------------------------------------------

    def start_run(self, model_name: str, trigger: str) -> int:
        with self.sessions.begin() as s:
            run = TrainingRun(model_name=model_name, trigger=trigger, outcome="running")
            s.add(run)
            s.flush()
            return run.id

    def finish_run(self, run_id: int, **fields: Any) -> dict[str, Any]:
        with self.sessions.begin() as s:
            run = s.get(TrainingRun, run_id)
            run.finished_at = datetime.now(UTC)
            started = run.started_at if run.started_at.tzinfo else run.started_at.replace(tzinfo=UTC)
            run.duration_s = (run.finished_at - started).total_seconds()
            for key, value in fields.items():
                setattr(run, key, value)
            out = run_dict(run)
        self.version_seen += 1
        return out

    def training_history(self, limit: int = 10, name: str | None = None) -> list[dict[str, Any]]:
        stmt = select(TrainingRun).order_by(TrainingRun.started_at.desc(), TrainingRun.id.desc()).limit(limit)
        if name:
            stmt = stmt.where(TrainingRun.model_name == name)
        with self.sessions() as s:
            return [run_dict(r) for r in s.scalars(stmt)]
