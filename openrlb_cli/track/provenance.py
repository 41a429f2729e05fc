"""What produced a run: git state, machine, Python and its installed packages, chosen env vars.

Why: a curve is only reproducible if the code version and the exact dependency versions are kept
with it. Everything is collected with plain subprocess calls (`git`, `nvidia-smi`, with timeouts)
and `importlib.metadata`, so tracking needs no extra dependency, and every piece degrades to
"unknown" (None / empty) instead of failing the run: a machine without git or a GPU is normal.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openrlb_cli.redact import REDACTED, scrub_text, scrub_url, secret_env_name

GIT_TIMEOUT = 10.0
NVIDIA_SMI_TIMEOUT = 5.0
PYTHON_TIMEOUT = 30.0

# Variables that change what a run computes and are safe to keep; extended with --env-var NAME.
DEFAULT_ENV_VARS = (
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "CUBLAS_WORKSPACE_CONFIG", "OMP_NUM_THREADS",
    "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED", "XLA_PYTHON_CLIENT_PREALLOCATE",
    "XLA_PYTHON_CLIENT_MEM_FRACTION", "MUJOCO_GL",
)

_PYTHON_NAME = re.compile(r"^python(\d+(\.\d+)?)?(\.exe)?$")

# Run by another interpreter to list *its* environment's packages (stdlib only).
_PACKAGES_SNIPPET = (
    "import importlib.metadata as m, json, platform, sys\n"
    "seen = {}\n"
    "for d in m.distributions():\n"
    "    n = d.metadata.get('Name')\n"
    "    if n and n.lower().replace('_', '-') not in seen:\n"
    "        seen[n.lower().replace('_', '-')] = f'{n}=={d.version}'\n"
    "print(json.dumps({'packages': sorted(seen.values(), key=str.lower),"
    " 'python': platform.python_version(), 'executable': sys.executable,"
    " 'implementation': platform.python_implementation()}))\n"
)


def _run(args: list[str], cwd: Path | None = None, timeout: float = GIT_TIMEOUT) -> str | None:
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False, errors="replace")
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


# ---------------------------------------------------------------------------- git
def git_info(where: Path, *, save_diff: bool = False) -> tuple[dict[str, Any] | None, str | None]:
    """(git JSON, diff text or None) for the repository containing `where`; (None, None) outside one."""
    if shutil.which("git") is None:
        return None, None
    folder = where if where.is_dir() else where.parent
    root = _run(["git", "rev-parse", "--show-toplevel"], folder)
    if root is None:
        return None, None
    root_path = Path(root.strip())
    commit = _run(["git", "rev-parse", "HEAD"], root_path)
    branch = _run(["git", "rev-parse", "--abbrev-ref", "HEAD"], root_path)
    remotes = (_run(["git", "remote"], root_path) or "").split()
    name = "origin" if "origin" in remotes else (remotes[0] if remotes else None)
    remote = _run(["git", "remote", "get-url", name], root_path) if name else None
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], root_path)
    untracked = _run(["git", "ls-files", "--others", "--exclude-standard"], root_path)
    diff = _run(["git", "diff", "HEAD", "--no-color", "--no-ext-diff"], root_path) if commit else None
    if commit is None:  # a repository without commits: everything is uncommitted
        diff = _run(["git", "diff", "--cached", "--no-color", "--no-ext-diff"], root_path)
    branch_name = (branch or "").strip() or None
    info: dict[str, Any] = {
        "root": str(root_path),
        "remote": scrub_url(remote.strip()) if remote else None,
        "commit": commit.strip() if commit else None,
        "branch": None if branch_name == "HEAD" else branch_name,
        "dirty": bool(status and status.strip()),
        "untracked_files": len(untracked.splitlines()) if untracked else 0,
        "diff_sha256": hashlib.sha256(diff.encode("utf-8", "surrogateescape")).hexdigest() if diff else None,
    }
    return info, (scrub_text(diff) if save_diff and diff else None)


# ---------------------------------------------------------------------------- system
def gpus() -> list[dict[str, str]]:
    """GPUs as `nvidia-smi` reports them; empty when it is absent or does not answer in time."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    text = _run([exe, "--query-gpu=name,memory.total,driver_version,uuid", "--format=csv,noheader"],
                timeout=NVIDIA_SMI_TIMEOUT)
    out = []
    for line in (text or "").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3 and parts[0]:
            out.append({"name": parts[0], "memory": parts[1], "driver": parts[2]})
    return out


def system_info(python: dict[str, Any] | None = None) -> dict[str, Any]:
    """Python version, platform, hostname, CPU count and GPUs of this machine."""
    py = python or {"version": platform.python_version(), "implementation": platform.python_implementation(),
                    "executable": sys.executable}
    return {
        "python": py,
        "platform": platform.platform(),
        "system": platform.system(),
        "machine": platform.machine(),
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "gpus": gpus(),
    }


# ---------------------------------------------------------------------------- packages
def installed_packages() -> list[str]:
    """`name==version` for every distribution importable here, sorted case-insensitively like
    `pip freeze` (the first distribution of a name on sys.path wins, as for imports)."""
    import importlib.metadata as md

    seen: dict[str, str] = {}
    for dist in md.distributions():
        # metadata is an email Message (typeshed declares its `get` only for Python >= 3.12)
        name = dist.metadata.get("Name")  # type: ignore[attr-defined]
        if not name:
            continue
        canon = re.sub(r"[-_.]+", "-", name).lower()
        if canon not in seen:
            seen[canon] = f"{name}=={dist.version}"
    return sorted(seen.values(), key=str.lower)


def command_python(argv: list[str]) -> str | None:
    """The interpreter a command runs when it is `python ...` and not this one, else None."""
    if not argv or not _PYTHON_NAME.match(Path(argv[0]).name):
        return None
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    if os.path.abspath(exe) == os.path.abspath(sys.executable):
        return None
    return exe


def python_environment(argv: list[str]) -> tuple[dict[str, Any], list[str], str | None]:
    """(python info, packages, warning) for the Python environment the command will run in.

    For `python ...` with another interpreter than openrlb's, that interpreter is asked for its
    packages; anything else (a shell script, a console script) is described by openrlb's own
    environment, which is the usual case of a tool installed into the project's virtualenv."""
    here = {"version": platform.python_version(), "implementation": platform.python_implementation(),
            "executable": sys.executable}
    other = command_python(argv)
    if other is None:
        return here, installed_packages(), None
    text = _run([other, "-c", _PACKAGES_SNIPPET], timeout=PYTHON_TIMEOUT)
    try:
        data = json.loads(text or "")
        py = {"version": data["python"], "implementation": data["implementation"],
              "executable": data["executable"]}
        return py, [str(p) for p in data["packages"]], None
    except (ValueError, KeyError, TypeError):
        return here, installed_packages(), (f"could not list the packages of {other}; "
                                            "recorded openrlb's own environment instead")


# ---------------------------------------------------------------------------- environment
def environment(extra: list[str] | None = None,
                environ: Mapping[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """(allow-listed variables that are set, names refused because they look secret)."""
    environ = os.environ if environ is None else environ
    out: dict[str, str] = {}
    refused: list[str] = []
    for name in dict.fromkeys([*DEFAULT_ENV_VARS, *(extra or [])]):
        if name not in environ:
            continue
        if secret_env_name(name):
            refused.append(name)
            continue
        value = scrub_text(environ[name])
        out[name] = value if REDACTED not in value else REDACTED
    return out, refused
