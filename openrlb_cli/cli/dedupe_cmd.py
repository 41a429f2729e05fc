"""`openrlb dedupe`: find runs stored twice (logs ingested again after a move) and merge them."""

from __future__ import annotations

import json

import typer

from openrlb_cli.cli.context import app, info, open_store, print_json, state


@app.command("dedupe")
def dedupe_cmd(
    apply_: bool = typer.Option(False, "--apply", help="Merge them (default: only show what would merge)."),
    json_out: bool = typer.Option(False, "--json", help="Print the merges as JSON."),
) -> None:
    """Find local runs stored twice and merge each pair into the run holding every point of both.

    Two runs are one when, on every metric, one's series begins with all the other's points (steps,
    values and wall times equal). Without --apply nothing changes."""
    from openrlb_cli.store import dedupe

    with open_store(create=False) as store:
        report = dedupe.find(store)
        ids = sorted({r for m in report.merges for r in (m.keeper, *m.dropped)}
                     | {r for c in report.conflicts for r in c})
        where = dedupe.locations(store, ids)
        uid = dict(store.conn.execute("SELECT id, uid FROM runs WHERE id IN (SELECT value FROM json_each(?))",
                                      (json.dumps(ids),)).fetchall())
        removed = dedupe.apply(store, report) if apply_ else 0
    if json_out:
        print_json({"applied": apply_, "removed": removed,
                    "merges": [{"keep": {"uid": uid[m.keeper], "path": where.get(m.keeper)},
                                "drop": [{"uid": uid[d], "path": where.get(d)} for d in m.dropped]}
                               for m in report.merges],
                    "conflicts": [[{"uid": uid[r], "path": where.get(r)} for r in c] for c in report.conflicts]})
        return
    verb = "merged" if apply_ else "would merge"
    for m in report.merges:
        for d in m.dropped:
            typer.echo(f"{verb} {uid[d]} ({where.get(d)}) into {uid[m.keeper]} ({where.get(m.keeper)})")
    for a, b in report.conflicts:
        typer.echo(f"left alone: {uid[a]} ({where.get(a)}) and {uid[b]} ({where.get(b)}) begin alike but each "
                   "has points the other lacks")
    n = sum(len(m.dropped) for m in report.merges)
    if not state.quiet:
        if not n:
            info("no run is stored twice")
        elif apply_:
            info(f"removed {removed} duplicate runs; every point is kept in the run merged into")
        else:
            info(f"{n} duplicate runs; run `openrlb dedupe --apply` to merge them")
