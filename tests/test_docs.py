"""The docs tell the truth about the code: every command and option is in the generated reference, the
generated pages are current, and no page names a path of one development machine.

The strict MkDocs build itself runs in .ci/run (it needs the `docs` extra, not part of `test`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from openrlb_cli.cli import app

ROOT = Path(__file__).resolve().parents[1]
CLI_PAGE = ROOT / "docs" / "reference" / "cli.md"


def _commands() -> list[tuple[str, object]]:
    out = []

    def walk(cmd, path):
        out.append((" ".join(["openrlb", *path]), cmd))
        for name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
            if not getattr(sub, "hidden", False):
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return out


def _sections() -> dict[str, str]:
    """The reference page cut at each command heading: `openrlb plot` -> its text."""
    text = CLI_PAGE.read_text()
    parts = re.split(r"^#{2,4} `(openrlb[^`]*)`\n", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_generated_pages_are_current():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr + " (run: python scripts/gen_docs.py)"


@pytest.mark.parametrize("title,cmd", _commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_and_option_is_documented(title, cmd):
    sections = _sections()
    assert title in sections, f"{title} is missing from docs/reference/cli.md: run python scripts/gen_docs.py"
    for param in cmd.params:
        if getattr(param, "hidden", False):
            continue
        for opt in [*param.opts, *param.secondary_opts]:
            if param.param_type_name == "argument":
                opt = (param.metavar or param.name or "").upper()
            assert f"`{opt}`" in sections[title], f"{title} {opt} is undocumented: run python scripts/gen_docs.py"


def test_no_paths_of_a_development_machine():
    docs = [p for p in (ROOT / "docs").rglob("*.md") if "_incoming" not in p.parts]  # fragments: folded in later
    files = [ROOT / "README.md", ROOT / "CHANGELOG.md", *docs, *(ROOT / "benchmarks").rglob("*"),
             *(ROOT / "scripts").rglob("*.py")]
    pattern = re.compile(r"(?<![\w.~$])/(?:work|root|home|tmp|Users)/")
    found = [f"{f.relative_to(ROOT)}:{n}" for f in files if f.is_file() and f.suffix in (".md", ".py", ".txt", "")
             for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1) if pattern.search(line)]
    assert not found, found


def test_readme_is_a_front_page():
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) <= 12 * 1024
    assert "<!-- ci:setup -->" in text and "<!-- ci:test -->" in text
    for link in re.findall(r"\]\(((?:docs/)[^)#]+)", text):
        assert (ROOT / link).exists(), link
