"""Turn stored provenance into something a person can act on: rerun instructions and run diffs.

Why: Open RL Benchmark's promise is that every curve can be reproduced; `reproduce_text` prints
the git checkout, the environment set-up, the allow-listed variables and the exact command, and
`requirements_text` the pinned package versions (a pip requirements file). `diff_runs` answers
"why do these two curves differ?" by comparing config, command, code version and packages.
Plain functions of the store so `openrlb show --reproduce` and `openrlb reproduce` share them.
"""

from __future__ import annotations

import re
import shlex
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from openrlb_cli.errors import InputError
from openrlb_cli.model import RunInfo
from openrlb_cli.redact import REDACTED
from openrlb_cli.store import Store
from openrlb_cli.track.records import Provenance, load_provenance, require_provenance

RUN_FIELDS = ("project", "experiment", "env", "seed", "state", "source")
GIT_FIELDS = ("remote", "commit", "branch", "dirty", "diff_sha256")
SYSTEM_FIELDS = ("hostname", "platform", "cpu_count")


def _run(store: Store, run: RunInfo | str) -> RunInfo:
    return store.get_run(run) if isinstance(run, str) else run


def _when(ts: float | None) -> str:
    return "?" if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def requirements_text(store: Store, run: RunInfo | str) -> str:
    """A pip requirements file pinning every package the run's Python environment had."""
    info = _run(store, run)
    prov = require_provenance(store, info)
    py = prov.system.get("python", {})
    head = [f"# openrlb run {info.uid}: packages as installed when it started ({_when(prov.started_at)})",
            f"# Python {py.get('version', '?')} ({py.get('implementation', '?')})"]
    return "\n".join([*head, *prov.packages]) + "\n"


def reproduce_text(store: Store, run: RunInfo | str, requirements: str | None = None) -> str:
    """Rerun instructions: code checkout, environment, variables, command.

    `requirements` is where the requirements file is (or will be) written; without it the
    requirements are appended to the text."""
    info = _run(store, run)
    prov = require_provenance(store, info)
    py = prov.system.get("python", {})
    what = ", ".join(f"{k} {getattr(info, k)}" for k in ("project", "experiment", "env", "seed")
                     if getattr(info, k) is not None)
    lines = [f"# openrlb run {info.uid} ({what})",
             f"# started {_when(prov.started_at)} on {prov.host or '?'}; state {info.state or '?'}, "
             f"exit code {'?' if prov.exit_code is None else prov.exit_code}"
             + (f", {prov.duration:.1f} s" if prov.duration is not None else ""),
             f"# Python {py.get('version', '?')} ({py.get('implementation', '?')}) on "
             f"{prov.system.get('platform', '?')}", ""]
    lines += ["# 1. code", *_git_lines(prov, info), ""]
    req = requirements or "requirements.txt"
    lines += ["# 2. environment", f"python{_major_minor(py.get('version'))} -m venv .venv && . .venv/bin/activate",
              f"python -m pip install -r {shlex.quote(req)}", ""]
    if prov.env:
        lines += ["# 3. variables", *(f"export {k}={shlex.quote(v)}" for k, v in sorted(prov.env.items())), ""]
    lines += [f"# {4 if prov.env else 3}. command"]
    if any(REDACTED in w for w in prov.command):
        lines.append(f"# values shown as {REDACTED} were secrets and were not stored: fill them in")
    lines += [f"cd {shlex.quote(_workdir(prov))}", shlex.join(prov.command)]
    text = "\n".join(lines) + "\n"
    if requirements is None:
        text += f"\n# ---- {req} ----\n" + requirements_text(store, info)
    return text


def _major_minor(version: str | None) -> str:
    m = re.match(r"^(\d+)\.(\d+)", version or "")
    return f"{m[1]}.{m[2]}" if m else "3"


def _git_lines(prov: Provenance, info: RunInfo) -> list[str]:
    git = prov.git
    if not git:
        return [f"# {prov.cwd} was not a git repository: no code version was recorded"]
    lines = []
    if git.get("remote"):
        name = PurePosixPath(git["remote"].rstrip("/").split(":")[-1]).name.removesuffix(".git") or "repo"
        lines += [f"git clone {shlex.quote(git['remote'])} {shlex.quote(name)}", f"cd {shlex.quote(name)}"]
    else:
        lines += ["# no git remote was configured; the code was at:", f"cd {shlex.quote(git.get('root', prov.cwd))}"]
    if git.get("commit"):
        lines.append(f"git checkout {git['commit']}" + (f"  # branch {git['branch']}" if git.get("branch") else ""))
    if git.get("dirty"):
        if prov.diff is not None:
            lines.append(f"openrlb reproduce {info.uid} --patch | git apply  # uncommitted changes at start")
        else:
            lines.append(f"# the working tree had uncommitted changes (diff sha256 {git.get('diff_sha256')}); "
                         "they were not saved (use `openrlb track --save-diff`)")
    return lines


def _workdir(prov: Provenance) -> str:
    """The command's working directory, relative to the clone when it was inside the repository."""
    git = prov.git or {}
    root = git.get("root")
    if root and git.get("remote") and (prov.cwd == root or prov.cwd.startswith(root.rstrip("/") + "/")):
        rel = prov.cwd[len(root):].lstrip("/")
        return rel or "."
    return prov.cwd


# ---------------------------------------------------------------------------- diff
def _same(a: Any, b: Any) -> bool:
    if a == b:
        return True
    if a is None or b is None:
        return False
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _pairs(a: dict[str, Any], b: dict[str, Any], keys: Any = None) -> dict[str, list[Any]]:
    keys = sorted(set(a) | set(b)) if keys is None else keys
    return {k: [a.get(k), b.get(k)] for k in keys if not _same(a.get(k), b.get(k))}


def _packages(items: list[str]) -> dict[str, tuple[str, str]]:
    out = {}
    for item in items:
        name, _, version = item.partition("==")
        out[re.sub(r"[-_.]+", "-", name).lower()] = (name, version)
    return out


def diff_runs(store: Store, a: RunInfo | str, b: RunInfo | str) -> dict[str, Any]:
    """Differences between two runs: fields, config, command, git, Python, system, env, packages.

    Each difference is `[value in a, value in b]` (None when absent). Runs that were not tracked
    have no provenance: only their fields and config are compared."""
    ra, rb = _run(store, a), _run(store, b)
    pa, pb = load_provenance(store, ra.id), load_provenance(store, rb.id)
    out: dict[str, Any] = {
        "runs": [ra.uid, rb.uid],
        "tracked": [pa is not None, pb is not None],
        "fields": _pairs(ra.to_dict(), rb.to_dict(), RUN_FIELDS),
        "config": _pairs(ra.config, rb.config),
    }
    if pa is None or pb is None:
        return out
    if pa.command != pb.command:
        out["command"] = [shlex.join(pa.command), shlex.join(pb.command)]
    if pa.cwd != pb.cwd:
        out["cwd"] = [pa.cwd, pb.cwd]
    out["git"] = _pairs(pa.git or {}, pb.git or {}, GIT_FIELDS)
    va = pa.system.get("python", {}).get("version")
    vb = pb.system.get("python", {}).get("version")
    if va != vb:
        out["python"] = [va, vb]
    out["system"] = _pairs(pa.system, pb.system, SYSTEM_FIELDS)
    out["env"] = _pairs(pa.env, pb.env)
    ka, kb = _packages(pa.packages), _packages(pb.packages)
    out["packages"] = {
        "changed": {ka[k][0]: [ka[k][1], kb[k][1]] for k in sorted(set(ka) & set(kb)) if ka[k][1] != kb[k][1]},
        "only_a": [f"{ka[k][0]}=={ka[k][1]}" for k in sorted(set(ka) - set(kb))],
        "only_b": [f"{kb[k][0]}=={kb[k][1]}" for k in sorted(set(kb) - set(ka))],
    }
    return out


def _show(value: Any) -> str:
    return "(absent)" if value is None else str(value)


def format_diff(diff: dict[str, Any]) -> str:
    """The diff as aligned text; 'no differences' when the runs match in everything compared."""
    a, b = diff["runs"]
    lines = [f"--- {a}", f"+++ {b}"]
    n = 0
    for section in ("fields", "config", "git", "system", "env"):
        for key, (va, vb) in diff.get(section, {}).items():
            lines.append(f"{section}.{key}: {_show(va)} -> {_show(vb)}")
            n += 1
    for key in ("command", "cwd", "python"):
        if key in diff:
            lines += [f"{key}:", f"  - {diff[key][0]}", f"  + {diff[key][1]}"]
            n += 1
    pk = diff.get("packages", {})
    for name, (va, vb) in pk.get("changed", {}).items():
        lines.append(f"package {name}: {va} -> {vb}")
    lines += [f"package only in {a}: {p}" for p in pk.get("only_a", [])]
    lines += [f"package only in {b}: {p}" for p in pk.get("only_b", [])]
    n += len(pk.get("changed", {})) + len(pk.get("only_a", [])) + len(pk.get("only_b", []))
    for uid, tracked in zip(diff["runs"], diff["tracked"], strict=True):
        if not tracked:
            lines.append(f"note: {uid} was not started with `openrlb track`: only fields and config compared")
    if n == 0:
        lines.append("no differences")
    return "\n".join(lines) + "\n"


def write_reproduce(store: Store, run: RunInfo | str, output: Path | None = None) -> str:
    """`reproduce_text`, after writing the requirements file to `output` when one is given."""
    info = _run(store, run)
    if output is None:
        return reproduce_text(store, info)
    text = requirements_text(store, info)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror}") from exc
    return reproduce_text(store, info, requirements=str(output))
