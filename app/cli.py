"""Operator commands: `python -m app.cli COMMAND`, see `--help`.

`init-db` creates or upgrades the database (the platform also does it at every start).
`backup` writes a consistent copy of the embedded database while the platform runs (SQLite's online backup
API copies page by page under a read lock, so writers are delayed, never corrupted) into
IAQ_DATA_DIR/backups/, with progress on the terminal.
`migrate-store --to influxdb|sql` copies every reading from one time-series store to the other, with
progress, resuming where an interrupted run stopped (docs/influxdb.md).
`restore FILE` puts a backup back in place of the database, with the platform stopped; the database it
replaces is kept beside it (iaqverse.db.before-restore-<time>), so a wrong restore can be undone.
`create-user NAME --role ROLE [--site S ...]` makes an account and prints its password (asked for on a
terminal, generated otherwise); `create-token --user NAME` prints a personal access token of that user;
`create-api-key --site NAME` prints a device key for that site (for scripts, gateways and the simulator's
`--api-key`). Each secret is printed once; only its hash is stored. The platform may be running.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from app.core.db.migrate import upgrade_to_head
from app.core.settings import Settings
from app.runtime import build_accounts, build_storage, time_series_store


def init_db(settings: Settings) -> int:
    engine = build_storage(settings).engine
    upgrade_to_head(engine)
    engine.dispose()
    print(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    return 0


def backup(settings: Settings, target: Path | None = None) -> int:
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        print(
            "DATABASE_URL points to a server database: back it up with its own tools (e.g. pg_dump)",
            file=sys.stderr,
        )
        return 2
    source = settings.data_dir / "iaqverse.db"
    if not source.exists():
        print(f"no database at {source}: nothing to back up", file=sys.stderr)
        return 1
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = target or settings.data_dir / "backups" / f"iaqverse-{stamp}.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def progress(_status: int, remaining: int, total: int) -> None:
        done = total - remaining
        print(f"\rbacking up: {done}/{total} pages ({100 * done // max(total, 1)} %)", end="", flush=True)

    with sqlite3.connect(source, timeout=30) as src, sqlite3.connect(target) as dst:
        src.backup(dst, pages=1024, progress=progress)
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
    print(
        f"\nbackup written to {target} ({target.stat().st_size // 1024} KiB, "
        f"{time.monotonic() - started:.1f} s, integrity {check})"
    )
    return 0 if check == "ok" else 1


def _platform_answers(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.port}/health", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, if only to say it is degraded
    except OSError:
        return False


def restore(settings: Settings, source: Path, *, yes: bool = False) -> int:
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        print("DATABASE_URL points to a server database: restore it with its own tools", file=sys.stderr)
        return 2
    if not source.is_file():
        print(f"no backup at {source}", file=sys.stderr)
        return 1
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as db:
        try:
            check = db.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            check = str(exc)
    if check != "ok":
        print(f"{source} is not a sound database ({check}); nothing was changed", file=sys.stderr)
        return 1
    if _platform_answers(settings):
        print(f"the platform answers on port {settings.port}: stop it before restoring", file=sys.stderr)
        return 1
    target = settings.ensure_data_dir() / "iaqverse.db"
    if not yes:
        answer = input(f"Replace {target} with {source}? The current database is kept aside. [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("nothing was changed")
            return 1
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    kept = target.with_name(f"iaqverse.db.before-restore-{stamp}")
    if target.exists():
        with sqlite3.connect(target) as current, sqlite3.connect(kept) as copy:
            current.backup(copy)  # folds the write-ahead log in: the kept copy is complete
        for leftover in (target, target.with_name("iaqverse.db-wal"), target.with_name("iaqverse.db-shm")):
            leftover.unlink(missing_ok=True)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    print(
        f"restored {source} into {target}" + (f"; the previous database is {kept}" if kept.exists() else "")
    )
    return 0


def migrate_store(
    settings: Settings, to: str, *, restart: bool = False, max_readings: int | None = None
) -> int:
    """Copy the history of readings into the other store (SQL tables <-> InfluxDB)."""
    from app.core.storage.sql import SqlTimeSeriesStore
    from services.store_migration import copy_history

    if not settings.influxdb_url:
        print(
            "set INFLUXDB_URL (and INFLUXDB_TOKEN, INFLUXDB_BUCKET) to the InfluxDB to copy to or from",
            file=sys.stderr,
        )
        return 2
    engine = build_storage(settings).engine
    upgrade_to_head(engine)
    sql = SqlTimeSeriesStore(engine)
    influx = time_series_store(settings.model_copy(update={"influxdb_enabled": True}), engine)
    source, target = (sql, influx) if to == "influxdb" else (influx, sql)
    cursor = settings.data_dir / f"migrate-store-to-{to}.json"
    if restart:
        cursor.unlink(missing_ok=True)
    if to == "influxdb" and not influx.http.ensure_database():
        print(f"InfluxDB at {settings.influxdb_url} cannot be reached; nothing was copied", file=sys.stderr)
        return 1
    started = time.monotonic()
    started_ms = int(time.time() * 1000)

    def progress(done: int, total: int) -> None:
        print(
            f"\rcopying readings to {to}: {done}/{total} ({100 * done // max(total, 1)} %)",
            end="",
            flush=True,
        )

    try:
        result = copy_history(
            source, target, engine, cursor, max_readings=max_readings, progress=progress, until_ms=started_ms
        )
        newer = source.count(None, start_ms=started_ms) if result.done else 0
    finally:
        engine.dispose()
    print(
        f"\ncopied {result.copied} readings in {time.monotonic() - started:.1f} s this time"
        f" ({result.copied_in_all} in all runs of this copy)",
        end="",
    )
    if result.done and newer:
        print(
            f"; {newer} readings arrived while it ran: switch the platform to {to}, then run this again "
            "to copy them (it continues where this run stopped)"
        )
    elif result.done:
        print(
            f"; the history is in {to}. Switch the platform with "
            + ("INFLUXDB_URL set" if to == "influxdb" else "INFLUXDB_ENABLED=0")
            + " and restart it."
        )
    else:
        print(f"; not finished: run the same command again to continue (position kept in {cursor})")


def _accounts(settings: Settings):
    storage = build_storage(settings)  # the platform's own builders: the same database, the same services
    upgrade_to_head(storage.engine)
    accounts, keys = build_accounts(settings, storage.sessions)
    accounts.bootstrap()  # on a fresh database, the first admin as the platform would make it
    return storage.engine, accounts, keys


def _refused(exc: Exception) -> int:
    from app.core.domain.readings import InvalidInput

    message = (
        "; ".join(f"{e.field}: {e.problem}" for e in exc.errors) if isinstance(exc, InvalidInput) else exc
    )
    print(f"error: {message}", file=sys.stderr)
    return 1


def create_user(settings: Settings, name: str, role: str, sites: list[str] | None) -> int:
    import getpass

    from app.core.passwords import random_password

    ask = sys.stdin.isatty()
    password = getpass.getpass(f"password for {name} (empty: generate one): ") if ask else ""
    generated = not password
    password = password or random_password()
    engine, accounts, _ = _accounts(settings)
    try:
        accounts.create_user_sync(name, role, password, sites or None, actor="cli")
    except Exception as exc:
        return _refused(exc)
    finally:
        engine.dispose()
    where = f" for the sites {', '.join(sites)}" if sites else ""
    print(f"created {name} ({role}{where})" + (f"; password: {password}" if generated else ""))
    return 0


def create_token(settings: Settings, user: str, name: str, days: float | None) -> int:
    engine, accounts, _ = _accounts(settings)
    try:
        secret = accounts.create_token_sync(user, name, days, actor="cli").secret
    except Exception as exc:
        return _refused(exc)
    finally:
        engine.dispose()
    print(secret)
    return 0


def create_api_key(settings: Settings, site: str, name: str) -> int:
    engine, _, keys = _accounts(settings)
    try:
        secret = keys.create_sync(site, name, actor="cli", new_site_timezone=settings.default_timezone).secret
    except Exception as exc:
        return _refused(exc)
    finally:
        engine.dispose()
    print(secret)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description="IAQverse operator commands")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init-db", help="create or upgrade the database")
    backup_cmd = sub.add_parser("backup", help="write a consistent copy of the embedded database")
    backup_cmd.add_argument(
        "--to", type=Path, help="target file (default: IAQ_DATA_DIR/backups/iaqverse-<time>.db)"
    )
    restore_cmd = sub.add_parser("restore", help="put a backup back in place (the platform must be stopped)")
    restore_cmd.add_argument("file", type=Path, help="a file written by `backup`")
    restore_cmd.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    migrate_cmd = sub.add_parser("migrate-store", help="copy every reading to the other time-series store")
    migrate_cmd.add_argument(
        "--to", choices=["influxdb", "influx", "sql", "sqlite"], required=True, help="the target store"
    )
    migrate_cmd.add_argument("--restart", action="store_true", help="start over instead of continuing")
    migrate_cmd.add_argument("--max", type=int, default=None, help="copy at most this many readings now")
    user_cmd = sub.add_parser("create-user", help="make an account (prints a generated password)")
    user_cmd.add_argument("name")
    user_cmd.add_argument("--role", required=True, choices=("viewer", "operator", "admin"))
    user_cmd.add_argument("--site", action="append", help="limit the account to this site (repeatable)")
    token_cmd = sub.add_parser("create-token", help="print a new personal access token of a user")
    token_cmd.add_argument("--user", required=True)
    token_cmd.add_argument("--name", default="cli", help="what the token is for")
    token_cmd.add_argument("--days", type=float, help="expires after this many days (default: never)")
    key_cmd = sub.add_parser("create-api-key", help="print a new device key for a site")
    key_cmd.add_argument("--site", required=True)
    key_cmd.add_argument("--name", default="device", help="which device or gateway uses it")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "create-user":
        return create_user(settings, args.name, args.role, args.site)
    if args.command == "create-token":
        return create_token(settings, args.user, args.name, args.days)
    if args.command == "create-api-key":
        return create_api_key(settings, args.site, args.name)
    if args.command == "init-db":
        return init_db(settings)
    if args.command == "migrate-store":
        to = {"influx": "influxdb", "sqlite": "sql"}.get(args.to, args.to)
        return migrate_store(settings, to, restart=args.restart, max_readings=args.max)
    if args.command == "restore":
        return restore(settings, args.file, yes=args.yes)
    return backup(settings, args.to)


if __name__ == "__main__":
    sys.exit(main())
