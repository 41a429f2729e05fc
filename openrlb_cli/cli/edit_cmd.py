"""`openrlb set`: fix the metadata of stored runs; later ingests and syncs keep the fix."""

from __future__ import annotations

import sys

import typer

from openrlb_cli.cli.context import app, info, open_store, print_json
from openrlb_cli.cli.runs_cmd import FILTERS_HELP, select_targets
from openrlb_cli.errors import InputError

SHOWN_CHANGES = 20


def _seed(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise InputError(f"--seed must be an integer (or '' to clear it), got {text!r}") from None


@app.command("set")
def set_cmd(
    targets: list[str] = typer.Argument(..., help="Run uids, or filters. " + FILTERS_HELP),
    project: str | None = typer.Option(None, "--project", help="New project."),
    experiment: str | None = typer.Option(None, "--experiment", help="New experiment ('' clears it)."),
    env: str | None = typer.Option(None, "--env", help="New environment id ('' clears it)."),
    seed: str | None = typer.Option(None, "--seed", help="New seed ('' clears it)."),
    name: str | None = typer.Option(None, "--name", help="New run name ('' clears it)."),
    add_tag: list[str] = typer.Option(None, "--add-tag", "--tag", help="Tag to add (repeatable)."),
    remove_tag: list[str] = typer.Option(None, "--remove-tag", "--untag", help="Tag to remove (repeatable)."),
    note: str | None = typer.Option(None, "--note", help="Free-text note shown by `show` ('' clears it)."),
    reset: list[str] = typer.Option(
        None, "--reset",
        help="Hand a field (experiment, env, seed, project, name, tags) back to ingest/sync: "
        "the next ingest or sync of the run sets it again (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; change nothing."),
    json_out: bool = typer.Option(False, "--json", help="Print the changes as JSON."),
) -> None:
    """Fix the metadata of the selected runs: experiment, env, seed, project, name, tags, note.

    The fields you set are the user's from then on: re-ingesting the logs or syncing the source keeps
    them (and tags you removed stay removed) until `--reset FIELD`.
    """
    from openrlb_cli.store.edits import Edit, changes, edit_runs

    fields: dict[str, object] = {}
    for key, value in (("project", project), ("experiment", experiment), ("env", env), ("name", name)):
        if value is not None:
            fields[key] = value or None
    if seed is not None:
        fields["seed"] = _seed(seed)
    edit = Edit(fields, list(add_tag or []), list(remove_tag or []), note, list(reset or []))
    if edit.is_empty():
        raise InputError("nothing to set: give --experiment, --env, --seed, --project, --name, --add-tag, "
                         "--remove-tag, --note or --reset")
    try:
        edit.validate()
    except InputError as exc:
        raise InputError(f"{exc} (--reset takes a field name)" if edit.reset else str(exc),
                         option=exc.options) from None
    with open_store() as store:
        runs = select_targets(store, targets)
        found = changes(runs, edit)
        if not dry_run:
            edit_runs(store, [r.id for r in runs], edit)
    if json_out:
        print_json({"runs": len(runs), "dry_run": dry_run,
                    "changes": [c.__dict__ for c in found], "reset": edit.reset})
        return
    verb = "would change" if dry_run else "changed"
    runs_changed = len({c.uid for c in found})
    groups: dict[tuple[str, str], list[str]] = {}
    for c in found:
        what = f"tags: {c.new or c.old}" if c.field == "tags" else f"{c.field}: {_shown(c.old)} -> {_shown(c.new)}"
        groups.setdefault((c.field, what), []).append(c.uid)
    lines = [f"{what}  ({len(uids)} run{'s' if len(uids) > 1 else ''}: {', '.join(uids[:3])}"
             f"{', ...' if len(uids) > 3 else ''})" for (_, what), uids in list(groups.items())[:SHOWN_CHANGES]]
    if len(groups) > SHOWN_CHANGES:
        lines.append(f"... and {len(groups) - SHOWN_CHANGES} more")
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    info(f"{verb} {runs_changed} of {len(runs)} selected runs"
         + (f"; {', '.join(edit.reset)} handed back to ingest/sync" if edit.reset else "")
         + ("" if dry_run or not (fields or edit.add_tags or edit.remove_tags)
            else "; later ingests and syncs keep these fields"))


def _shown(value: object) -> str:
    return "(none)" if value is None else repr(value) if isinstance(value, str) else str(value)
