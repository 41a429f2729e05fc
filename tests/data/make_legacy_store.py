"""Build `legacy_store_0005.db`: a store written by openrlb at schema 0005 (before content identity).

Run once with that version's code on the path (e.g. `PYTHONPATH=<checkout of 0005> python
tests/data/make_legacy_store.py`). It ingests a few sample runs from `<tmp>/a`, moves the folder to
`<tmp>/b` and ingests again, as users did: every run is stored twice (ids by path). The temporary
root is replaced by `/legacy-root` in the stored paths, which tests replace by their own folder.
File modification times are fixed (`MTIME`) so tests can recreate the files exactly.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parents[1] / "sample_runs"
MTIME = 1_700_100_000.0
FILES = (
    "cleanrl/runs/CartPole-v1__q_learning__1__1700000000/events.out.tfevents.1700000000.samplebox.31000.0",
    "cleanrl/runs/CartPole-v1__q_learning__2__1700003600/events.out.tfevents.1700003600.samplebox.31017.0",
    "sb3/reinforce/CartPole-v1_1/0.monitor.csv",
    "sb3/reinforce/CartPole-v1_1/progress.csv",
    "csv/curves.csv",
)


def lay_out(root: Path) -> None:
    """The sample files under `root`, with fixed modification times."""
    for rel in FILES:
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / rel, dest)
        os.utime(dest, (MTIME, MTIME))


def main() -> None:
    from openrlb_cli.ingest.pipeline import ingest
    from openrlb_cli.store import Store

    out = HERE / "legacy_store_0005.db"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        lay_out(root / "a")
        db = root / "store.db"
        with Store(db) as store:
            ingest(store, [root / "a"])
            (root / "a").rename(root / "b")
            ingest(store, [root / "b"])
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con = sqlite3.connect(db)
        with con:
            for table, col in (("ingest_files", "path"), ("runs", "external_id")):
                con.execute(f"UPDATE {table} SET {col} = replace({col}, ?, '/legacy-root')", (str(root),))
        con.execute("PRAGMA journal_mode = DELETE")
        con.execute("VACUUM")
        con.close()
        shutil.copyfile(db, out)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
