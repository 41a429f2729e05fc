"""Run metadata the user fixed (`openrlb set`), and how every writer keeps it.

Why: ingest infers experiment/env/seed from paths and configs, and fetch/sync copy the server's
fields. When the user corrects one (a benchmark tree whose layout was not recognised, a mislabelled
seed, a tag), the next ingest or sync must not undo it. The corrected fields and their values are
recorded in `runs.user_fields` (migration 0008); `apply_user_edits` rewrites any record about to be
written over a stored run so that those fields keep the user's values, user-added tags stay and
user-removed tags do not come back. `Store.upsert_run_created` calls it for every existing run, so
ingest, fetch, sync and track all respect it; writers that update runs with their own SQL call
`Store.apply_user_edits(record)` first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openrlb_cli.errors import InputError

if TYPE_CHECKING:
    from openrlb_cli.model import RunInfo, RunRecord
    from openrlb_cli.store.store import Store

EDITABLE = ("project", "experiment", "env", "seed", "name")
TAGS_ADDED, TAGS_REMOVED = "tags_added", "tags_removed"


def load(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def apply(rec: RunRecord, user: dict[str, Any]) -> RunRecord:
    """`rec` with the user's fields, in place: set fields win, removed tags stay removed."""
    for key in EDITABLE:
        if key in user:
            setattr(rec, key, user[key])
    removed = set(user.get(TAGS_REMOVED, ()))
    tags = [t for t in rec.tags if t not in removed]
    rec.tags = list(dict.fromkeys([*tags, *user.get(TAGS_ADDED, ())]))
    return rec


@dataclass
class Edit:
    """What `openrlb set` changes on each selected run. `fields` maps a field to its new value
    (None clears it); `reset` names fields handed back to inference (ingest and sync set them again)."""

    fields: dict[str, Any] = field(default_factory=dict)
    add_tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    note: str | None = None
    reset: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.fields or self.add_tags or self.remove_tags or self.note is not None or self.reset)

    def validate(self) -> None:
        for key in [*self.fields, *self.reset]:
            if key not in EDITABLE and key != "tags":
                raise InputError(f"{key!r} cannot be set (editable: {', '.join(EDITABLE)}, tags, note)")
        if self.fields.get("project", "") is None:
            raise InputError("a run's project cannot be empty")
        both = set(self.add_tags) & set(self.remove_tags)
        if both:
            raise InputError(f"tag {sorted(both)[0]!r} is both added and removed")


@dataclass
class Change:
    """One field of one run that an edit changes: for the dry run and the summary."""

    uid: str
    field: str
    old: Any
    new: Any


def changes(runs: list[RunInfo], edit: Edit) -> list[Change]:
    out: list[Change] = []
    for r in runs:
        for key, value in edit.fields.items():
            if getattr(r, key) != value:
                out.append(Change(r.uid, key, getattr(r, key), value))
        for t in edit.add_tags:
            if t not in r.tags:
                out.append(Change(r.uid, "tags", None, f"+{t}"))
        for t in edit.remove_tags:
            if t in r.tags:
                out.append(Change(r.uid, "tags", f"-{t}", None))
        if edit.note is not None and r.note != edit.note:
            out.append(Change(r.uid, "note", r.note, edit.note))
    return out


def edit_runs(store: Store, run_ids: list[int], edit: Edit) -> None:
    """Apply `edit` to the runs, in one transaction, and record the fields as the user's."""
    edit.validate()
    with store.transaction():
        rows = store.conn.execute(
            "SELECT id, user_fields FROM runs WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(run_ids),)
        ).fetchall()
        for run_id, text in rows:
            user = load(text)
            for key in edit.reset:
                if key == "tags":
                    user.pop(TAGS_ADDED, None)
                    user.pop(TAGS_REMOVED, None)
                else:
                    user.pop(key, None)
            user.update(edit.fields)
            added = [t for t in user.get(TAGS_ADDED, []) if t not in edit.remove_tags]
            removed = [t for t in user.get(TAGS_REMOVED, []) if t not in edit.add_tags]
            user[TAGS_ADDED] = list(dict.fromkeys([*added, *edit.add_tags]))
            user[TAGS_REMOVED] = list(dict.fromkeys([*removed, *edit.remove_tags]))
            for key in (TAGS_ADDED, TAGS_REMOVED):
                if not user[key]:
                    del user[key]
            sets = {**edit.fields, "user_fields": json.dumps(user, sort_keys=True) if user else None}
            if edit.note is not None:
                sets["note"] = edit.note or None
            store.conn.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?",
                               [*sets.values(), run_id])
        pairs = [(i, t) for i, _ in rows for t in edit.add_tags]
        store.conn.executemany("INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?)", pairs)
        pairs = [(i, t) for i, _ in rows for t in edit.remove_tags]
        store.conn.executemany("DELETE FROM run_tags WHERE run_id = ? AND tag = ?", pairs)


def user_fields(store: Store, run_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The user's fields of each run that has any."""
    return {
        int(i): load(text)
        for i, text in store.conn.execute(
            "SELECT id, user_fields FROM runs WHERE user_fields IS NOT NULL AND id IN (SELECT value FROM json_each(?))",
            (json.dumps(run_ids),),
        )
    }
