"""`openrlb track`, `openrlb reproduce`, `openrlb diff`: tracked runs and their provenance."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from openrlb_cli.cli.context import app, info, open_store, print_json, warn
from openrlb_cli.errors import InputError

# track.runner (subprocess handling, the ingest pipeline) is imported by the command that runs it;
# this default is checked equal to track.runner.DEFAULT_INTERVAL in tests/test_startup.py.
DEFAULT_INTERVAL = 5.0

_PASSTHROUGH = {"allow_interspersed_args": False, "ignore_unknown_options": True}


def _say(message: str) -> None:
    if message.startswith("warning: "):
        warn(message[len("warning: "):])
    else:
        info(message)


@app.command("track", context_settings=_PASSTHROUGH)
def track_cmd(
    command: list[str] = typer.Argument(
        None, metavar="COMMAND", help="The training command and its arguments, after `--`."),
    project: str | None = typer.Option(None, "--project", help="Project of the run (default: local)."),
    experiment: str | None = typer.Option(
        None, "--experiment", help="Experiment (default: --exp-name/--algo in the command, else the script name)."),
    env: str | None = typer.Option(None, "--env", help="Environment id (default: --env-id/--env in the command)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed (default: --seed in the command)."),
    tag: list[str] = typer.Option(None, "--tag", help="Tag to add (repeatable)."),
    logdir: Path | None = typer.Option(
        None, "--logdir", help="Where the command writes its logs (default: found among the files it creates)."),
    env_var: list[str] = typer.Option(
        None, "--env-var", help="Also record this environment variable (repeatable; secret-looking ones never are)."),
    save_diff: bool = typer.Option(False, "--save-diff", help="Store the uncommitted git diff too, not only its hash."),
    resume_run: str | None = typer.Option(
        None, "--resume", help="Finish a run whose `openrlb track` was killed: ingest its logs, settle its state."),
    interval: float = typer.Option(DEFAULT_INTERVAL, "--interval", help="Seconds between live ingests."),
) -> None:
    """Run a training command as a tracked, reproducible run; its exit code is passed back.

    Records the command, git state, Python, machine and exact package versions, and ingests its logs as it runs.

    Example: openrlb track --tag baseline -- python ppo.py --env-id CartPole-v1 --seed 1
    """
    if interval <= 0:
        raise InputError(f"--interval must be positive, got {interval}")
    from openrlb_cli.track.runner import TrackOptions, resume, track

    with open_store() as store:
        if resume_run is not None:
            if command:
                raise InputError("give either --resume RUN or a command, not both")
            result = resume(store, resume_run, say=_say)
            info(f"run {result.uid}: {result.state}; {result.points:,} new points"
                 + (f" from {result.logdir}" if result.logdir else ""))
            return
        options = TrackOptions(project=project, experiment=experiment, env=env, seed=seed, tags=list(tag or []),
                               logdir=logdir, env_vars=list(env_var or []), save_diff=save_diff, interval=interval)
        result = track(store, list(command or []), options, say=_say)
    for message in result.warnings:
        warn(message)
    where = f" from {result.logdir}" if result.logdir else "; no log directory found (pass --logdir)"
    info(f"run {result.uid} {result.state} (exit code {result.exit_code}); {result.points:,} points{where}")
    if result.exit_code:
        raise typer.Exit(result.exit_code)


@app.command("reproduce")
def reproduce_cmd(
    run: str = typer.Argument(..., help="Run uid (or unique prefix), id or name."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write the pinned requirements here (default: append them to the output)."),
    patch: bool = typer.Option(False, "--patch", help="Print only the uncommitted diff saved with --save-diff."),
) -> None:
    """How to rerun a tracked run: git checkout, environment, variables, command, requirements."""
    from openrlb_cli.track.records import require_provenance
    from openrlb_cli.track.reproduce import write_reproduce

    with open_store() as store:
        if patch:
            prov = require_provenance(store, store.get_run(run))
            if prov.diff is None:
                raise InputError(f"run {run} has no saved diff (the tree was clean, or --save-diff was not given)")
            sys.stdout.write(prov.diff)
            return
        text = write_reproduce(store, run, output)
    sys.stdout.write(text)
    if output is not None:
        info(f"wrote the requirements to {output}")


@app.command("diff")
def diff_cmd(
    run_a: str = typer.Argument(..., help="First run."),
    run_b: str = typer.Argument(..., help="Second run."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Differences in config, command, git commit, Python and package versions between two runs."""
    from openrlb_cli.track.reproduce import diff_runs, format_diff

    with open_store() as store:
        diff = diff_runs(store, run_a, run_b)
    if json_out:
        print_json(diff)
    else:
        sys.stdout.write(format_diff(diff))
