"""TensorBoard event-file reading speed: openrlb's reader vs tbparse, measured in the same run.

    python benchmarks/bench_tfevents.py [--tags 20] [--steps 30000] [--repeat 5] [--no-tbparse]

Writes a `simple_value` event file (tags x steps scalars, ~35 MB by default) with our writer, then
times `read_scalars` with CRC checks on and off (numpy CRC kernel, and the C package when installed),
the streaming `iter_scalar_batches`, a TF2-style tensor-scalar file (generic decode path), and
`tbparse.SummaryReader(...).scalars` on the same file, checking that both find the same points.

tbparse (and the tensorboard it wraps) are benchmark-only: `pip install tbparse tensorboard`.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from openrlb_cli.ingest.tensorboard import crc32c as crcmod
from openrlb_cli.ingest.tensorboard.events import iter_scalar_batches, read_scalars, write_scalars


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, result = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def make_file(path: Path, n_tags: int, n_steps: int, encoding: str = "simple_value") -> int:
    tags = [f"charts/metric_{i:02d}" if i % 2 else f"losses/loss_{i:02d}" for i in range(n_tags)]
    pts = (
        (tag, s * 512, math.sin(s * 0.01 + i), 1.7e9 + s * 0.25) for s in range(n_steps) for i, tag in enumerate(tags)
    )
    write_scalars(path, pts, encoding=encoding)
    return n_tags * n_steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tags", type=int, default=20)
    ap.add_argument("--steps", type=int, default=30_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-tbparse", action="store_true", help="skip the (slow) tbparse baseline")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.out.tfevents.1700000000.bench"
        t0 = time.perf_counter()
        n = make_file(path, args.tags, args.steps)
        size = path.stat().st_size
        print(
            f"file: {n:,} scalars ({args.tags} tags x {args.steps} steps), {size / 1e6:.1f} MB, "
            f"written in {time.perf_counter() - t0:.2f} s"
        )
        print(f"CRC32C backend available: {crcmod.BACKEND}")

        def ours(check_crc: bool) -> object:
            return read_scalars(path, check_crc=check_crc)

        rows = []
        t_crc, batch = best_of(lambda: ours(True), args.repeat)
        rows.append(("read_scalars, CRC on (default backend)", t_crc))
        t_nocrc, _ = best_of(lambda: ours(False), args.repeat)
        rows.append(("read_scalars, CRC off", t_nocrc))
        if crcmod._C is not None:
            saved, crcmod._C = crcmod._C, None
            try:
                rows.append(("read_scalars, CRC on (numpy kernel forced)", best_of(lambda: ours(True), args.repeat)[0]))
            finally:
                crcmod._C = saved
        t_iter, _ = best_of(
            lambda: sum(len(v[0]) for b in iter_scalar_batches(path, chunk_bytes=8 << 20) for v in b.tags.values()),
            args.repeat,
        )
        rows.append(("iter_scalar_batches(chunk 8 MB), CRC on", t_iter))
        assert sum(len(v[0]) for v in batch.tags.values()) == n  # type: ignore[attr-defined]

        tensor_path = Path(tmp) / "events.out.tfevents.1700000000.tensor"
        n_tensor = make_file(tensor_path, args.tags, max(1, args.steps // 10), encoding="tensor_float")
        t_tensor, _ = best_of(lambda: read_scalars(tensor_path), max(1, args.repeat // 2))

        for label, t in rows:
            print(f"  {label:<46} {t * 1e3:8.1f} ms  {n / t / 1e6:6.2f} M scalars/s  {size / t / 1e6:7.1f} MB/s")
        print(
            f"  {'TF2-style tensor scalars (tensor_float), CRC on':<46} {t_tensor * 1e3:8.1f} ms  "
            f"{n_tensor / t_tensor / 1e6:6.2f} M scalars/s  ({n_tensor:,} scalars)"
        )

        if args.no_tbparse:
            return
        try:
            from tbparse import SummaryReader
        except ImportError:
            print("tbparse not installed: pip install tbparse tensorboard  (benchmark-only dependency)")
            return
        t0 = time.perf_counter()
        df = SummaryReader(str(path), pivot=False).scalars
        t_tb = time.perf_counter() - t0
        print(f"  {'tbparse SummaryReader(...).scalars':<46} {t_tb * 1e3:8.1f} ms  {n / t_tb / 1e6:6.2f} M scalars/s")
        assert len(df) == n, (len(df), n)
        for tag, group in df.groupby("tag", sort=False):
            steps, values, _ = batch.tags[tag]  # type: ignore[attr-defined]
            assert np.array_equal(group["step"].to_numpy(np.float64), steps)
            assert np.allclose(group["value"].to_numpy(np.float64), values)
        print("tbparse and openrlb found the same points")
        print(f"speed-up vs tbparse: {t_tb / t_crc:.1f}x with CRC checks, {t_tb / t_nocrc:.1f}x without")


if __name__ == "__main__":
    main()
