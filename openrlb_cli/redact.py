"""Keep secrets out of the store: scrub command lines, environment variables and free text.

Why: a tracked run stores its command line, some environment variables and optionally a git diff,
and the store file is meant to be shared. API keys and tokens reach those places easily
(`--api-key X`, `WANDB_API_KEY=... python train.py`, a key pasted into a script). So everything
`openrlb track` stores passes through here first, and a value is dropped when either

- its *name* looks secret: the option / variable name contains KEY, TOKEN, SECRET, PASSWORD,
  PASSWD, PWD, AUTH or CREDENTIAL as a word (`--api-key`, `--wandb_token`, `hf.token=`); for
  environment variable names a plain substring is enough (`MONKEYPATCH_KEY` counts), or
- its *value* looks like a credential: a known token prefix (`sk-`, `ghp_`, `hf_`, `xoxb-`,
  `AKIA`, `glpat-`, JWTs), 32+ hex digits, or 32+ base64 characters that mix upper case, lower
  case and digits the way random strings do (identifiers like `CartPole-v1__ppo__1__1700000000`
  do not), or
- it is literally the value of a secret-named variable in the current environment.

The heuristics err on the side of dropping: a redacted value is replaced by `[REDACTED]`.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Mapping

REDACTED = "[REDACTED]"

SECRET_WORDS = frozenset({
    "key", "apikey", "token", "secret", "password", "passwd", "pwd", "passphrase", "auth",
    "credential", "credentials",
})
_ENV_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_KNOWN_TOKEN = re.compile(
    r"(?:sk-[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|xox[abposr]-[A-Za-z0-9\-]{10,}"
    r"|AKIA[0-9A-Z]{16}|hf_[A-Za-z0-9]{20,}|glpat-[\w\-]{20,}|eyJ[\w\-]{8,}\.[\w\-]{8,}\.[\w\-]{8,})"
)
_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])")
_B64 = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{32,}={0,2}")
_ASSIGN = re.compile(r"^(?P<name>[A-Za-z_][\w.\-]*)=(?P<value>.*)$", re.DOTALL)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][\w+.\-]*://)[^/@\s]+@")


def secret_name(name: str) -> bool:
    """An option or key name (`--api-key`, `wandb.api_key`, `apiKey`) whose value is a secret."""
    words = {w.lower() for w in _WORD_SPLIT.split(name) if w}
    return bool(words & SECRET_WORDS)


def secret_env_name(name: str) -> bool:
    """Environment variable names: any KEY/TOKEN/SECRET/PASSWORD/... substring counts."""
    return bool(_ENV_SECRET.search(name))


def _entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _class(ch: str) -> int:
    return 0 if ch.isupper() else 1 if ch.islower() else 2 if ch.isdigit() else 3


def _random_looking(s: str) -> bool:
    core = s.rstrip("=").replace("/", "")  # path separators are not randomness
    if not (any(c.isdigit() for c in core) and any(c.islower() for c in core) and any(c.isupper() for c in core)):
        return False
    switches = sum(_class(a) != _class(b) for a, b in zip(core, core[1:], strict=False)) / (len(core) - 1)
    return switches >= 0.4 and _entropy(core) >= 3.5


def looks_secret(value: str) -> bool:
    """True when the value contains something that looks like a key or token."""
    return scrub_text(value, env_secrets=()) != value


def env_secret_values(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Values of secret-named variables in the environment (6+ characters, longest first)."""
    environ = os.environ if environ is None else environ
    values = {v for k, v in environ.items() if secret_env_name(k) and len(v) >= 6}
    return tuple(sorted(values, key=len, reverse=True))


def scrub_text(text: str, env_secrets: tuple[str, ...] | None = None) -> str:
    """Replace token-looking substrings (and the environment's secret values) by `[REDACTED]`."""
    for value in env_secret_values() if env_secrets is None else env_secrets:
        text = text.replace(value, REDACTED)
    text = _URL_USERINFO.sub(r"\g<scheme>", text)
    text = _KNOWN_TOKEN.sub(REDACTED, text)
    text = _HEX.sub(REDACTED, text)
    return _B64.sub(lambda m: REDACTED if _random_looking(m.group(0)) else m.group(0), text)


def scrub_argv(argv: list[str], env_secrets: tuple[str, ...] | None = None) -> list[str]:
    """The command line with secret option values, secret `NAME=value` words and tokens redacted."""
    secrets = env_secret_values() if env_secrets is None else env_secrets
    out: list[str] = []
    redact_next = False
    for word in argv:
        if redact_next:
            redact_next = False
            if not word.startswith("-") or _is_number(word):
                out.append(REDACTED)
                continue
        if word.startswith("-") and not _is_number(word):
            name, eq, _value = word.partition("=")
            if secret_name(name):
                if eq:
                    out.append(f"{name}={REDACTED}")
                    continue
                redact_next = True
            out.append(scrub_text(word, secrets))
            continue
        m = _ASSIGN.match(word)
        if m and secret_name(m["name"]):
            out.append(f"{m['name']}={REDACTED}")
            continue
        out.append(scrub_text(word, secrets))
    return out


def scrub_value(key: str, value: object, env_secrets: tuple[str, ...] | None = None) -> object:
    """A config value: redacted when its key is secret-named or its text looks like a token."""
    if secret_name(key):
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value, env_secrets)
    if isinstance(value, list):
        return [scrub_value("", v, env_secrets) for v in value]
    return value


def scrub_url(url: str | None) -> str | None:
    """A git remote without `user:token@`."""
    if url is None:
        return None
    return _URL_USERINFO.sub(r"\g<scheme>", url)


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


_CONFIG_SECRET = re.compile(r"api[_\-.]?key|token|secret|password|passwd|credential", re.IGNORECASE)


def scrub_config(config: dict[str, object]) -> dict[str, object]:
    """Config read from logs or fetched: values under credential-like names (`wandb_api_key`,
    `hf_token`) and values that are known token formats are redacted. Narrower than `scrub_value`:
    logged configs legitimately hold commit hashes and names such as `obs_key`."""
    out: dict[str, object] = {}
    for key, value in config.items():
        if _CONFIG_SECRET.search(key):
            out[key] = REDACTED
        elif isinstance(value, str) and _KNOWN_TOKEN.search(value):
            out[key] = _KNOWN_TOKEN.sub(REDACTED, value)
        else:
            out[key] = value
    return out
