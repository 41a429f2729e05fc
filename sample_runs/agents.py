"""Small learning agents (NumPy + plain Python) whose curves really go up, fast enough for CI.

- `q_learning` / `sarsa_lambda`: linear action values over tile-coded features (Sutton & Barto
  ch. 10/12). Sarsa(lambda) keeps accumulating traces over the last `trace_len` steps only (a ring
  of feature indices), which is exact up to (gamma*lambda)**trace_len and avoids touching the
  whole weight vector every step.
- `tabular_q_learning` / `expected_sarsa`: tabular control on the FrozenPond grid.
- `reinforce`: REINFORCE with a softmax-linear policy and a running-mean baseline on CartPole.

Every run gets its own `np.random.default_rng(seed)` for the environment and exploration, and a
separate generator for the fake clock, so timings never change what is learned. Wall times come
from `FakeClock` (a fixed start plus simulated step durations), never from `time.time()`, so
regenerating writes the same bytes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sample_runs.envs import CartPole, FrozenPond, det_exp, det_log


@dataclass
class Episode:
    step: int  # global step when the episode ended
    ret: float
    length: int
    wall: float  # seconds since epoch (fake)


@dataclass
class Stat:
    step: int
    wall: float
    values: dict[str, float]  # ints (counters) are kept as int for SB3-style CSV cells


@dataclass
class RunLog:
    algo: str
    env_id: str
    seed: int
    hyperparams: dict[str, Any]
    start_time: float
    episodes: list[Episode] = field(default_factory=list)
    stats: list[Stat] = field(default_factory=list)
    end_time: float = 0.0

    def returns(self) -> np.ndarray:
        return np.array([e.ret for e in self.episodes])


class FakeClock:
    """Simulated wall clock: `step_seconds` per env step, jittered +-10% per stretch between reads."""

    def __init__(self, start: float, step_seconds: float, seed: int) -> None:
        self.now = start
        self.start = start
        self.step = 0
        self.step_seconds = step_seconds
        self._rng = np.random.default_rng([seed, 97])

    def at(self, global_step: int) -> float:
        """The fake time when `global_step` steps are done (call with increasing steps)."""
        if global_step > self.step:
            jitter = 1.0 + 0.1 * (2.0 * float(self._rng.random()) - 1.0)
            self.now += (global_step - self.step) * self.step_seconds * jitter
            self.step = global_step
        return self.now

    def sps(self, global_step: int) -> int:
        return int(global_step / max(self.now - self.start, 1e-9))


class TileCoder:
    """`n_tilings` offset grids of `tiles_per_dim` intervals over a box (asymmetric offsets)."""

    def __init__(self, low: tuple[float, ...], high: tuple[float, ...], n_tilings: int, tiles_per_dim: int):
        self.low = [float(v) for v in low]
        self.scale = [tiles_per_dim / (float(h) - float(lo)) for lo, h in zip(low, high, strict=True)]
        dims = len(low)
        self.n_tilings = n_tilings
        self.side = tiles_per_dim + 1
        self.top = tiles_per_dim - 1e-9  # scaled values stay below n, offset ones below n + 1
        odd = np.arange(dims) * 2 + 1  # displacement 1, 3, 5, ... as Sutton & Barto recommend
        self.offsets = (np.arange(n_tilings)[:, None] * odd[None, :] % n_tilings) / n_tilings
        self.radix = self.side ** np.arange(dims)
        self.per_tiling = self.side**dims
        self.base = np.arange(n_tilings) * self.per_tiling
        self.n_features = n_tilings * self.per_tiling

    def tiles(self, state: tuple[float, ...]) -> np.ndarray:
        """Feature index of the active tile in each tiling (states outside the box are clipped)."""
        scaled = [
            min(max((x - lo) * k, 0.0), self.top) for x, lo, k in zip(state, self.low, self.scale, strict=True)
        ]
        coords = (np.array(scaled) + self.offsets).astype(np.int64)  # non-negative, so truncation floors
        return self.base + coords @ self.radix


def train_linear_td(algo: str, env_cls: type, seed: int, hp: dict[str, Any], start: float) -> RunLog:
    """Tile-coded Q-learning (`q_learning`) or Sarsa(lambda) (`sarsa_lambda`) for `total_timesteps`."""
    rng = np.random.default_rng(seed)
    env = env_cls(rng)
    coder = TileCoder(env.low, env.high, hp["num_tilings"], hp["tiles_per_dim"])
    n_act = env.n_actions
    nf = coder.n_features
    w = np.zeros(n_act * nf + 1)  # the last weight is a sink for empty trace slots
    sink = n_act * nf
    alpha = hp["learning_rate"] / coder.n_tilings
    gamma = hp["gamma"]
    sarsa = algo == "sarsa_lambda"
    trace_len = hp.get("trace_len", 1) if sarsa else 1
    # coef[pos] weights ring slot i by (gamma*lambda)**age, age = (pos - i) mod trace_len
    ages = (np.arange(trace_len)[:, None] - np.arange(trace_len)[None, :]) % trace_len
    coef = np.repeat((gamma * hp.get("lam", 0.0)) ** ages, coder.n_tilings, axis=1)
    ring = np.full(trace_len * coder.n_tilings, sink, dtype=np.int64)
    n_til = coder.n_tilings
    act_off = (np.arange(n_act) * nf)[:, None]
    eps_steps = hp["exploration_fraction"] * hp["total_timesteps"]

    log = RunLog(algo, env.env_id, seed, hp, start)
    clock = FakeClock(start, hp["step_seconds"], seed)

    def policy(q: list[float], eps: float) -> int:
        if rng.random() < eps:
            return int(rng.integers(n_act))
        return q.index(max(q))  # the first maximum, as np.argmax

    def values(feats: np.ndarray) -> list[float]:
        return w[act_off + feats].sum(axis=1).tolist()

    start_e, end_e = hp["start_e"], hp["end_e"]
    state = env.reset()
    feats = coder.tiles(state)
    action = policy(values(feats), start_e)
    ep_ret, ep_len, pos = 0.0, 0, 0
    td_sq, q_sum, n_stat = 0.0, 0.0, 0
    for global_step in range(1, hp["total_timesteps"] + 1):
        eps = end_e if global_step >= eps_steps else start_e + (end_e - start_e) * global_step / eps_steps
        state, reward, terminated, truncated = env.step(action)
        ep_ret += reward
        ep_len += 1
        idx = feats + action * nf
        q_sa = float(w[idx].sum())  # with the current weights, as in Sutton & Barto's boxes
        if terminated:
            target = reward
        else:
            feats2 = coder.tiles(state)
            q2 = values(feats2)
            if sarsa:
                action2 = policy(q2, eps)
                target = reward + gamma * q2[action2]
            else:
                target = reward + gamma * max(q2)
        delta = target - q_sa
        if sarsa:
            pos = (pos + 1) % trace_len
            ring[pos * n_til : (pos + 1) * n_til] = idx
            np.add.at(w, ring, coef[pos] * (alpha * delta))
            w[sink] = 0.0
        else:
            w[idx] += alpha * delta
        td_sq += delta * delta
        q_sum += q_sa
        n_stat += 1
        if terminated or truncated:
            log.episodes.append(Episode(global_step, ep_ret, ep_len, clock.at(global_step)))
            ep_ret, ep_len = 0.0, 0
            ring.fill(sink)
            state = env.reset()
            feats = coder.tiles(state)
            action = policy(values(feats), eps)
        else:  # the next action was chosen from the values before this update, as in Sutton & Barto
            feats = feats2
            action = action2 if sarsa else policy(q2, eps)
        if global_step % hp["log_frequency"] == 0:
            now = clock.at(global_step)
            vals = {"losses/td_loss": td_sq / n_stat, "losses/q_values": q_sum / n_stat}
            vals["charts/SPS"] = float(clock.sps(global_step))
            log.stats.append(Stat(global_step, now, vals))
            td_sq, q_sum, n_stat = 0.0, 0.0, 0
    log.end_time = clock.now
    return log


def train_tabular(algo: str, seed: int, hp: dict[str, Any], start: float) -> RunLog:
    """Tabular `q_learning` or `expected_sarsa` on FrozenPond for `total_episodes` episodes."""
    rng = np.random.default_rng(seed)
    env = FrozenPond(rng)
    n_act = env.n_actions
    q = [[hp["q_init"]] * n_act for _ in range(env.n_states)]
    alpha, gamma, eps = hp["learning_rate"], hp["gamma"], hp["epsilon"]
    log = RunLog(algo, env.env_id, seed, hp, start)
    clock = FakeClock(start, hp["step_seconds"], seed)

    def policy(s: int) -> int:
        if rng.random() < eps:
            return int(rng.integers(n_act))
        row = q[s]
        return row.index(max(row))

    global_step = 0
    for _ in range(hp["total_episodes"]):
        s = env.reset()
        ep_ret, ep_len, done = 0.0, 0, False
        while not done:
            a = policy(s)
            s2, reward, terminated, truncated = env.step(a)
            global_step += 1
            ep_ret += reward
            ep_len += 1
            if terminated:
                target = reward
            elif algo == "expected_sarsa":
                row = q[s2]
                best = max(row)
                greedy = row.index(best)
                expect = sum(row) * eps / n_act + (1.0 - eps) * row[greedy]
                target = reward + gamma * expect
            else:
                target = reward + gamma * max(q[s2])
            q[s][a] += alpha * (target - q[s][a])
            s = s2
            done = terminated or truncated
        log.episodes.append(Episode(global_step, ep_ret, ep_len, clock.at(global_step)))
    log.end_time = clock.now
    return log


def train_reinforce(seed: int, hp: dict[str, Any], start: float) -> RunLog:
    """REINFORCE with a softmax-linear policy on CartPole, one update per episode.

    Features are the state scaled by its usual range plus a bias; the return-to-go is normalised
    within each episode (a common baseline). Every `log_interval` updates a row of SB3-style
    `rollout/*`, `time/*` and `train/*` statistics is recorded in `stats`.
    """
    rng = np.random.default_rng(seed)
    env = CartPole(rng)
    n_act, dim = env.n_actions, 5
    scale = (1 / 2.4, 1 / 3.0, 1 / 0.2095, 1 / 3.5)
    theta = [[0.0] * dim for _ in range(n_act)]
    lr, gamma = hp["learning_rate"], hp["gamma"]
    log = RunLog("reinforce", env.env_id, seed, hp, start)
    clock = FakeClock(start, hp["step_seconds"], seed)
    recent: deque[Episode] = deque(maxlen=100)  # SB3's ep_info_buffer
    global_step, n_updates = 0, 0
    train_stats: dict[str, float] = {}  # the last update's statistics
    while global_step < hp["total_timesteps"]:
        s = env.reset()
        feats: list[list[float]] = []
        probs: list[list[float]] = []
        actions: list[int] = []
        rewards: list[float] = []
        done = False
        while not done:
            phi = [v * k for v, k in zip(s, scale, strict=True)] + [1.0]
            logits = [sum(t * f for t, f in zip(row, phi, strict=True)) for row in theta]
            top = max(logits)
            ex = [det_exp(v - top) for v in logits]
            z = sum(ex)
            p = [v / z for v in ex]
            u = rng.random()
            a = 0 if u < p[0] else n_act - 1 if n_act == 2 else _sample(p, u)
            s, reward, terminated, truncated = env.step(a)
            feats.append(phi)
            probs.append(p)
            actions.append(a)
            rewards.append(reward)
            global_step += 1
            done = terminated or truncated
        length = len(rewards)
        ep = Episode(global_step, float(sum(rewards)), length, clock.at(global_step))
        log.episodes.append(ep)
        recent.append(ep)
        n_iter = len(log.episodes)
        if (n_iter - 1) % hp["log_interval"] == 0:
            # SB3 dumps rollout/time stats before training, with the train/* values of the last
            # update (none yet on the first row)
            row = {
                "time/fps": clock.sps(global_step),
                "time/iterations": n_iter,
                "rollout/ep_rew_mean": sum(e.ret for e in recent) / len(recent),
                "rollout/ep_len_mean": sum(e.length for e in recent) / len(recent),
                "time/total_timesteps": global_step,
                "time/time_elapsed": int(ep.wall - start),
                **train_stats,
            }
            log.stats.append(Stat(global_step, ep.wall, row))
        loss, entropy = _reinforce_update(theta, feats, probs, actions, rewards, lr, gamma)
        n_updates += 1
        train_stats = {
            "train/learning_rate": lr,
            "train/policy_loss": loss,
            "train/entropy_loss": -entropy,
            "train/n_updates": n_updates,
        }
    log.end_time = clock.now
    return log


def _reinforce_update(theta: list[list[float]], feats: list[list[float]], probs: list[list[float]],
                      actions: list[int], rewards: list[float], lr: float, gamma: float) -> tuple[float, float]:
    """One gradient-ascent step on the mean over steps of adv_t * grad log pi(a_t|s_t).

    Returns the policy loss -mean(adv_t * log pi(a_t|s_t)) and the mean policy entropy."""
    length = len(rewards)
    g, rets = 0.0, [0.0] * length
    for t in range(length - 1, -1, -1):
        g = rewards[t] + gamma * g
        rets[t] = g
    mean = sum(rets) / length
    std = math.sqrt(sum((r - mean) ** 2 for r in rets) / length)
    adv = [(r - mean) / (std + 1e-8) for r in rets]
    n_act, dim = len(theta), len(theta[0])
    loss, entropy = 0.0, 0.0
    grad = [[0.0] * dim for _ in range(n_act)]
    for phi, p, a, av in zip(feats, probs, actions, adv, strict=True):
        loss -= av * det_log(max(p[a], 1e-12))
        entropy -= sum(pi * det_log(max(pi, 1e-12)) for pi in p)
        for b in range(n_act):
            c = av * ((1.0 if b == a else 0.0) - p[b])
            row = grad[b]
            for i in range(dim):
                row[i] += c * phi[i]
    for b in range(n_act):
        for i in range(dim):
            theta[b][i] += lr * grad[b][i] / length
    return loss / length, entropy / length


def _sample(p: list[float], u: float) -> int:
    acc = 0.0
    for i, pi in enumerate(p):
        acc += pi
        if u < acc:
            return i
    return len(p) - 1
