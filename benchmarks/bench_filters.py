"""Config filters on a paper-scale store: SQL (json_extract) against decoding every config in Python.

    python benchmarks/bench_filters.py              # 25,000 runs, 30 config keys each (CleanRL-like)
    python benchmarks/bench_filters.py --runs 2500

Builds a store of N runs whose config is CleanRL's hyperparameters table (values stored as text, as
CleanRL's TensorBoard text summary gives them) for half the runs and JSON numbers (as W&B gives
them) for the other half, then times, best of --repeat, in this process:

* `Store.runs(filter)` for `learning_rate=0.00025`, `learning_rate<1e-3`, `seed>=3 state!=crashed`;
* the baseline: what the code before did for a config filter -- select and build every run
  (config decoded with `json.loads`), compare in Python (for `<`, the same loop with a float compare);
* the WHERE clause alone (`count(*)`), i.e. the filter's own cost without building the runs;
* the typo path: a key no run has (`learnin_rate=...`) -> the error with suggestions.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from openrlb_cli.errors import SelectionError  # noqa: E402
from openrlb_cli.model import RunRecord  # noqa: E402
from openrlb_cli.store import RunFilter, Store, bulk, parse_filters, suggest  # noqa: E402

KEYS = ["exp_name", "seed", "torch_deterministic", "cuda", "track", "wandb_project_name", "capture_video",
        "env_id", "total_timesteps", "learning_rate", "num_envs", "num_steps", "anneal_lr", "gamma",
        "gae_lambda", "num_minibatches", "update_epochs", "norm_adv", "clip_coef", "clip_vloss", "ent_coef",
        "vf_coef", "max_grad_norm", "target_kl", "batch_size", "minibatch_size", "num_iterations",
        "wandb_entity", "save_model", "upload_model"]


def config(i: int, as_text: bool) -> dict[str, object]:
    lr = (2.5e-4, 3e-4, 1e-3, 3e-3)[i % 4]
    values: dict[str, object] = {k: f"value{i % 7}" for k in KEYS}
    values.update(seed=i % 10, learning_rate=lr, gamma=0.99, num_envs=8, total_timesteps=10_000_000,
                  cuda=True, env_id=f"Env{i % 57}-v5", exp_name=f"algo{i % 15}")
    if as_text:  # CleanRL's markdown table: every value a string
        values = {k: str(v) for k, v in values.items()}
    return values


def build(db: Path, n: int) -> None:
    recs = [RunRecord("bench", str(i), project="p", experiment=f"algo{i % 15}", env=f"Env{i % 57}-v5", seed=i % 10,
                      state="crashed" if i % 13 == 0 else "finished", config=config(i, i % 2 == 0))
            for i in range(n)]
    with Store(db) as s, s.transaction():
        bulk.upsert_runs(s, recs)


def python_filter(store: Store, key: str, test) -> int:  # noqa: ANN001
    """The code before: every run selected and built (config decoded), compared in Python."""
    return sum(1 for r in store.runs(RunFilter()) if key in r.config and test(r.config[key]))


def count_only(store: Store, flt: RunFilter) -> int:
    where, params = flt.sql()
    return int(store.conn.execute(f"SELECT count(*) FROM runs WHERE {where}", params).fetchone()[0])


def best(fn, repeat: int) -> tuple[float, object]:  # noqa: ANN001
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=25_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "f.db"
        t0 = time.perf_counter()
        build(db, args.runs)
        print(f"built {args.runs:,} runs x {len(KEYS)} config keys in {time.perf_counter() - t0:.1f} s")
        with Store(db) as s:
            cases = [
                (["learning_rate=0.00025"], "learning_rate", lambda v: str(v) in ("0.00025",)),
                (["learning_rate<1e-3"], "learning_rate", lambda v: float(v) < 1e-3),
                (["seed>=3", "state!=crashed"], None, None),
                (["env=Env3-v5", "experiment=algo3"], None, None),
            ]
            for words, key, test in cases:
                flt = parse_filters(words)
                t_sql, runs = best(lambda flt=flt: s.runs(flt), args.repeat)
                t_where, _ = best(lambda flt=flt: count_only(s, flt), args.repeat)
                line = (f"{' '.join(words):<34} runs() {t_sql * 1000:7.1f} ms ({len(runs):,} runs; the WHERE alone "
                        f"{t_where * 1000:6.1f} ms)")
                if key is not None:
                    t_py, kept = best(lambda key=key, test=test: python_filter(s, key, test), args.repeat)
                    line += f"   before: {t_py * 1000:7.1f} ms ({kept:,} kept), {t_py / t_sql:.1f}x"
                print(line)

            def typo() -> str:
                try:
                    suggest.select(s, parse_filters(["learnin_rate=0.00025"]))
                except SelectionError as exc:
                    return str(exc)
                return ""

            t_typo, msg = best(typo, args.repeat)
            print(f"typo error with suggestions {t_typo * 1000:.1f} ms: {msg}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
