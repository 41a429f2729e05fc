"""openrlb: a local-first experiment tracker and learning-curve fetcher for RL research."""

__version__ = "0.1.0"
