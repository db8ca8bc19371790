"""The dataset recorder: a control-loop subscriber that writes every episode it watches.

Each tick's frame is the observation the policy acted on (state and cameras) and the target
the loop commanded for it — for a noisy execution (DART) the target, not the pushed arm's
command. At the episode's end the recorder keeps it (a `DatasetWriter` episode, crash-safe
from then on) or discards it: demonstrations keep only successes, rollouts of a policy keep
every episode with its `success` in the episode's meta, failures being the point.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgevla.features import IMAGE_KEY_PREFIX, STATE_KEY

if TYPE_CHECKING:  # the recorder only reads the loop's records: no runtime import
    from edgevla.dataset.writer import DatasetWriter
    from edgevla.runtime.records import EpisodeResult, EpisodeStart, TickRecord

SUCCESS_META = "success"  # per-episode meta key of a kept rollout's outcome


@dataclass(frozen=True)
class RecordedEpisode:
    """What became of the last episode: `index` in the dataset, None when discarded."""

    success: bool
    frames: int
    index: int | None


class DatasetRecorder:
    """Subscriber: frames into `writer`, saved or discarded at each episode end.

    keep_failed: False for demonstrations (a failed one is dropped, the caller may retry it),
    True for rollouts (all kept, each with `success` in its meta). judge(result, reached):
    the episode's success, `reached` telling whether the environment reported success at any
    tick; default the loop's own `result.success`. Call `next_episode(meta)` before each
    episode with the meta to store for it.
    """

    def __init__(
        self,
        writer: DatasetWriter,
        task: str,
        *,
        keep_failed: bool,
        judge: Callable[[EpisodeResult, bool], bool] | None = None,
    ) -> None:
        self.writer = writer
        self.task = task
        self.keep_failed = bool(keep_failed)
        self.judge = judge if judge is not None else (lambda result, reached: result.success)
        self.reached = False
        self.last: RecordedEpisode | None = None
        self._meta: dict[str, Any] = {}

    def next_episode(self, meta: Mapping[str, Any]) -> None:
        self._meta = dict(meta)

    def on_episode_start(self, start: EpisodeStart) -> None:
        self.writer.discard_episode()  # nothing half-recorded carries over
        self.reached = False
        self.last = None

    def on_tick(self, record: TickRecord) -> None:
        obs = record.observation
        self.writer.add_frame(
            state=obs[STATE_KEY],
            action=record.action,
            images={k: v for k, v in obs.items() if k.startswith(IMAGE_KEY_PREFIX)},
        )
        self.reached |= bool(record.info["success"])

    def on_episode_end(self, result: EpisodeResult) -> None:
        success = bool(self.judge(result, self.reached))
        frames = self.writer.episode_frames
        if frames == 0 or not (success or self.keep_failed):
            self.writer.discard_episode()
            self.last = RecordedEpisode(success, 0, None)
            return
        meta = {**self._meta, SUCCESS_META: success} if self.keep_failed else self._meta
        index = self.writer.save_episode(self.task, meta)
        self.last = RecordedEpisode(success, frames, index)
