"""Statistics for comparing RL experiments (rliable's definitions, Agarwal et al. 2021).

Pure functions on numpy arrays — no SQL, no CLI. Score arrays are ``(runs, tasks)`` for final
scores or ``(runs, tasks, points)`` for curves, NaN marking a missing run (see ``_layout``).
Modules: ``normalize``, ``estimators``, ``bootstrap``, ``profiles``, ``improvement``,
``efficiency``; ``curves`` holds learning-curve arithmetic (grids, interpolation).
"""
