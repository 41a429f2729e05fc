"""Which stored unit (and so which runs) a unit found on disk is: by path, else by fingerprint.

Why: see `identity`. For each unit `ingest` finds, in order:

1. its path is known: the same unit (grown, unchanged, or rewritten: `identity.unchanged_since`);
2. its fingerprint matches a stored unit whose file is gone, or is this very file reached another way
   (symlink, other mount, relative path): the unit was *moved*; its row takes the new path and the
   read carries on from its offset (nothing unchanged is read again, no new run);
3. it matches a stored unit whose file still exists elsewhere: a *copy*. Compared byte for byte with
   that file:
   - equal, or a prefix of it: already stored; reported, not read (a `copy_of` row remembers it);
   - that file is a prefix of the copy (the copy kept growing): the copy is the same run carrying on,
     the row moves to it and the read carries on; the older copy is then "already stored";
   - they differ inside the shorter one (both went on differently): a run of its own (a fork), said
     in one line;
   run folders identified by their tool's ids (MLflow, Sacred, W&B files) compare by size instead;
   with `as_copy` a copy is always stored as runs of its own;
4. otherwise it is new: a run folder's unit joins the run already read from that folder (by another
   unit), else it gets a new identity from its fingerprint.

Stores written before 0006 have rows without fingerprints: those get one the next time their file
is read, and a unit moved before that is matched by name, size and modification time (what `mv`
keeps).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openrlb_cli.ingest import identity, layout, registry
from openrlb_cli.ingest.identity import Fingerprint
from openrlb_cli.store.store import _FILE_COLUMNS, file_row

if TYPE_CHECKING:
    from openrlb_cli.ingest.pipeline import Unit
    from openrlb_cli.store import Store

# Stored units of one name compared with a new file shorter than identity.HEAD (their fingerprints
# cover different lengths, so no index finds them): at most this many, to bound the cost.
SHORT_ROWS = 200


@dataclass
class Resolution:
    prior: dict[str, Any] | None  # the stored row this unit continues (already at the unit's path)
    ident: str | None  # external_id (prefix) of its runs; None: the reader's own ids
    run_dir: str | None
    fp: Fingerprint | None
    restart: bool = False  # rewritten: read again from the start, replacing what the unit stored
    copy_of: str | None = None  # already stored from this path: nothing to read
    fork_of: str | None = None  # a copy that differs from the unit stored from this path


@dataclass
class Resolver:
    store: Store
    as_copy: bool = False
    copies: list[tuple[str, str, str]] = field(default_factory=list)  # (path, stored path, ident)
    warnings: list[str] = field(default_factory=list)
    _dir_ident: dict[str, str] = field(default_factory=dict)  # run folder -> ident, this ingest
    _new: dict[str, tuple[Unit, str]] = field(default_factory=dict)  # fingerprint -> (unit, ident), this ingest
    # The run fields a file's place gives it (layout, benchmark tree, this ingest's options): two files
    # with the same bytes whose places say different runs (Tianshou ships one npg file for 9 envs;
    # `Hopper-v3/sac/log.csv` beside `Hopper-v3/td3/log.csv`) are two runs, not a copy.
    implied: Callable[[Path, Path], dict[str, Any]] | None = None

    def resolve(self, unit: Unit, size: int, mtime: float) -> Resolution:
        spec = registry.spec(unit.fmt)  # feeds the one run of its folder, or the runs of the file itself
        run_dir = str(layout.run_identity_dir(unit.run_dir)) if spec.per_directory else None
        prior = self.store.file_state(unit.key)
        if spec.keeps_identity:
            return Resolution(prior, None, None, None, restart=bool(prior and size < prior["offset"]))
        if prior is not None and prior["copy_of"] is None and prior["format"] == unit.fmt:
            return self._known(unit, prior, size, mtime, run_dir)
        fp = identity.fingerprint(unit.fmt, unit.paths)
        if prior is not None and prior["copy_of"] is not None:
            if (prior["size"], prior["mtime"]) == (size, mtime) and not self.as_copy:
                self.copies.append((unit.key, prior["copy_of"], prior["ident"]))
                return Resolution(None, prior["ident"], run_dir, fp, copy_of=prior["copy_of"])
        if prior is not None:  # a copy that changed, or a file now read as another format: decide again
            self.store.conn.execute("DELETE FROM ingest_files WHERE path = ?", (unit.key,))
        found = self._match(unit, fp, size, mtime, run_dir)
        if found is not None:
            return found
        if spec.per_directory and run_dir is not None:
            ident = self._dir_ident.get(run_dir) or self._run_at_dir(run_dir)
            if ident is None:
                ident = self._fresh(fp, unit.key)
            self._dir_ident[run_dir] = ident
        else:
            ident = self._fresh(fp, unit.key)
        if fp is not None:
            self._new.setdefault(fp.head_hash, (unit, ident))
        return Resolution(None, ident, run_dir, fp)

    # ------------------------------------------------------------------ a known path
    def _known(self, unit: Unit, prior: dict[str, Any], size: int, mtime: float, run_dir: str | None) -> Resolution:
        ident = prior["ident"] or prior["path"]
        if run_dir is not None:
            self._dir_ident.setdefault(run_dir, ident)
        fp = None
        if prior["head_hash"] is None:  # a row from before 0006: fingerprint it now, once
            fp = identity.fingerprint(unit.fmt, unit.paths)
            if fp is not None:
                self.store.conn.execute(
                    "UPDATE ingest_files SET name = ?, head_len = ?, head_hash = ?, ident = ?, run_dir = ?, "
                    "body_hash = ? WHERE path = ?",
                    (fp.name, fp.head_len, fp.head_hash, ident, run_dir, fp.body_hash, unit.key))
        elif prior["body_hash"] is None and prior["head_len"] not in (None, identity.ID_BASED):
            # a row from before 0009: the hash of the same bytes without the name, once (if unchanged)
            body = identity.body_hash(unit.paths[0], prior["name"], prior["head_len"], prior["head_hash"])
            if body is not None:
                self.store.conn.execute("UPDATE ingest_files SET body_hash = ? WHERE path = ?", (body, unit.key))
        if (prior["size"], prior["mtime"]) == (size, mtime):
            return Resolution(prior, ident, run_dir, fp)
        restart = size < prior["offset"]
        if not restart and prior["checks"]:
            restart = not identity.unchanged_since(unit.fmt, unit.paths, prior["checks"])
        if restart and prior["offset"] > 0 and size >= prior["offset"]:
            self.warnings.append(f"{unit.key}: rewritten since the last ingest; read again from its start")
        return Resolution(prior, ident, run_dir, fp, restart=restart)

    # ------------------------------------------------------------------ an unknown path
    def _candidates(self, unit: Unit, fp: Fingerprint, size: int, mtime: float) -> list[dict[str, Any]]:
        conn = self.store.conn
        rows = [file_row(r) for r in conn.execute(
            f"SELECT {_FILE_COLUMNS} FROM ingest_files WHERE head_hash = ? AND format = ? AND path != ?",
            (fp.head_hash, unit.fmt, unit.key))]
        if fp.head_len != identity.ID_BASED:
            # fingerprints of files shorter than identity.HEAD cover fewer bytes: compare prefixes
            short = [file_row(r) for r in conn.execute(
                f"SELECT {_FILE_COLUMNS} FROM ingest_files WHERE name = ? AND format = ? AND head_len >= 0 "
                "AND head_len != ? AND (head_len < ? OR ? < ?) AND path != ? LIMIT ?",
                (fp.name, unit.fmt, fp.head_len, fp.head_len, fp.head_len, identity.HEAD, unit.key, SHORT_ROWS))]
            if short:
                head = _first_bytes(unit.paths[0], fp.head_len)
                for r in short:
                    if r["head_len"] < fp.head_len:
                        if identity.prefix_hash(fp.name, head, r["head_len"]) == r["head_hash"]:
                            rows.append(r)
                    elif _first_bytes(_row_file(r), fp.head_len) == head:  # this file is the shorter one
                        rows.append(r)
        legacy_name = registry.spec(unit.fmt).group or fp.name
        rows += [file_row(r) for r in conn.execute(
            f"SELECT {_FILE_COLUMNS} FROM ingest_files WHERE head_hash IS NULL AND name = ? AND format = ? "
            "AND size = ? AND mtime = ? AND path != ?", (legacy_name, unit.fmt, size, mtime, unit.key))]
        return [r for r in rows if r["copy_of"] is None]

    def _match(self, unit: Unit, fp: Fingerprint | None, size: int, mtime: float,
               run_dir: str | None) -> Resolution | None:
        if fp is None:
            return None
        rows = self._candidates(unit, fp, size, mtime)
        here = unit.paths[0]
        # moved (its file is gone) or the same file by another path: carry on where it was
        for row in sorted(rows, key=lambda r: (r["size"], r["mtime"]) != (size, mtime)):
            there = _row_file(row)
            if not there.exists() or _same_file(there, here):
                return self._adopt(unit, row, size, mtime, run_dir)
        renamed = self._renamed(unit, fp, size, mtime)
        if renamed is not None:
            self.store.conn.execute("UPDATE ingest_files SET name = ?, head_hash = ? WHERE path = ?",
                                    (fp.name, fp.head_hash, renamed["path"]))
            return self._adopt(unit, renamed, size, mtime, run_dir)
        if self.as_copy:
            return None
        rows = [r for r in rows if self._same_place_fields(unit, _row_file(r), r["run_dir"])]
        for row in rows:
            verdict = self._compare(unit, row, size)
            if verdict == "stored":
                return self._stored(unit, row["path"], row["ident"] or row["path"], row["run_id"], fp, size, mtime,
                                    run_dir)
            if verdict == "continues":
                return self._adopt(unit, row, size, mtime, run_dir)
            self.warnings.append(f"{unit.key}: begins as the unit stored from {row['path']} but differs from it "
                                 f"(the copies went on differently): stored as a run of its own")
            ident = identity.salted(fp, unit.key)
            if run_dir is not None:
                self._dir_ident[run_dir] = ident
            return Resolution(None, ident, run_dir, fp, fork_of=row["path"])
        twin = self._new.get(fp.head_hash)
        if (twin is not None and twin[0].fmt == unit.fmt and _same_content(twin[0], unit)
                and self._same_place_fields(unit, twin[0].paths[0], str(twin[0].run_dir))):
            return self._stored(unit, twin[0].key, twin[1], None, fp, size, mtime, run_dir)
        return None

    def _renamed(self, unit: Unit, fp: Fingerprint, size: int, mtime: float) -> dict[str, Any] | None:
        """The stored unit this file was before it was renamed: the same first bytes under another
        name, its file gone (a file of that content still in place makes this one a copy instead, which
        the name-and-bytes look-up decides). Files only; run folders are found by their tools' ids."""
        if fp.body_hash is None or unit.paths[0].is_dir() or registry.spec(unit.fmt).group:
            return None
        rows = [file_row(r) for r in self.store.conn.execute(
            f"SELECT {_FILE_COLUMNS} FROM ingest_files WHERE body_hash = ? AND head_len = ? AND format = ? "
            "AND name != ? AND path != ? AND copy_of IS NULL",
            (fp.body_hash, fp.head_len, unit.fmt, fp.name, unit.key))]
        gone = [r for r in rows if not _row_file(r).exists()]
        here = unit.paths[0].parent
        # byte-identical logs in several folders (Tianshou ships one file for 9 envs) all renamed: each
        # takes the row of its own folder, else of a place implying the same run fields
        gone.sort(key=lambda r: (_row_file(r).parent != here,
                                 not self._same_place_fields(unit, _row_file(r), r["run_dir"]),
                                 (r["size"], r["mtime"]) != (size, mtime), r["size"] > size, r["path"]))
        return gone[0] if gone else None

    def _same_place_fields(self, unit: Unit, there: Path, there_dir: str | None) -> bool:
        """Whether the place of a stored file implies the same run fields as `unit`'s place."""
        if self.implied is None:
            return True
        here = self.implied(unit.paths[0], unit.run_dir)
        other = self.implied(there, Path(there_dir) if there_dir else there.parent)
        return here == other

    def _compare(self, unit: Unit, row: dict[str, Any], size: int) -> str:
        """'stored', 'continues' or 'fork': how a copy relates to the unit stored from `row`."""
        there = _row_file(row)
        if row["head_len"] == identity.ID_BASED or registry.spec(unit.fmt).group or unit.paths[0].is_dir():
            return "continues" if size > row["size"] else "stored"
        try:
            theirs = there.stat().st_size
        except OSError:
            return "fork"
        if not identity.same_bytes(unit.paths[0], there, min(size, theirs)):
            return "fork"
        return "stored" if size <= theirs else "continues"

    def _adopt(self, unit: Unit, row: dict[str, Any], size: int, mtime: float, run_dir: str | None) -> Resolution:
        """The stored unit of `row` is this one, now at the unit's path."""
        self.store.conn.execute("UPDATE ingest_files SET path = ?, run_dir = ? WHERE path = ?",
                                (unit.key, run_dir, row["path"]))
        if row["ident"] is None:
            self.store.conn.execute("UPDATE ingest_files SET ident = path WHERE path = ?", (unit.key,))
        prior = self.store.file_state(unit.key)
        assert prior is not None
        return self._known(unit, prior, size, mtime, run_dir)

    def _stored(self, unit: Unit, there: str, ident: str, run_id: int | None, fp: Fingerprint, size: int,
                mtime: float, run_dir: str | None) -> Resolution:
        self.store.set_file_state(unit.key, run_id=run_id, fmt=unit.fmt, size=size, mtime=mtime, offset=size,
                                  ident=ident, run_dir=run_dir, name=fp.name, head_len=fp.head_len,
                                  head_hash=fp.head_hash, checks=None, copy_of=there, body_hash=fp.body_hash)
        self.copies.append((unit.key, there, ident))
        return Resolution(None, ident, run_dir, fp, copy_of=there)

    # ------------------------------------------------------------------ new identities
    def _run_at_dir(self, run_dir: str) -> str | None:
        """The identity of the run already read from this folder: by one of its units, or a run keyed
        by the folder's path with no unit yet (what `openrlb track` makes before its first ingest)."""
        row = self.store.conn.execute(
            "SELECT ident FROM ingest_files WHERE run_dir = ? AND ident IS NOT NULL AND copy_of IS NULL LIMIT 1",
            (run_dir,)).fetchone()
        if row is not None:
            return str(row[0])
        row = self.store.conn.execute(
            "SELECT r.external_id FROM runs r WHERE r.source = 'local' AND r.external_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM ingest_files f WHERE f.run_id = r.id)", (run_dir,)).fetchone()
        return None if row is None else str(row[0])

    def _fresh(self, fp: Fingerprint | None, key: str) -> str:
        ident = identity.new_ident(fp, key)
        taken = self.store.conn.execute(
            "SELECT 1 FROM runs WHERE source = 'local' AND (external_id = ? OR substr(external_id, 1, ?) = ?) LIMIT 1",
            (ident, len(ident) + 1, ident + "#")).fetchone()
        if taken is not None or any(i == ident for _, i in self._new.values()) or ident in self._dir_ident.values():
            ident = identity.salted(fp, key)
        return ident


def _row_file(row: dict[str, Any]) -> Path:
    """The file (or folder) a stored unit row was read from: a group's (monitor files') first file."""
    path = Path(row["path"])
    if path.name in {s.group for s in registry.specs() if s.group}:
        return path.parent / row["name"] if row["name"] and row["name"] != path.name else path.parent
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _first_bytes(path: Path, n: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _same_content(a: Unit, b: Unit) -> bool:
    """Two units found in one ingest hold the same bytes (a copy beside its original)."""
    if a.paths[0].is_dir() or b.paths[0].is_dir() or len(a.paths) != len(b.paths):
        return False
    for x, y in zip(a.paths, b.paths, strict=True):
        try:
            n = x.stat().st_size
            if y.stat().st_size != n or not identity.same_bytes(x, y, n):
                return False
        except OSError:
            return False
    return True


def copies_summary(store: Store, copies: list[tuple[str, str, str]]) -> list[tuple[str, str, int]]:
    """(folder read, folder stored from, runs) for units found to be copies of stored ones: the
    paths stripped of their common tail, so a copied folder of 21 runs is one line."""
    groups: dict[tuple[str, str], set[str]] = {}
    for path, there, ident in copies:
        a, b = Path(path).parts, Path(there).parts
        k = 0
        while k < min(len(a), len(b)) - 1 and a[-1 - k] == b[-1 - k]:
            k += 1
        groups.setdefault((str(Path(*a[: len(a) - k])), str(Path(*b[: len(b) - k]))), set()).add(ident)
    out = []
    for (here, there), idents in groups.items():
        n = 0
        for ident in idents:
            n += store.conn.execute(
                "SELECT count(*) FROM runs WHERE source = 'local' AND "
                "(external_id = ? OR substr(external_id, 1, ?) = ?)",
                (ident, len(ident) + 1, ident + "#")).fetchone()[0]
        out.append((here, there, n))
    return out
