import pytest

from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.subscribers import QueueSizeRecorder, plot_queue_size
from edgevla.runtime.toy import LinePolicy, PointEnv


class Log:
    """Defines only some of the hooks: the others must simply not be called."""

    def __init__(self):
        self.events = []

    def on_episode_start(self, start):
        self.events.append(("start", start.trigger, start.aggregator, start.virtual_time))

    def on_episode_end(self, result):
        self.events.append(("end", result.success))


def run_with(subscribers, trigger="latency_aware"):
    loop = ControlLoop(
        PointEnv(goal=3.0),
        LinePolicy(chunk_size=40),
        RuntimeConfig(trigger=trigger, latency="0.32"),
        subscribers=subscribers,
    )
    return loop.run_episode(max_ticks=1000)


def test_queue_recorder_sees_the_sawtooth():
    rec, log = QueueSizeRecorder(), Log()
    r = run_with([rec, log])
    assert log.events == [("start", "latency_aware", "crossfade", True), ("end", True)]
    assert rec.ticks == list(range(r.ticks))
    assert len(rec.request_ticks) == r.inferences
    assert len(rec.arrival_ticks) == r.chunks_received
    # every chunk lands 10 ticks after its request
    assert all(a - q == 10 for q, a in zip(rec.request_ticks, rec.arrival_ticks, strict=False))
    # requests happen when the queue is low (request point: ceil((0.32 + 0.1) * 30) = 13)
    assert all(rec.sizes[t - 1] <= 13 for t in rec.request_ticks[1:])
    assert max(rec.sizes) == 40 - 1 - 0  # first chunk: 40 queued, one popped on arrival
    assert not rec.starved_ticks


def test_recorder_resets_between_episodes():
    rec = QueueSizeRecorder()
    run_with([rec])
    r = run_with([rec], trigger="sync")
    assert rec.trigger == "sync" and len(rec.ticks) == r.ticks


def test_plot_queue_size_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    rec = QueueSizeRecorder()
    run_with([rec])
    path = plot_queue_size(rec, tmp_path / "plots" / "queue.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no ticks"):
        plot_queue_size(QueueSizeRecorder(), tmp_path / "empty.png")
