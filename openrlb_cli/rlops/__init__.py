"""Open RL Benchmark compatibility: its filter syntax, its calculations, its outputs and figures."""
