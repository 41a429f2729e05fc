"""Run metadata from well-known directory layouts, so users rarely have to type it.

- CleanRL: `runs/{env_id}__{exp_name}__{seed}__{unix_time}/` (TensorBoard events inside); its
  `hyperparameters` text summary is a markdown table of the full config.
- RL Zoo: `logs/{algo}/{EnvId}_{n}/` with `{EnvId}/args.yml` and `config.yml`, and its TensorBoard
  layout `logs/tensorboard/{EnvId}/{ALGO}_{n}/`.
- SB3 monitor headers carry `env_id` (handled by the monitor reader).
Anything found here is overridden by explicit command-line options.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from openrlb_cli.model import RunRecord

_CLEANRL = re.compile(r"^(?P<env>.+?)__(?P<exp>.+?)__(?P<seed>-?\d+)__(?P<time>\d{9,11})$")
_ZOO_RUN = re.compile(r"^(?P<env>[A-Za-z0-9][\w\-/.]*?-v\d+)_(?P<n>\d+)$")
_ZOO_TB = re.compile(r"^(?P<algo>[A-Za-z0-9]+)_(?P<n>\d+)$")
_ENV_ID = re.compile(r"^[A-Za-z][\w.]*-v\d+$")

# config keys that name the experiment, environment and seed, in order of preference
EXPERIMENT_KEYS = ("exp_name", "experiment", "experiment_name", "exp", "algo", "algo_name", "algorithm")
ENV_KEYS = ("env_id", "env", "env_name", "environment", "task", "task_name", "game", "game_name")
SEED_KEYS = ("seed", "random_seed")


def infer_from_path(run_dir: Path) -> dict[str, Any]:
    """Fields implied by the directory a run lives in (nearest matching component wins)."""
    found: dict[str, Any] = {}
    m = _CLEANRL.match(run_dir.name)
    if m:
        found.update(env=m["env"], experiment=m["exp"], seed=int(m["seed"]), created_at=float(m["time"]))
        return found
    m = _ZOO_RUN.match(run_dir.name)
    if m:
        found.update(env=m["env"], experiment=run_dir.parent.name.lower())
        zoo = _read_zoo(run_dir, m["env"])
        found.update({k: v for k, v in zoo.items() if v is not None})
        return found
    m = _ZOO_TB.match(run_dir.name)
    if m and _ENV_ID.match(run_dir.parent.name) and run_dir.parent.parent.name == "tensorboard":
        found.update(env=run_dir.parent.name, experiment=m["algo"].lower())
    return found


def run_identity_dir(run_dir: Path) -> Path:
    """The directory that identifies a run. RL Zoo writes TensorBoard logs apart from the run
    (`logs/tensorboard/{Env}/{ALGO}_{n}/` beside `logs/{algo}/{Env}_{n}/`): map them together so the
    monitor files and the event file of one Zoo run are one run."""
    m = _ZOO_TB.match(run_dir.name)
    if m and _ENV_ID.match(run_dir.parent.name) and run_dir.parent.parent.name == "tensorboard":
        twin = run_dir.parent.parent.parent / m["algo"].lower() / f"{run_dir.parent.name}_{m['n']}"
        if twin.is_dir():
            return twin
    return run_dir


def _read_zoo(run_dir: Path, env_id: str) -> dict[str, Any]:
    from openrlb_cli.ingest import yaml_safe  # imports PyYAML: only when a Zoo run is laid out

    out: dict[str, Any] = {}
    for folder in (run_dir / env_id, run_dir):
        args, config = folder / "args.yml", folder / "config.yml"
        if args.is_file():
            try:
                parsed = yaml_safe.load_path(args)
            except Exception:  # metadata is best effort; the log itself still ingests
                parsed = {}
            if isinstance(parsed, dict):
                out["seed"] = _int_or_none(parsed.get("seed"))
                out["config"] = {f"args.{k}": v for k, v in parsed.items()}
        if config.is_file():
            try:
                parsed = yaml_safe.load_path(config)
            except Exception:
                parsed = {}
            if isinstance(parsed, dict):
                out.setdefault("config", {}).update(parsed)
        if out:
            break
    return out


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def apply_config_fields(rec: RunRecord) -> None:
    """Fill experiment/env/seed from well-known config keys when the source did not set them."""
    if rec.experiment is None:
        rec.experiment = _first(rec.config, EXPERIMENT_KEYS)
    if rec.env is None:
        rec.env = _first(rec.config, ENV_KEYS)
    if rec.seed is None:
        rec.seed = _int_or_none(_first(rec.config, SEED_KEYS))


def _first(config: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = config.get(key)
        if value not in (None, "") and not isinstance(value, (dict, list)):  # a nested config is no name
            return str(value) if key not in SEED_KEYS else value
    return None


def apply_path_fields(rec: RunRecord, run_dir: Path) -> None:
    """Fill fields from the directory layout where the source left them unset."""
    found = infer_from_path(run_dir)
    for key in ("env", "experiment", "seed", "created_at"):
        if getattr(rec, key) is None and found.get(key) is not None:
            setattr(rec, key, found[key])
    if found.get("config"):
        rec.config = {**found["config"], **rec.config}
