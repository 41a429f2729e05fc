"""Line styles that stay with a label: the palette, the markers, and the style book beside the store.

Why a module without matplotlib: `openrlb aggregate` assigns styles in its main process, which never
imports matplotlib (its figures are drawn in worker processes), and the book is plain JSON.

A label's slot (0-15) picks its colour from the Okabe–Ito colour-blind-safe palette and its marker
(filled for slots 0-7, hollow and shifted for 8-15), so 8+ lines stay distinguishable in greyscale.
The CLI keeps every label's slot in ``<store>.styles.json`` (first come, first served), so a label
looks the same in every figure and every selection of that store; a hash of the name would give two
of eight lines the same colour about a third of the time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

#: Okabe & Ito (2008) colour-blind-safe palette, most distinct first (yellow last: faint on white).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
STYLE_SLOTS = 2 * len(PALETTE)  # filled markers, then hollow shifted markers


def assign_slots(labels: Sequence[str], known: Mapping[str, int] | None = None) -> dict[str, int]:
    """label -> style slot for one figure.

    A label with a slot in ``known`` (the store's style book, `load_style_book`) keeps it; the
    others take, in order, the lowest slot that neither the book nor this figure uses (once all
    `STYLE_SLOTS` are in the book: the lowest this figure does not use). If two labels of the figure
    share a slot in the book, the second one takes a free slot for this figure only. Without a book
    the slots follow the order of ``labels``.
    """
    known = known or {}
    out: dict[str, int] = {}
    used: set[int] = set()
    for label in labels:
        slot = known.get(label)
        if slot is not None and slot not in used:
            out[label] = slot
            used.add(slot)
    booked = set(known.values())
    for label in labels:
        if label in out:
            continue
        fresh = [k for k in range(STYLE_SLOTS) if k not in used and k not in booked]
        slot = fresh[0] if fresh else next(k for k in range(len(used) + 1) if k not in used)
        out[label] = slot
        used.add(slot)
    return {label: out[label] for label in labels}


STYLE_BOOK_VERSION = 1


def style_book_path(store_path: Path) -> Path:
    """The style book beside a store: ``openrlb.db`` -> ``openrlb.styles.json``."""
    return store_path.with_name(store_path.stem + ".styles.json")


def load_style_book(path: Path) -> dict[str, int]:
    """label -> slot from a style book (empty when missing or unreadable: styles are never an error)."""
    import json

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        slots = doc.get("slots", {}) if isinstance(doc, dict) else {}
        return {str(k): int(v) for k, v in slots.items() if isinstance(v, int) and v >= 0}
    except (OSError, ValueError, AttributeError):
        return {}


def update_style_book(path: Path, labels: Sequence[str]) -> dict[str, int]:
    """Give every label not yet in the book a slot (`assign_slots`) and write the book back.

    Returns the book's slots. Writing is best effort (atomic rename; a read-only folder keeps the
    assignment for this figure only), so a figure never fails because of it.
    """
    import json
    import os

    book = load_style_book(path)
    new = {k: v for k, v in assign_slots([lbl for lbl in labels if lbl not in book], book).items()}
    if not new:
        return book
    book.update(new)
    doc = {"version": STYLE_BOOK_VERSION,
           "about": "openrlb: the colour/marker slot of each line label, kept so a label looks the same in every "
                    "figure; edit a slot (0-15) to change it, or pin a colour with --color LABEL=COLOR",
           "slots": dict(sorted(book.items()))}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
    return book


def colors_of(labels: Sequence[str], slots: Mapping[str, int] | None = None,
              pinned: Mapping[str, str] | None = None) -> dict[str, str]:
    """label -> colour (a palette hex, or the pinned colour), without importing matplotlib."""
    out = {label: PALETTE[slot % len(PALETTE)] for label, slot in assign_slots(labels, slots).items()}
    out.update({k: v for k, v in (pinned or {}).items() if k in out})
    return out


def check_pinned(pinned: Mapping[str, str], labels: Sequence[str]) -> None:
    """Pinned colours must name lines and be colours matplotlib knows (ValueError otherwise)."""
    from matplotlib.colors import is_color_like

    unknown = [k for k in pinned if k not in labels]
    if unknown:
        raise ValueError(f"no line labelled {unknown[0]!r} (lines: {', '.join(labels)})")
    bad = [v for v in pinned.values() if not is_color_like(v)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a colour (e.g. '#0072B2', 'tab:blue', 'C3')")


#: Readable names of the usual metric keys, for y labels (the full key goes into the caption).
METRIC_LABELS = {"charts/episodic_return": "Episodic return", "episodic_return": "Episodic return",
                 "rollout/ep_rew_mean": "Mean episode reward", "eval/mean_reward": "Mean evaluation reward",
                 "evaluations/mean_reward": "Mean evaluation reward", "r": "Episode reward",
                 "test/reward": "Test reward", "test/rew": "Test reward", "rew": "Return", "Value": "Return"}


def short_metric_label(metric: str) -> str:
    """A short y label: a known key's name, else the last part of the key with spaces (``a/b_c`` -> 'B c');
    several keys (``a | b``): 'Return'."""
    if " | " in metric:
        return "Return"
    if metric in METRIC_LABELS:
        return METRIC_LABELS[metric]
    last = metric.rsplit("/", 1)[-1].replace("_", " ").strip() or metric
    return last[0].upper() + last[1:]


#: What a step column's name says the steps count.
STEP_AXIS_LABELS = {"env_steps": "Environment steps", "env_step": "Environment steps",
                    "global_step": "Environment steps", "timesteps": "Environment steps",
                    "total_timesteps": "Environment steps", "time/total_timesteps": "Environment steps",
                    "iteration": "Iterations", "iterations": "Iterations", "frame": "Frames", "frames": "Frames",
                    "epoch": "Epochs", "episode": "Episodes", "episodes": "Episodes", "_step": "Logged steps (_step)",
                    "step": "Steps"}


def step_axis_label(names: Sequence[str]) -> str:
    """The x label for runs whose steps count ``names`` (one per run, see `selection.step_axes`):
    their common meaning, else 'Steps'."""
    meanings = {STEP_AXIS_LABELS.get(n.lower(), STEP_AXIS_LABELS.get(n, n)) for n in names}
    return meanings.pop() if len(meanings) == 1 else "Steps"


__all__ = ["MARKERS", "PALETTE", "STYLE_SLOTS", "assign_slots", "check_pinned", "colors_of", "load_style_book",
           "short_metric_label", "step_axis_label", "style_book_path", "update_style_book"]
