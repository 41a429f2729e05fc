"""Hyperparameters become config: TensorBoard's hparams plugin (written by torch's and tensorboardX's
real `add_hparams`), their timestamped sub-folder attached to the run it describes, Lightning's
`hparams.yaml`, `params.json`, the MLflow experiment name; projector files are not logs; W&B
runs-table exports are runs with config and summary but no curves."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest


def _runs(cli) -> list[dict]:
    code, out, err = cli("runs", "--json")
    assert code == 0, err
    return json.loads(out)


def _tb_reference_hparams(folder: Path) -> dict:
    """TensorBoard's own reader: the session_start_info hparams of the event files in `folder`."""
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = ea.EventAccumulator(str(folder))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    out = {}
    for key, value in info.hparams.items():
        kind = value.WhichOneof("kind")
        out[key] = getattr(value, kind)
    return out


@pytest.mark.parametrize("writer", ["torch", "tensorboardX"])
def test_add_hparams_becomes_config_of_the_run_it_describes(writer, tmp_path, cli):
    if writer == "torch":
        tb = pytest.importorskip("torch.utils.tensorboard")
        SummaryWriter = tb.SummaryWriter
    else:
        SummaryWriter = pytest.importorskip("tensorboardX").SummaryWriter
    run = tmp_path / "runs" / "ppo_seed1"
    w = SummaryWriter(str(run))
    for i in range(10):
        w.add_scalar("charts/episodic_return", float(i), i * 100)
    hp = {"lr": 3e-4, "batch_size": 64, "env_id": "CartPole-v1", "algo": "ppo"}
    w.add_hparams(hp, {"hparam/final_return": 9.0})
    w.close()
    sub = [p for p in run.iterdir() if p.is_dir()]
    assert len(sub) == 1, "the writer puts add_hparams in a timestamped sub-folder"
    reference = _tb_reference_hparams(sub[0])

    code, out, err = cli("ingest", str(tmp_path / "runs"))
    assert code == 0, err
    runs = _runs(cli)
    assert len(runs) == 1, [r["name"] for r in runs]  # the sub-folder is not a run of its own
    rec = runs[0]
    assert rec["name"] == "ppo_seed1"
    for key, value in reference.items():
        assert rec["config"][key] == pytest.approx(value) if isinstance(value, float) else rec["config"][key] == value
    assert rec["config"]["lr"] == pytest.approx(3e-4) and rec["config"]["batch_size"] == 64
    assert rec["env"] == "CartPole-v1" and rec["experiment"] == "ppo"  # filled from config keys
    code, out, _ = cli("runs", "lr=0.0003", "--json")
    assert code == 0 and len(json.loads(out)) == 1


def test_hparams_in_the_runs_own_file(tmp_path, cli):
    """SB3's HParam and Lightning write the hparams summaries into the run's own event file."""
    tbx = pytest.importorskip("tensorboardX")
    from tensorboardX.summary import hparams

    run = tmp_path / "PPO_1"
    w = tbx.SummaryWriter(str(run))
    exp, ssi, sei = hparams({"algorithm": "PPO", "gamma": 0.99, "n_steps": 2048}, {"rollout/ep_rew_mean": 0})
    for s in (exp, ssi, sei):
        w.file_writer.add_summary(s)
    for i in range(5):
        w.add_scalar("rollout/ep_rew_mean", 10.0 * i, i * 2048)
    w.close()
    reference = _tb_reference_hparams(run)
    assert cli("ingest", str(run))[0] == 0
    [rec] = _runs(cli)
    whole = {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in reference.items()}
    assert rec["config"] == whole
    assert rec["config"]["gamma"] == pytest.approx(0.99)


def test_side_files_lightning_hparams_yaml_and_params_json(tmp_path, cli):
    version = tmp_path / "lightning_logs" / "version_0"
    version.mkdir(parents=True)
    (version / "metrics.csv").write_text("step,epoch,train_loss\n0,0,1.5\n1,0,1.25\n2,1,1.0\n")
    (version / "hparams.yaml").write_text("lr: 0.001\nhidden: [64, 64]\nenv_id: Pendulum-v1\n")
    baselines = tmp_path / "baselines" / "run1"
    baselines.mkdir(parents=True)
    (baselines / "progress.csv").write_text("misc/total_timesteps,eprewmean\n2048,10.5\n4096,20.25\n")
    (baselines / "params.json").write_text(json.dumps({"seed": 3, "nsteps": 2048, "ent_coef": 0.01}))
    bad = tmp_path / "bad" / "version_1"
    bad.mkdir(parents=True)
    (bad / "metrics.csv").write_text("step,loss\n0,1.0\n1,0.5\n")
    (bad / "hparams.yaml").write_text("lr: [unclosed\n")

    code, out, err = cli("ingest", str(tmp_path))
    assert code == 0, err
    assert "hparams.yaml: hyperparameters not read" in err  # named, the curves still ingest
    by_dir = {Path(r["name"]).name if r["name"] else r["uid"]: r for r in _runs(cli)}
    lightning = next(r for r in by_dir.values() if r["config"].get("hidden") == [64, 64])
    assert lightning["config"]["lr"] == 0.001 and lightning["env"] == "Pendulum-v1"
    base = next(r for r in by_dir.values() if r["config"].get("nsteps") == 2048)
    assert base["config"]["ent_coef"] == 0.01 and base["seed"] == 3
    assert len(by_dir) == 3


def test_mlflow_file_store_experiment_name_is_config(tmp_path, cli, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this flag
    store = tmp_path / "mlruns"
    client = MlflowClient(tracking_uri=store.as_uri())
    exp_id = client.create_experiment("halfcheetah-sac")
    run = client.create_run(exp_id, run_name="sac-1")
    client.log_param(run.info.run_id, "seed", "1")
    for i in range(3):
        client.log_metric(run.info.run_id, "return", float(i), step=i)
    client.set_terminated(run.info.run_id)
    assert cli("ingest", str(store))[0] == 0
    [rec] = _runs(cli)
    assert rec["config"]["mlflow_experiment_name"] == "halfcheetah-sac" == rec["project"]


def test_projector_files_are_not_logs(tmp_path, cli):
    import numpy as np

    tbx = pytest.importorskip("tensorboardX")
    run = tmp_path / "run"
    w = tbx.SummaryWriter(str(run))
    w.add_embedding(np.arange(12.0).reshape(4, 3), metadata=["a", "b", "c", "d"], global_step=5)
    for i in range(3):
        w.add_scalar("loss", 1.0 / (i + 1), i)
    w.close()
    assert list(run.rglob("tensors.tsv")) and list(run.rglob("metadata.tsv"))
    code, out, err = cli("ingest", str(run))
    assert code == 0, err  # no junk run, no skipped file
    runs = _runs(cli)
    assert len(runs) == 1 and runs[0]["name"] == "run"


RUNS_TABLE = "".join([
    '"Name","State","Notes","User","Tags","Created","Runtime","Sweep","ID",',
    '"env_id","learning_rate","seed","charts/episodic_return","use_sde"\n',
    '"ppo-1","finished","-","alice","paper-final, baseline","2024-03-01T10:00:00.000Z","3600","","a1b2c3",',
    '"Hopper-v4","0.0003","1","2310.5","false"\n',
    '"ppo-2","crashed","","alice","","2024-03-01T11:00:00.000Z","1200","","d4e5f6",',
    '"Hopper-v4","0.0003","2","","false"\n',
])


def test_wandb_runs_table_export_is_runs_with_config_and_summary(tmp_path, cli, db_path):
    path = tmp_path / "wandb_export_runs.csv"
    path.write_text(RUNS_TABLE)
    code, out, err = cli("ingest", str(path))
    assert code == 0, err
    runs = sorted(_runs(cli), key=lambda r: r["name"])
    assert [r["name"] for r in runs] == ["ppo-1", "ppo-2"]
    one, two = runs
    assert one["state"] == "finished" and two["state"] == "crashed"
    assert one["env"] == "Hopper-v4" and one["seed"] == 1 and two["seed"] == 2
    assert sorted(one["tags"]) == ["baseline", "paper-final"]
    assert one["config"]["use_sde"] is False
    con = sqlite3.connect(db_path)
    summaries = dict(con.execute("SELECT name, summary FROM runs").fetchall())
    assert json.loads(summaries["ppo-1"])["charts/episodic_return"] == 2310.5
    assert "charts/episodic_return" not in json.loads(summaries["ppo-2"])  # empty cell: not a value
    assert con.execute("SELECT count(*) FROM series").fetchone()[0] == 0  # no curves from a runs table
    # the same file again: nothing new; edited: the runs are updated, not doubled
    assert cli("ingest", str(path))[0] == 0
    path.write_text(RUNS_TABLE.replace('"crashed"', '"finished"'))
    assert cli("ingest", str(path))[0] == 0
    runs = _runs(cli)
    assert len(runs) == 2 and {r["state"] for r in runs} == {"finished"}


def test_wandb_chart_export_stays_curves(tmp_path, cli, db_path):
    path = tmp_path / "chart.csv"
    path.write_text('"Step","run-a - loss","run-a - loss__MIN","run-a - loss__MAX"\n'
                    '"0","1.0","1.0","1.0"\n"1","0.5","0.5","0.5"\n')
    assert cli("ingest", str(path))[0] == 0
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT sum(n_points) FROM series WHERE key = 'loss'").fetchone()[0] == 2
