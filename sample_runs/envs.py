"""Three small environments in plain Python, so the sample runs need no gym and no torch.

`CartPole-v1` and `MountainCar-v0` follow Gym's classic-control dynamics with the standard
constants and time limits (500 and 200 steps). `FrozenPond-v0` is our own FrozenLake-like grid.

Why not `math.sin`/`numpy.cos`: the sample logs are committed and a test regenerates them and
compares bytes. Transcendental functions come from the platform's libm (or numpy's SIMD kernels)
and may differ in the last bit between machines, and a chaotic learning run amplifies that bit
into a different curve. `det_sin`, `det_cos`, `det_exp` and `det_log` use only +, -, *, / and `ldexp`/`frexp`, which
IEEE 754 defines exactly, so every machine computes the same numbers.
"""

from __future__ import annotations

import math

import numpy as np

_HALF_PI = 1.5707963267948966
_LN2 = 0.6931471805599453


def _sin_poly(r: float) -> float:
    """Taylor series of sin on |r| <= pi/4 up to r**15 (error below 1e-16)."""
    r2 = r * r
    p = -1.0 / 1307674368000.0
    for c in (1.0 / 6227020800.0, -1.0 / 39916800.0, 1.0 / 362880.0, -1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0):
        p = p * r2 + c
    return r + r * r2 * p


def _cos_poly(r: float) -> float:
    """Taylor series of cos on |r| <= pi/4 up to r**16."""
    r2 = r * r
    p = 1.0 / 20922789888000.0
    for c in (
        -1.0 / 87178291200.0,
        1.0 / 479001600.0,
        -1.0 / 3628800.0,
        1.0 / 40320.0,
        -1.0 / 720.0,
        1.0 / 24.0,
        -0.5,
    ):
        p = p * r2 + c
    return 1.0 + r2 * p


def det_sin(x: float) -> float:
    k = round(x / _HALF_PI)
    r = x - k * _HALF_PI
    q = k % 4
    if q == 0:
        return _sin_poly(r)
    if q == 1:
        return _cos_poly(r)
    if q == 2:
        return -_sin_poly(r)
    return -_cos_poly(r)


def det_cos(x: float) -> float:
    k = round(x / _HALF_PI)
    r = x - k * _HALF_PI
    q = k % 4
    if q == 0:
        return _cos_poly(r)
    if q == 1:
        return -_sin_poly(r)
    if q == 2:
        return -_cos_poly(r)
    return _sin_poly(r)


def det_exp(x: float) -> float:
    x = min(max(x, -700.0), 700.0)
    k = round(x / _LN2)
    r = x - k * _LN2
    p = 1.0 / 6227020800.0
    for c in (
        1.0 / 479001600.0,
        1.0 / 39916800.0,
        1.0 / 3628800.0,
        1.0 / 362880.0,
        1.0 / 40320.0,
        1.0 / 5040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ):
        p = p * r + c
    return math.ldexp(p, k)


def det_log(x: float) -> float:
    """Natural log of x > 0: x = m * 2**e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh((m-1)/(m+1))."""
    m, e = math.frexp(x)  # exact; m in [0.5, 1)
    if m < 0.7071067811865476:
        m, e = 2.0 * m, e - 1
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = 1.0 / 23.0
    for k in range(21, 0, -2):
        p = p * s2 + 1.0 / k
    return e * _LN2 + 2.0 * s * p


class CartPole:
    """Gym's CartPole-v1: Euler integration, tau=0.02, +1 per step, 12 degrees / 2.4 m, 500 steps."""

    env_id = "CartPole-v1"
    n_actions = 2
    max_steps = 500
    # bounds for tile coding (velocities are clipped into these)
    low = (-2.4, -3.0, -0.2095, -3.5)
    high = (2.4, 3.0, 0.2095, 3.5)

    gravity = 9.8
    masscart = 1.0
    masspole = 0.1
    total_mass = masspole + masscart
    length = 0.5
    polemass_length = masspole * length
    force_mag = 10.0
    tau = 0.02
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.state = (0.0, 0.0, 0.0, 0.0)
        self.t = 0

    def reset(self) -> tuple[float, ...]:
        self.state = tuple(float(v) for v in self.rng.uniform(-0.05, 0.05, size=4))
        self.t = 0
        return self.state

    def step(self, action: int) -> tuple[tuple[float, ...], float, bool, bool]:
        """Returns (state, reward, terminated, truncated)."""
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        costheta = det_cos(theta)
        sintheta = det_sin(theta)
        temp = (force + self.polemass_length * theta_dot * theta_dot * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta * costheta / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        self.state = (x, x_dot, theta, theta_dot)
        self.t += 1
        terminated = (
            x < -self.x_threshold
            or x > self.x_threshold
            or theta < -self.theta_threshold
            or theta > self.theta_threshold
        )
        return self.state, 1.0, terminated, (not terminated) and self.t >= self.max_steps


class MountainCar:
    """Gym's MountainCar-v0: -1 per step until the car reaches x >= 0.5, 200 steps."""

    env_id = "MountainCar-v0"
    n_actions = 3
    max_steps = 200
    low = (-1.2, -0.07)
    high = (0.6, 0.07)

    min_position = -1.2
    max_position = 0.6
    max_speed = 0.07
    goal_position = 0.5
    force = 0.001
    gravity = 0.0025

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.state = (0.0, 0.0)
        self.t = 0

    def reset(self) -> tuple[float, ...]:
        self.state = (float(self.rng.uniform(-0.6, -0.4)), 0.0)
        self.t = 0
        return self.state

    def step(self, action: int) -> tuple[tuple[float, ...], float, bool, bool]:
        position, velocity = self.state
        velocity += (action - 1) * self.force + det_cos(3 * position) * (-self.gravity)
        velocity = min(max(velocity, -self.max_speed), self.max_speed)
        position += velocity
        position = min(max(position, self.min_position), self.max_position)
        if position == self.min_position and velocity < 0:
            velocity = 0.0
        self.state = (position, velocity)
        self.t += 1
        terminated = position >= self.goal_position and velocity >= 0
        return self.state, -1.0, terminated, (not terminated) and self.t >= self.max_steps


FROZEN_POND_MAP = (
    "SFFFFF",
    "FFFFHF",
    "FHFFFF",
    "FFFHFF",
    "HFFFFF",
    "FFFHFG",
)


class FrozenPond:
    """A FrozenLake-like 6x6 grid: S start, F ice, H hole (ends, reward 0), G goal (ends, reward 1).

    Moves slip: the chosen direction with probability 0.8, each perpendicular one with 0.1.
    Actions as in FrozenLake: 0 left, 1 down, 2 right, 3 up. Episodes end after 100 steps.
    """

    env_id = "FrozenPond-v0"
    n_actions = 4
    max_steps = 100
    slip = 0.1
    _moves = ((0, -1), (1, 0), (0, 1), (-1, 0))

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.rows = len(FROZEN_POND_MAP)
        self.cols = len(FROZEN_POND_MAP[0])
        self.n_states = self.rows * self.cols
        self.pos = 0
        self.t = 0

    def reset(self) -> int:
        self.pos = 0
        self.t = 0
        return self.pos

    def step(self, action: int) -> tuple[int, float, bool, bool]:
        u = self.rng.random()
        if u < self.slip:
            action = (action - 1) % 4
        elif u < 2 * self.slip:
            action = (action + 1) % 4
        r, c = divmod(self.pos, self.cols)
        dr, dc = self._moves[action]
        r = min(max(r + dr, 0), self.rows - 1)
        c = min(max(c + dc, 0), self.cols - 1)
        self.pos = r * self.cols + c
        self.t += 1
        cell = FROZEN_POND_MAP[r][c]
        terminated = cell in "HG"
        reward = 1.0 if cell == "G" else 0.0
        return self.pos, reward, terminated, (not terminated) and self.t >= self.max_steps
