"""A tracked run's provenance as the short list of facts `openrlb show` prints.

Kept apart from the CLI so the wording (and what counts as "dirty", how a duration reads) is one
pure function that tests can call; `show --json` prints the full `Provenance` object instead.
"""

from __future__ import annotations

import shlex
from typing import Any

from openrlb_cli.track.records import Provenance


def duration_text(seconds: float | None) -> str:
    """`3725.4` -> `1 h 2 min 5.4 s`; None -> `` (still running, or unknown)."""
    if seconds is None:
        return ""
    hours, rest = divmod(float(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{int(hours)} h"] if hours else []
    parts += [f"{int(minutes)} min"] if minutes or hours else []
    parts.append(f"{secs:.1f} s")
    return " ".join(parts)


def _git_text(git: dict[str, Any] | None) -> str:
    if not git:
        return "not a git repository"
    commit = str(git.get("commit") or "no commit")
    text = commit[:12]
    if git.get("branch"):
        text += f" on {git['branch']}"
    dirty = git.get("dirty")
    text += ", dirty" if dirty else ", clean" if dirty is not None else ""
    untracked = git.get("untracked_files")
    if untracked:
        text += f" ({len(untracked) if isinstance(untracked, list) else untracked} untracked)"
    if git.get("remote"):
        text += f"  [{git['remote']}]"
    return text


def _python_text(system: dict[str, Any]) -> str:
    py = system.get("python") or {}
    if not isinstance(py, dict):
        return str(py)
    return " ".join(str(v) for v in (py.get("implementation"), py.get("version")) if v) or "unknown"


def provenance_lines(prov: Provenance, state: str | None) -> list[tuple[str, str]]:
    """(label, text) pairs: command, working dir, exit code and state, git, Python, duration, packages."""
    exit_text = "none yet (running)" if prov.exit_code is None and state == "running" else (
        "unknown" if prov.exit_code is None else str(prov.exit_code))
    lines = [
        ("command", shlex.join(prov.command)),
        ("working dir", prov.cwd),
        ("exit code", f"{exit_text} (state {state or 'unknown'})"),
        ("git", _git_text(prov.git)),
        ("python", _python_text(prov.system or {})),
        ("duration", duration_text(prov.duration) or ("still running" if state == "running" else "unknown")),
        ("packages", f"{len(prov.packages)} pinned (`openrlb show RUN --reproduce -o requirements.txt`)"),
    ]
    if prov.host:
        lines.append(("host", prov.host))
    if prov.logdir:
        lines.append(("log dir", prov.logdir))
    return lines
