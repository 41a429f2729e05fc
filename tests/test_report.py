"""`openrlb report`: the CI bundle's files, self-contained HTML, determinism, section hook, exit codes."""

from __future__ import annotations

import re

import numpy as np
import pytest

from openrlb_cli.errors import InputError
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.render import report as rp
from openrlb_cli.selection import load_curves, resolve
from openrlb_cli.store import Store


@pytest.fixture
def store_path(db_path):
    with Store(db_path) as s:
        for exp, scale in (("ppo", 1.0), ("dqn", 0.7)):
            for env in ("CartPole-v1", "Acrobot-v1"):
                for seed in (1, 2):
                    steps = np.arange(50) * 1000.0
                    s.write_run(RunRecord("t", f"{exp}/{env}/{seed}", project="ci", experiment=exp, env=env,
                                          seed=seed, series={"charts/episodic_return": Series(
                                              steps, scale * np.log1p(steps) + seed, 1.7e9 + steps / 50)}))
    return db_path


@pytest.fixture
def no_providers(monkeypatch):
    monkeypatch.setattr(rp, "_PROVIDERS", {})


def _curves(db_path):
    with Store(db_path) as s:
        return load_curves(s, resolve(s, ["ppo", "dqn?cl=DQN"]))


def test_cli_report_writes_everything(store_path, cli, tmp_path, no_providers):
    out = tmp_path / "report"
    code, stdout, err = cli("report", "ppo", "dqn?project=ci&cl=DQN", "--env-ids", "CartPole-v1", "Acrobot-v1",
                            "-o", str(out))
    assert code == 0, err
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert written == {
        "index.md", "index.html",
        "figures/curves_step.png", "figures/curves_step.svg", "figures/curves_time.png", "figures/curves_time.svg",
        "tables/scores.md", "tables/scores.csv", "tables/scores.json", "tables/scores.tex",
        "tables/runtime.md", "tables/runtime.csv", "tables/runtime.json",
    }
    assert sorted(stdout.split()) == sorted(str(out / w) for w in written)
    md = (out / "index.md").read_text()
    assert "![Learning curves](figures/curves_step.png)" in md and "| DQN | `dqn?project=ci&cl=DQN` | 4 | 2 |" in md
    assert "## Final scores (charts/episodic_return)" in md and "## Runtime" in md


def test_index_html_is_self_contained(store_path, tmp_path, no_providers):
    result = rp.write_report(_curves(store_path), tmp_path / "r")
    assert result.ok, result.errors
    html = (tmp_path / "r" / "index.html").read_text()
    srcs = re.findall(r"src='([^']*)'", html)
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<table>" in html and "<b>" in html  # tables inline, best cell bold
    assert "<link" not in html and "<script src" not in html  # scripts are inline (render/interactive.py)


def test_report_is_deterministic(store_path, tmp_path, no_providers):
    curves = _curves(store_path)
    rp.write_report(curves, tmp_path / "a")
    rp.write_report(curves, tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_extra_sections_passed_and_registered(store_path, tmp_path, no_providers):
    def aggregates(ctx: rp.ReportContext) -> rp.ReportSection:
        path = ctx.out_dir / "aggregates" / "iqm.csv"
        path.parent.mkdir(parents=True)
        n_lines = len(ctx.curves.selection.labels)
        path.write_text("experiment,iqm\n")
        return rp.ReportSection("Aggregate metrics", f"| Line | IQM |\n|---|---|\n| lines | {n_lines} |\n",
                                files=[path])

    rp.register_section("aggregates", aggregates)
    static = rp.ReportSection("Notes", "Run on **CI**.", html="<p id='notes'>Run on CI.</p>")
    result = rp.write_report(_curves(store_path), tmp_path / "r", extra_sections=[static])
    assert result.ok and tmp_path / "r" / "aggregates" / "iqm.csv" in result.files
    md = (tmp_path / "r" / "index.md").read_text()
    assert md.index("## Notes") < md.index("## Aggregate metrics")
    html = (tmp_path / "r" / "index.html").read_text()
    assert "<p id='notes'>Run on CI.</p>" in html
    assert "<h2>Aggregate metrics</h2>" in html and "<td>lines</td><td>2</td>" in html
    assert rp.write_report(_curves(store_path), tmp_path / "r2", use_registered=False).ok
    assert "Aggregate" not in (tmp_path / "r2" / "index.md").read_text()


def test_failing_section_is_reported_and_rest_written(store_path, cli, tmp_path, no_providers):
    def broken(ctx):
        raise RuntimeError("boom")

    rp.register_section("broken", broken)
    out = tmp_path / "r"
    code, _, err = cli("report", "ppo", "-o", str(out))
    assert code == 1
    assert "error: broken: unexpected RuntimeError: boom" in err
    assert (out / "index.html").exists() and (out / "figures" / "curves_step.png").exists()
    assert "## Errors" in (out / "index.md").read_text()
    code, _, _ = cli("report", "ppo", "-o", str(tmp_path / "r2"), "--no-extra-sections")
    assert code == 0


def test_unwritable_report_dir(store_path, cli, tmp_path, no_providers):
    (tmp_path / "file").write_text("")
    code, out, err = cli("report", "ppo", "-o", str(tmp_path / "file" / "r"))
    assert code == 1 and err.startswith("error: cannot write report directory") and len(err.splitlines()) == 1
    with pytest.raises(InputError):
        rp.write_report(_curves(store_path), tmp_path / "file" / "r")


def test_report_bad_input(store_path, cli, tmp_path, no_providers):
    code, _, err = cli("report", "nope", "-o", str(tmp_path / "r"))
    assert code == 1 and "spec 'nope' matches no run" in err
    assert not (tmp_path / "r").exists()
    code, _, err = cli("report", "ppo", "-o", str(tmp_path / "r"), "--last-frac", "0")
    assert code == 1 and "--last-frac" in err


def test_markdown_subset(tmp_path):
    html = rp.markdown_to_html("# T\n\ntext with `code` and **bold**\n\n- a\n- b\n\n| x \\| y | z |\n|---|---|\n"
                               "| 1 | 2 |\n", tmp_path)
    assert "<h2>T</h2>" in html and "<code>code</code>" in html and "<b>bold</b>" in html
    assert "<ul><li>a</li><li>b</li></ul>" in html
    assert "<th>x | y</th><th>z</th>" in html and "<td>1</td><td>2</td>" in html
