"""Stable-Baselines3 / RL Zoo logs: Monitor files, progress.csv/json, evaluations.npz."""
