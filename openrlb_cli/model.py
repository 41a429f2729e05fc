"""The common run/curve model every source produces and the store persists.

Sources (file readers, W&B, MLflow) turn their native shapes into `RunRecord` objects holding
`Series`; the store never needs to know where a run came from beyond `source` + `external_id`,
which make ingestion idempotent: the same (source, external_id) always maps to the same run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike


def _f64(a: Any) -> np.ndarray:
    import numpy as np  # here, not at the top: run listings (and the CLI's start-up) never need it

    return np.ascontiguousarray(np.asarray(a, dtype=np.float64))


@dataclass(init=False)
class Series:
    """Points of one metric key: steps, values and wall times (seconds since epoch, NaN if unknown).

    Steps are float64 so fractional x-axes (e.g. evaluations) survive; integer steps below 2**53
    are exact. `wall_times` is always an array after construction (all NaN when not given), so
    the constructor takes it as optional while the attribute is not.
    """

    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray

    def __init__(self, steps: ArrayLike, values: ArrayLike, wall_times: ArrayLike | None = None) -> None:
        import numpy as np

        self.steps = _f64(steps)
        self.values = _f64(values)
        self.wall_times = np.full(self.steps.shape, np.nan) if wall_times is None else _f64(wall_times)
        if not (self.steps.shape == self.values.shape == self.wall_times.shape) or self.steps.ndim != 1:
            raise ValueError(
                f"series arrays must be 1-D and equally long, got {self.steps.shape}, "
                f"{self.values.shape}, {self.wall_times.shape}"
            )

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    @classmethod
    def empty(cls) -> Series:
        import numpy as np

        return cls(np.empty(0), np.empty(0), np.empty(0))

    def concat(self, other: Series) -> Series:
        import numpy as np

        return Series(
            np.concatenate([self.steps, other.steps]),
            np.concatenate([self.values, other.values]),
            np.concatenate([self.wall_times, other.wall_times]),
        )


# Run fields a source may set; anything None is left as it is in the store on update.
RUN_FIELDS = (
    "project",
    "name",
    "experiment",
    "env",
    "seed",
    "state",
    "user",
    "url",
    "created_at",
    "updated_at",
)


@dataclass
class RunRecord:
    """A run as a source sees it. `series` holds only points not yet in the store (or all of them)."""

    source: str
    external_id: str
    project: str | None = None
    name: str | None = None
    experiment: str | None = None
    env: str | None = None
    seed: int | None = None
    state: str | None = None
    user: str | None = None
    url: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    # A restart marker (TensorBoard's SessionLog.START, as `SummaryWriter(purge_step=s)` writes) was
    # read before these series: the run's points stored before it, at steps >= this, are preempted.
    restart_at: float | None = None

    def add_points(self, key: str, series: Series) -> None:
        """Add points to a key, appending if the key already has some."""
        if key in self.series:
            self.series[key] = self.series[key].concat(series)
        else:
            self.series[key] = series

    @property
    def n_points(self) -> int:
        return sum(len(s) for s in self.series.values())


@dataclass
class RunInfo:
    """A run as stored: what queries return (no points)."""

    id: int
    uid: str
    project: str
    name: str | None
    experiment: str | None
    env: str | None
    seed: int | None
    state: str | None
    user: str | None
    url: str | None
    source: str
    external_id: str
    created_at: float | None
    updated_at: float | None
    tags: list[str]
    config: dict[str, Any]
    summary: dict[str, Any]
    note: str | None = None  # free text the user wrote (`openrlb set --note`)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SeriesInfo:
    """Per-series statistics kept beside the points so listings need not decode them."""

    run_id: int
    key: str
    n_points: int
    step_min: float | None
    step_max: float | None
    last_value: float | None
    last_wall_time: float | None
