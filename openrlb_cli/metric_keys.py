"""The episodic-return keys that logging tools write, in the order a run's metric is chosen by.

Its own module so that the command line can name them in `--help` without importing the
selection machinery (start-up time); `selection` applies the rule.
"""

from __future__ import annotations

DEFAULT_METRIC = "charts/episodic_return"
METRIC_FALLBACKS: tuple[str, ...] = (
    "charts/episodic_return",  # CleanRL
    "rollout/ep_rew_mean",  # Stable-Baselines3 progress / TensorBoard
    "r",  # SB3 monitor.csv episode return
    "episodic_return",  # MLflow / generic
    "test/reward",  # Tianshou
    "rew",  # Tianshou benchmark CSVs
)
