"""Run metadata from well-known directory layouts, so users rarely have to type it.

- CleanRL: `runs/{env_id}__{exp_name}__{seed}__{unix_time}/` (TensorBoard events inside); its
  `hyperparameters` text summary is a markdown table of the full config.
- RL Zoo: `logs/{algo}/{EnvId}_{n}/` with `{EnvId}/args.yml` and `config.yml`, and its TensorBoard
  layout `logs/tensorboard/{EnvId}/{ALGO}_{n}/`.
- SB3 monitor headers carry `env_id` (handled by the monitor reader).
- Benchmark trees `<Env>/<algo>/<file>` (Tianshou) and `<algo>/<Env>/<file>`, where one folder is an
  environment id (`Name-vN`): env and experiment (`infer_from_tree`).
- Path templates the user gives (`--layout '{env}/{experiment}/*'`, `compile_template`).
Anything found here is overridden by explicit command-line options.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
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


# ---------------------------------------------------------------------------- benchmark trees
# `<Env>/<algo>/<file>` (Tianshou's published MuJoCo benchmark: `Hopper-v3/sac/test_rew_10seeds.csv`)
# and `<algo>/<Env>/<file>`: an environment id (`Name-vN`) beside a plain word says which is which.
_ALGO = re.compile(r"^[A-Za-z][\w.+-]{0,63}$")
# folder names that organise logs rather than name an algorithm
GENERIC_DIRS = {"logs", "log", "runs", "run", "results", "result", "data", "csv", "output", "outputs", "out",
                "exp", "exps", "experiments", "tb", "tensorboard", "wandb", "mlruns", "eval", "evals", "train",
                "test", "progress", "monitor", "seeds", "checkpoints",
                # env namespaces (`ALE/Pong-v5` is one env id in two folders)
                "ale", "gym", "gymnasium", "mujoco", "atari", "dm_control", "minigrid", "procgen", "box2d",
                "classic_control", "toy_text", "envs", "environments"}


def infer_from_tree(path: Path) -> dict[str, str]:
    """env and experiment from a log file's two parent folders when one is an environment id and
    the other a plain name (not a generic folder such as `logs`); {} when the path is not that clear."""
    parent, grand = path.parent.name, path.parent.parent.name

    def algo(name: str) -> bool:
        return bool(_ALGO.match(name)) and not _ENV_ID.match(name) and name.lower() not in GENERIC_DIRS

    if _ENV_ID.match(grand) and algo(parent):
        return {"env": grand, "experiment": parent}
    if _ENV_ID.match(parent) and algo(grand):
        return {"env": parent, "experiment": grand}
    return {}


def apply_tree_fields(rec: RunRecord, path: Path) -> None:
    """Fill env/experiment from a benchmark tree (`infer_from_tree`) where nothing else set them."""
    if rec.env is not None and rec.experiment is not None:
        return
    found = infer_from_tree(path)
    if found.get("env") and found.get("experiment") and rec.env is None and rec.experiment is None:
        rec.env, rec.experiment = found["env"], found["experiment"]


# ---------------------------------------------------------------------------- path templates
TEMPLATE_FIELDS = ("project", "experiment", "env", "seed", "name")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass
class Template:
    """A path template such as `{env}/{experiment}/seed_{seed}`: folder by folder below an ingested
    path, `{field}` takes a run field from that part of the name, `*` matches anything within one
    folder name, and a `**` folder any number of folders. It describes the leading folders: files
    deeper below get the same fields."""

    text: str
    regex: re.Pattern[str]

    def match(self, relative: str) -> dict[str, Any] | None:
        m = self.regex.match(relative)
        if m is None:
            return None
        out: dict[str, Any] = dict(m.groupdict())
        if "seed" in out:
            out["seed"] = int(out["seed"])
        return out


@functools.lru_cache(maxsize=8)
def compile_template(text: str) -> Template:
    """Raises InputError naming what is wrong (unknown or repeated placeholder, no placeholder)."""
    from openrlb_cli.errors import InputError

    parts = [p for p in text.strip().strip("/").split("/") if p]
    names = [n for p in parts for n in _PLACEHOLDER.findall(p)]
    bad = [n for n in names if n not in TEMPLATE_FIELDS]
    if bad:
        known = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
        raise InputError(f"layout {text!r}: unknown placeholder {{{bad[0]}}} (use {known})")
    if not names:
        raise InputError(f"layout {text!r} has no placeholder (e.g. '{{env}}/{{experiment}}/*')")
    repeated = {n for n in names if names.count(n) > 1}
    if repeated:
        raise InputError(f"layout {text!r}: {{{sorted(repeated)[0]}}} appears twice")
    regex = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            regex += "(?:[^/]+/)*"
            continue
        pieces = _PLACEHOLDER.split(part)  # literal, name, literal, name, ...
        for k, piece in enumerate(pieces):
            if k % 2:
                regex += rf"(?P<{piece}>-?\d+)" if piece == "seed" else rf"(?P<{piece}>[^/]+?)"
            else:
                regex += "[^/]*".join(re.escape(s) for s in piece.split("*"))
        regex += "" if last else "/"
    return Template(text, re.compile(f"^{regex}(?:/|$)"))


def relative_to_roots(path: Path, roots: list[Path]) -> str | None:
    """`path` relative to the (deepest) ingested directory holding it, with `/` separators."""
    best: str | None = None
    for root in roots:
        try:
            rel = path.relative_to(root)
        except ValueError:
            continue
        text = rel.as_posix()
        if best is None or len(text) < len(best):
            best = text
    return best
