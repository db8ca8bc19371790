"""The shared contracts of DESIGN §3: ActionChunk, PolicySpec, ChunkPolicy, Environment,
Subscriber.

The sim, the policies, the runtime and the wire all speak only these, so none of them needs
another's package to talk to it. numpy only: this module runs on the board.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from edgevla.features import CAMERAS, JOINT_NAMES

if TYPE_CHECKING:
    from edgevla.runtime.records import EpisodeResult, EpisodeStart, TickRecord

Observation = dict[str, Any]
"""LeRobot feature keys: `observation.state` float32[6], `observation.images.<cam>` uint8[H,W,3],
`task` str."""

FLOAT_FEATURES = "float_features"
"""Key of `PolicySpec.extra`: {feature key: dim} of further float32[dim] inputs a policy needs
besides the state and its cameras (e.g. the sim's `observation.environment_state`). The wire
carries and checks them like the state."""

ACTION_PREFIX = "action_prefix"
"""Key of `PolicySpec.extra`: the longest committed prefix (int, actions) a policy reads. The
control loop then hands it the queue's head with each request, `observation.action_prefix`
float32[k, A] (k = 0 when nothing is queued, e.g. in sync); policies without it get nothing."""


ACTION_RANGE = "action_range"
"""Key of `PolicySpec.extra`: {"min": [A floats], "max": [A floats]}, the range of each action
column in the training data (a checkpoint's action stats). Chunks outside it by more than a
margin are refused before they reach the arm (edgevla.serve.guard); without it, finiteness only."""


class PolicyUnavailable(RuntimeError):
    """No chunk came back and none was computed (a policy server down or restarting): a
    transient failure. The control loop holds the arm and, if the policy has `reconnect()`,
    calls it with backoff off the control thread; any other exception ends the episode."""


@dataclass(frozen=True)
class ActionChunk:
    """actions: float32[T, A] joint targets; `timestep` is the control tick of actions[0],
    i.e. the tick of the observation the chunk was computed from."""

    actions: np.ndarray
    timestep: int

    def __post_init__(self) -> None:
        if self.actions.ndim != 2:
            raise ValueError(f"ActionChunk.actions must be [T, A], got shape {self.actions.shape}")

    def __len__(self) -> int:
        return int(self.actions.shape[0])


@dataclass(frozen=True)
class PolicySpec:
    """What a policy expects and produces; checked at both ends of the wire."""

    chunk_size: int
    fps: float = 30.0
    cameras: tuple[str, ...] = CAMERAS
    image_shape: tuple[int, int] | None = None  # (H, W) the policy was trained on; None = any
    action_names: tuple[str, ...] = JOINT_NAMES
    state_dim: int = len(JOINT_NAMES)
    name: str = "policy"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def action_dim(self) -> int:
        return len(self.action_names)


@runtime_checkable
class ChunkPolicy(Protocol):
    """Anything that maps an observation to a chunk of future actions."""

    spec: PolicySpec

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        """Plan `spec.chunk_size` actions starting at control tick `timestep`."""
        ...

    def reset(self) -> None:
        """Forget any per-episode state (called at the start of every episode)."""
        ...


@runtime_checkable
class Environment(Protocol):
    """The sim and a real robot adapter both implement this."""

    fps: float

    def reset(self, **options: Any) -> Observation: ...

    def step(self, action: np.ndarray) -> tuple[Observation, dict[str, Any]]:
        """Apply float32[6] joint targets for one control period; info has `success`."""
        ...


class Subscriber(Protocol):
    """Told of every episode start, tick and end by the control loop (metrics, plots, the
    dataset recorder). A subscriber may define any subset of these; the loop calls only those
    it finds, so a recorder need not care about ticks' queue details or a plot about ends."""

    def on_episode_start(self, start: EpisodeStart) -> None: ...

    def on_tick(self, record: TickRecord) -> None: ...

    def on_episode_end(self, result: EpisodeResult) -> None: ...


def checked_image(key: str, image: Any, hwc: tuple[int, int, int]) -> np.ndarray:
    """The observation's uint8[H, W, C] image, after checking it against the trained `hwc`:
    one check for every policy (torch or bundle), so both refuse the same input the same way."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{key}: expected a uint8 image, got dtype {image.dtype}")
    if image.shape != tuple(hwc):
        raise ValueError(
            f"{key}: expected image shape {tuple(hwc)} (H, W, C) as the policy was trained, "
            f"got {image.shape}; images are not resized"
        )
    return image


def checked_vector(key: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The observation's vector as a new float32 array, after checking its shape and dtype."""
    array = np.asarray(value)
    if array.shape != tuple(shape) or not np.issubdtype(array.dtype, np.number):
        raise ValueError(
            f"{key}: expected float32{list(shape)}, got {array.dtype}{list(array.shape)}"
        )
    return array.astype(np.float32, copy=True)
