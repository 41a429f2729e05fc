"""Train the sample agents and write their logs as CleanRL, SB3/RL Zoo, CSV and JSON-lines files.

Why: the README demo and the ingest tests need learning curves that (a) are real, (b) come in the
layouts real tools write, so `openrlb ingest sample_runs/` has to infer env/experiment/seed from
paths and headers, and (c) regenerate byte for byte. Everything is seeded, the clock is fake (see
`agents.FakeClock`) and the physics avoids libm (see `envs`), so

    python sample_runs/generate.py            # rewrites sample_runs/ (about 20 s on one core)
    python sample_runs/generate.py --out DIR --only cartpole --seeds 1   # a subset, for tests

gives identical bytes on every machine. Runs are independent, so `--jobs` spreads them over
processes without changing any output.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python sample_runs/generate.py` puts only sample_runs/ on the path
    sys.path.insert(0, str(ROOT))

from openrlb_cli.ingest.tensorboard.crc32c import masked_crc32c  # noqa: E402
from openrlb_cli.ingest.tensorboard.events import write_scalars  # noqa: E402
from sample_runs import agents  # noqa: E402
from sample_runs.envs import CartPole, MountainCar  # noqa: E402

HERE = Path(__file__).resolve().parent
SEEDS = (1, 2, 3)
HOST = "samplebox"
GROUPS = ("cleanrl", "sb3", "csv", "jsonl")
GENERATED = ("cleanrl", "sb3", "csv", "jsonl")  # top-level folders this script owns (and rewrites)

# Hyperparameters per (algorithm, env). `step_seconds` only drives the fake clock.
TD_HP: dict[tuple[str, str], dict[str, Any]] = {
    ("q_learning", "CartPole-v1"): dict(total_timesteps=50_000, learning_rate=0.3, gamma=0.99,
                                        start_e=0.1, end_e=0.0, exploration_fraction=0.5),
    ("sarsa_lambda", "CartPole-v1"): dict(total_timesteps=50_000, learning_rate=0.1, gamma=0.99, lam=0.9,
                                          trace_len=24, start_e=0.1, end_e=0.0, exploration_fraction=0.5),
    ("q_learning", "MountainCar-v0"): dict(total_timesteps=40_000, learning_rate=0.5, gamma=1.0,
                                           start_e=0.0, end_e=0.0, exploration_fraction=0.5),
    ("sarsa_lambda", "MountainCar-v0"): dict(total_timesteps=40_000, learning_rate=0.1, gamma=1.0, lam=0.9,
                                             trace_len=24, start_e=0.0, end_e=0.0, exploration_fraction=0.5),
}
TILES = {"CartPole-v1": dict(num_tilings=8, tiles_per_dim=6), "MountainCar-v0": dict(num_tilings=8, tiles_per_dim=8)}
STEP_SECONDS = {"q_learning": 1 / 3_500, "sarsa_lambda": 1 / 2_200, "reinforce": 1 / 2_600,
                "tabular": 1 / 25_000}
REINFORCE_HP: dict[str, Any] = dict(total_timesteps=100_000, learning_rate=0.5, gamma=0.99, log_interval=10)
TABULAR_HP: dict[str, Any] = dict(total_episodes=600, learning_rate=0.2, gamma=0.99, epsilon=0.1, q_init=1.0)
ENV_CLASSES = {"CartPole-v1": CartPole, "MountainCar-v0": MountainCar}


@dataclass(frozen=True)
class Job:
    index: int  # position in `jobs()`; fixes the fake start time and pid whatever `--only` selects
    group: str  # which output format/layout
    algo: str
    env_id: str
    seed: int
    start: float  # fake start time, seconds since epoch

    def matches(self, token: str) -> bool:
        t = token.lower()
        return t in (self.group, self.algo, self.env_id.lower(), self.env_id.split("-")[0].lower())


def jobs() -> list[Job]:
    """Every run, each with its own fixed fake start time (one hour apart, so runs never overlap)."""
    out: list[Job] = []
    base = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    specs = [("cleanrl", a, e) for e in ("CartPole-v1", "MountainCar-v0") for a in ("q_learning", "sarsa_lambda")]
    specs += [("sb3", "reinforce", "CartPole-v1"), ("csv", "q_learning", "FrozenPond-v0"),
              ("jsonl", "expected_sarsa", "FrozenPond-v0")]
    for group, algo, env_id in specs:
        for seed in SEEDS:
            # fractional part as a real clock has one; fixed so the bytes are too
            i = len(out)
            out.append(Job(i, group, algo, env_id, seed, base + 3600.0 * i + 0.25 + 0.0625 * seed))
    return out


def run_job(job: Job) -> agents.RunLog:
    if job.group == "cleanrl":
        hp = {**TD_HP[(job.algo, job.env_id)], **TILES[job.env_id], "log_frequency": 1000,
              "step_seconds": STEP_SECONDS[job.algo]}
        return agents.train_linear_td(job.algo, ENV_CLASSES[job.env_id], job.seed, hp, job.start)
    if job.group == "sb3":
        return agents.train_reinforce(job.seed, {**REINFORCE_HP, "step_seconds": STEP_SECONDS["reinforce"]},
                                      job.start)
    return agents.train_tabular(job.algo, job.seed, {**TABULAR_HP, "step_seconds": STEP_SECONDS["tabular"]},
                                job.start)


def _hp_public(hp: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hp.items() if k != "step_seconds"}


# ----------------------------------------------------------------------------- CleanRL (TensorBoard)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _record(event: bytes) -> bytes:
    head = struct.pack("<Q", len(event))
    return head + struct.pack("<I", masked_crc32c(head)) + event + struct.pack("<I", masked_crc32c(event))


def _text_event(wall: float, tag: str, text: str) -> bytes:
    """A `SummaryWriter.add_text` event: DT_STRING tensor of shape [1], plugin `text`."""
    tensor = b"\x08\x07" + _len_field(2, _len_field(2, b"\x08\x01")) + _len_field(8, text.encode("utf-8"))
    meta = _len_field(1, _len_field(1, b"text"))
    value = _len_field(1, tag.encode("utf-8")) + _len_field(8, tensor) + _len_field(9, meta)
    return b"\x09" + struct.pack("<d", wall) + _len_field(5, _len_field(1, value))


def _version_event(wall: float) -> bytes:
    return b"\x09" + struct.pack("<d", wall) + _len_field(3, b"brain.Event:2")


def cleanrl_hparams(log: agents.RunLog) -> dict[str, Any]:
    """`vars(args)` as a CleanRL script would have it (its standard flags first)."""
    base = {"exp_name": log.algo, "seed": log.seed, "track": False, "wandb_project_name": "cleanRL",
            "wandb_entity": None, "capture_video": False, "env_id": log.env_id}
    return {**base, **_hp_public(log.hyperparams)}


def write_cleanrl(log: agents.RunLog, out: Path, pid: int) -> None:
    stamp = int(log.start_time)
    run_dir = out / "cleanrl" / "runs" / f"{log.env_id}__{log.algo}__{log.seed}__{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"events.out.tfevents.{stamp}.{HOST}.{pid}.0"
    table = "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in cleanrl_hparams(log).items())
    path.write_bytes(_record(_version_event(log.start_time))
                     + _record(_text_event(log.start_time + 0.004, "hyperparameters/text_summary", table)))
    write_scalars(path, _cleanrl_scalars(log), append=True)


def _cleanrl_scalars(log: agents.RunLog) -> Iterable[tuple[str, int, float, float]]:
    """Episodes and periodic stats merged in step order, as the training loop wrote them."""
    stats = iter(log.stats)
    nxt = next(stats, None)
    for ep in log.episodes:
        while nxt is not None and nxt.step < ep.step:
            yield from ((k, nxt.step, float(v), nxt.wall) for k, v in nxt.values.items())
            nxt = next(stats, None)
        yield "charts/episodic_return", ep.step, ep.ret, ep.wall
        yield "charts/episodic_length", ep.step, float(ep.length), ep.wall
    while nxt is not None:
        yield from ((k, nxt.step, float(v), nxt.wall) for k, v in nxt.values.items())
        nxt = next(stats, None)


# ----------------------------------------------------------------------------- SB3 / RL Zoo


def _yaml_scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[]" if not v else "[" + ", ".join(_yaml_scalar(x) for x in v) + "]"
    if isinstance(v, str):
        return "''" if v == "" else v
    return repr(v)


def _ordered_dict_yaml(items: Iterable[tuple[str, Any]]) -> str:
    """How RL Zoo's `yaml.dump(OrderedDict(...))` looks: a list of [key, value] pairs."""
    lines = ["!!python/object/apply:collections.OrderedDict"]
    first = True
    for k, v in items:
        lines.append(("- - - " if first else "  - - ") + k)
        lines.append("    - " + _yaml_scalar(v))
        first = False
    return "\n".join(lines) + "\n"


def zoo_args(log: agents.RunLog) -> list[tuple[str, Any]]:
    args: dict[str, Any] = {
        "algo": log.algo, "conf_file": None, "device": "cpu", "env": log.env_id, "env_kwargs": None,
        "eval_env_kwargs": None, "eval_episodes": 5, "eval_freq": -1, "gym_packages": [], "hyperparams": None,
        "log_folder": "logs", "log_interval": log.hyperparams["log_interval"], "n_eval_envs": 1,
        "n_timesteps": log.hyperparams["total_timesteps"], "num_threads": -1, "progress": False,
        "save_freq": -1, "seed": log.seed, "storage": None, "tensorboard_log": "", "track": False,
        "trained_agent": "", "uuid": False, "vec_env": "dummy", "verbose": 1,
    }
    return sorted(args.items())


def zoo_config(log: agents.RunLog) -> list[tuple[str, Any]]:
    hp = _hp_public(log.hyperparams)
    conf = {"gamma": hp["gamma"], "learning_rate": hp["learning_rate"], "n_envs": 1,
            "n_timesteps": float(hp["total_timesteps"]), "policy": "LinearSoftmaxPolicy"}
    return sorted(conf.items())


PROGRESS_COLUMNS = ("time/fps", "time/iterations", "rollout/ep_rew_mean", "rollout/ep_len_mean",
                    "time/total_timesteps", "time/time_elapsed", "train/learning_rate", "train/policy_loss",
                    "train/entropy_loss", "train/n_updates")
_INT_COLUMNS = {"time/fps", "time/iterations", "time/total_timesteps", "time/time_elapsed", "train/n_updates"}


def _cell(key: str, value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if key in _INT_COLUMNS else repr(float(value))


def write_sb3(log: agents.RunLog, out: Path, n: int) -> None:
    run_dir = out / "sb3" / log.algo / f"{log.env_id}_{n}"
    (run_dir / log.env_id).mkdir(parents=True, exist_ok=True)
    header = json.dumps({"t_start": log.start_time, "env_id": log.env_id})
    rows = [f"{round(e.ret, 6)},{e.length},{round(e.wall - log.start_time, 6)}" for e in log.episodes]
    (run_dir / "0.monitor.csv").write_text(f"#{header}\nr,l,t\n" + "\n".join(rows) + "\n", newline="\n")
    lines = [",".join(PROGRESS_COLUMNS)]
    lines += [",".join(_cell(c, s.values.get(c)) for c in PROGRESS_COLUMNS) for s in log.stats]
    (run_dir / "progress.csv").write_text("\n".join(lines) + "\n", newline="\n")
    (run_dir / log.env_id / "args.yml").write_text(_ordered_dict_yaml(zoo_args(log)), newline="\n")
    (run_dir / log.env_id / "config.yml").write_text(_ordered_dict_yaml(zoo_config(log)), newline="\n")


# ----------------------------------------------------------------------------- long CSV / JSON lines

LONG_COLUMNS = ("experiment", "env", "seed", "step", "episodic_return", "wall_time")


def _long_rows(logs: list[agents.RunLog]) -> Iterable[tuple[str, str, int, int, float, float]]:
    for log in logs:
        for e in log.episodes:
            yield log.algo, log.env_id, log.seed, e.step, e.ret, round(e.wall, 3)


def write_csv(logs: list[agents.RunLog], out: Path) -> None:
    (out / "csv").mkdir(parents=True, exist_ok=True)
    lines = [",".join(LONG_COLUMNS)] + [",".join(str(v) for v in row) for row in _long_rows(logs)]
    (out / "csv" / "curves.csv").write_text("\n".join(lines) + "\n", newline="\n")


def write_jsonl(logs: list[agents.RunLog], out: Path) -> None:
    (out / "jsonl").mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(dict(zip(LONG_COLUMNS, row, strict=True))) for row in _long_rows(logs)]
    (out / "jsonl" / "curves.jsonl").write_text("\n".join(lines) + "\n", newline="\n")


# ----------------------------------------------------------------------------- main


def generate(out: Path, only: list[str] | None = None, n_jobs: int = 1,
             seeds: list[int] | None = None) -> list[agents.RunLog]:
    """Train the selected runs and write their files under `out`; returns the run logs."""
    todo = [j for j in jobs() if (not only or any(j.matches(t) for t in only)) and (not seeds or j.seed in seeds)]
    if n_jobs > 1:
        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            logs = list(pool.map(run_job, todo))
    else:
        logs = [run_job(j) for j in todo]
    by_group: dict[str, list[agents.RunLog]] = {g: [] for g in GROUPS}
    for job, log in zip(todo, logs, strict=True):
        by_group[job.group].append(log)
        if job.group == "cleanrl":
            write_cleanrl(log, out, pid=31_000 + 17 * job.index)
        elif job.group == "sb3":
            write_sb3(log, out, n=log.seed)
    if by_group["csv"]:
        write_csv(by_group["csv"], out)
    if by_group["jsonl"]:
        write_jsonl(by_group["jsonl"], out)
    return logs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE, help="output directory (default: sample_runs/)")
    ap.add_argument("--only", nargs="+", metavar="WORD",
                    help="runs whose group (cleanrl, sb3, csv, jsonl), algorithm, env id or env name "
                         "(cartpole, mountaincar, frozenpond) is one of these words")
    ap.add_argument("--seeds", nargs="+", type=int, metavar="SEED",
                    help="only these seeds (the CSV and JSON-lines files then hold only them)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (output does not depend on it)")
    args = ap.parse_args(argv)
    if args.out.resolve() == HERE:
        import shutil

        for name in GENERATED:  # stale runs from older settings would otherwise linger
            if args.only is None and args.seeds is None and (HERE / name).is_dir():
                shutil.rmtree(HERE / name)
    logs = generate(args.out, args.only, max(1, args.jobs), args.seeds)
    for log in logs:
        r = log.returns()
        k = max(len(r) // 10, 1)
        print(f"{log.env_id:15s} {log.algo:15s} seed {log.seed}: {len(r):4d} episodes, "
              f"mean return first 10% {r[:k].mean():8.2f}, last 10% {r[-k:].mean():8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
