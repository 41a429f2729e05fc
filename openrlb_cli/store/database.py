"""Opening a store: the SQLite file, its pragmas, and schema migrations applied from SQL files.

The schema is data: numbered `NNNN_name.sql` files in `migrations/` (shipped inside the package as
`openrlb_cli/migrations`). Each file becomes one sqlite-utils migration, applied in order inside a
transaction and recorded in `_sqlite_migrations`. A store that has a migration this build does not
know was written by a newer openrlb and is refused rather than silently misread.

The store is a plain `sqlite3.Connection`: which migrations are applied is read with one query, and
sqlite-utils (which pulls in pandas/numpy-sized import time) is imported only when some are pending,
so `openrlb info`/`runs`/`show` start in a fraction of a second.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openrlb_cli.errors import StoreError

if TYPE_CHECKING:
    from sqlite_utils.migrations import Migrations

MIGRATION_SET = "openrlb"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 30_000
PAGE_SIZE = 16_384


def migrations_dir() -> Path:
    """The migrations shipped in the wheel, or the repository's top-level folder in a checkout."""
    packaged = Path(__file__).resolve().parent.parent / "migrations"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "migrations"
    if checkout.is_dir():
        return checkout
    raise StoreError("openrlb is installed without its migrations/ folder; reinstall the package")


def migration_files() -> list[Path]:
    files = sorted(p for p in migrations_dir().iterdir() if _MIGRATION_NAME.match(p.name))
    numbers = [int(p.name[:4]) for p in files]
    if numbers != list(range(1, len(numbers) + 1)):
        raise StoreError(f"migrations must be numbered 0001, 0002, ... without gaps, found {numbers}")
    return files


def split_sql(script: str) -> list[str]:
    """Split a SQL script into complete statements (executescript would commit mid-transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in current.splitlines()
    ):
        raise StoreError("migration ends with an incomplete SQL statement")
    return statements


def build_migrations() -> Migrations:
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(MIGRATION_SET)
    for path in migration_files():
        statements = split_sql(path.read_text(encoding="utf-8"))

        def apply(db: Any, _statements: list[str] = statements) -> None:
            for statement in _statements:
                db.execute(statement)

        migrations(name=path.stem)(apply)
    return migrations


def default_db_path() -> Path:
    """`$OPENRLB_DB`, else `$XDG_DATA_HOME/openrlb/openrlb.db` (~/.local/share by default)."""
    env = os.environ.get("OPENRLB_DB")
    if env:
        return Path(env).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "openrlb" / "openrlb.db"


def connect(path: str | Path, *, create: bool = True) -> sqlite3.Connection:
    """Open (and if needed create and migrate) the store at `path`."""
    path = Path(path).expanduser()
    if not path.exists():
        if not create:
            raise StoreError(f"no store at {path} (run `openrlb ingest` or `openrlb fetch` first)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store's folder {path.parent}: {exc.strerror}") from exc
    elif path.is_dir():
        raise StoreError(f"{path} is a directory, not a store file")
    conn = None
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Points live in BLOBs of up to 6 MiB: 16 KiB pages make their overflow chains 4x shorter
        # (a bulk load ~1.1-1.5x faster) while a small commit still writes few bytes (64 KiB pages
        # made ingesting 300 small runs 1.7x slower).  Only takes effect on a new, empty file.
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            # e.g. a read-only directory; still usable for reading
            pass
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(conn)
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise StoreError(f"cannot open the store {path}: {exc}") from exc
    return conn


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the applied migrations of our set, in order (the table sqlite-utils keeps)."""
    exists = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlite_migrations'"
    if conn.execute(exists).fetchone() is None:
        return []
    return [name for (name,) in conn.execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY rowid", (MIGRATION_SET,))]


def _import_sqlite_utils() -> Any:
    """sqlite_utils, imported without pandas.

    Why: sqlite_utils imports pandas if it can (~0.35 s, a third of ingesting 1,000 event files
    into a new store) only to accept DataFrame types in inserts, which we never use: migrations
    need none of it.  Hiding pandas while sqlite_utils loads leaves its optional pandas support
    off; pandas itself imports normally afterwards."""
    import sys

    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        import sqlite_utils

        return sqlite_utils
    sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` raises ImportError
    try:
        import sqlite_utils
    finally:
        if "pandas" in sys.modules and sys.modules["pandas"] is None:
            del sys.modules["pandas"]
    return sqlite_utils


def _migrate(conn: sqlite3.Connection) -> None:
    known = [p.stem for p in migration_files()]
    applied = applied_migrations(conn)
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise StoreError(
            f"this store was written by a newer openrlb (schema migration {unknown[-1]} is unknown "
            f"to this version); upgrade openrlb to use it"
        )
    if set(known) <= set(applied):
        return
    sqlite_utils = _import_sqlite_utils()

    db = sqlite_utils.Database(conn, execute_plugins=False)
    migrations = build_migrations()
    # One writer migrates; others wait on the lock and then find nothing pending.
    conn.execute("BEGIN IMMEDIATE")
    try:
        migrations.apply(db)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def schema_version(conn: sqlite3.Connection) -> int:
    applied = applied_migrations(conn)
    return max((int(name[:4]) for name in applied if name[:4].isdigit()), default=0)


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front so WAL readers never block us and
    two writers queue on the busy timeout instead of failing on a lock upgrade. Nested inside an
    open transaction it is a savepoint: rolled back alone on error."""
    if conn.in_transaction:
        conn.execute("SAVEPOINT openrlb_nested")
        try:
            yield conn
        except BaseException:
            # SQLite rolls the whole transaction back by itself on some errors (a full disk): then
            # there is no savepoint left to roll back to, and the error to report is the first one
            if conn.in_transaction:
                conn.execute("ROLLBACK TO openrlb_nested")
                conn.execute("RELEASE openrlb_nested")
            raise
        conn.execute("RELEASE openrlb_nested")
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if is_disk_full(exc):
            raise disk_full_error(conn, exc) from exc
        raise StoreError(f"the store is busy (another openrlb is writing): {exc}") from exc
    try:
        yield conn
        conn.commit()
    except BaseException as exc:
        if conn.in_transaction:
            try:
                conn.rollback()
            except sqlite3.Error:
                pass  # the first error is the one to report; SQLite drops the transaction on close
        if isinstance(exc, sqlite3.Error) and is_disk_full(exc):
            raise disk_full_error(conn, exc) from exc
        raise


_SQLITE_FULL = 13  # SQLite's result code; `sqlite3.SQLITE_FULL` (and `sqlite_errorcode`) exist only from Python 3.11


def is_disk_full(exc: sqlite3.Error) -> bool:
    """SQLITE_FULL: the disk (or the store's `max_page_count`) is full."""
    return getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL or "disk is full" in str(exc)


def disk_full_error(conn: sqlite3.Connection, exc: sqlite3.Error) -> StoreError:
    """One plain line: which store, that the disk is full, and that what was committed before is kept."""
    try:
        path = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")
    except sqlite3.Error:
        path = ""
    where = f"store {path}" if path else "the store"
    return StoreError(f"{where} could not be written: the disk is full. This write was rolled back; what was "
                      "committed before is kept. Free some space and rerun to continue")
