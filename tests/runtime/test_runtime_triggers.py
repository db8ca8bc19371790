import pytest

from edgevla.runtime.triggers import LatencyAwareTrigger, make_trigger


def ask(trigger, queue_size, *, chunk_size=100, in_flight=False, fps=30.0):
    return trigger.should_request(
        queue_size=queue_size, chunk_size=chunk_size, in_flight=in_flight, fps=fps
    )


def test_sync_requests_only_on_empty_queue_with_nothing_in_flight():
    t = make_trigger("sync")
    assert t.blocking
    assert ask(t, 0)
    assert not ask(t, 1)
    assert not ask(t, 0, in_flight=True)


def test_threshold_boundary_is_inclusive():
    t = make_trigger("threshold", threshold=0.2)
    assert ask(t, 20)  # 20/100 == 0.2
    assert not ask(t, 21)
    assert not ask(t, 0, in_flight=True)
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\], got 1.5"):
        make_trigger("threshold", threshold=1.5)


def test_latency_aware_requests_when_queue_covers_latency_plus_margin():
    # (0.3 + 0.1) s * 30 fps = 12 actions
    t = make_trigger("latency_aware", initial_latency_s=0.3, margin_s=0.1)
    assert t.request_point(30.0) == 12
    assert ask(t, 12)
    assert not ask(t, 13)
    assert not ask(t, 5, in_flight=True)
    assert t.request_point(10.0) == 4  # same seconds, fewer ticks


def test_latency_aware_request_point_rounds_up_to_whole_ticks():
    # 0.32 s at 30 fps = 9.6 ticks: the chunk lands at tick 10, so 10 actions must be queued
    t = LatencyAwareTrigger(0.32, margin_s=0.0)
    assert t.request_point(30.0) == 10
    assert LatencyAwareTrigger(0.1, margin_s=0.1).request_point(30.0) == 6  # not 7 from 6.000001


def test_latency_aware_learns_p95_of_window():
    t = LatencyAwareTrigger(1.0, margin_s=0.0, percentile=95, window=20, min_samples=5)
    # fewer than min_samples: never below the initial estimate, never below a slow measurement
    t.observe_latency(0.1)
    assert t.predicted_latency() == 1.0
    t.observe_latency(1.5)
    assert t.predicted_latency() == 1.5
    for _ in range(18):
        t.observe_latency(0.2)
    # window now holds 0.1, 1.5, 18 x 0.2 -> p95 interpolates between 0.2 and 1.5
    assert 0.2 < t.predicted_latency() < 1.5
    for _ in range(20):
        t.observe_latency(0.2)  # the slow one left the window
    assert t.predicted_latency() == pytest.approx(0.2)
    assert t.request_point(30.0) == 6


def test_latency_aware_rejects_negative_latency():
    t = LatencyAwareTrigger(0.3)
    with pytest.raises(ValueError, match="latency must be >= 0"):
        t.observe_latency(-0.1)


def test_unknown_trigger_and_bad_options_are_clear():
    with pytest.raises(ValueError, match="unknown trigger 'eager'.*sync, threshold, latency_aware"):
        make_trigger("eager")
    with pytest.raises(ValueError, match="bad options for trigger 'sync'"):
        make_trigger("sync", threshold=0.5)
