"""RetrySchedule: the one loop of "try until it works or the attempts run out", on a fake
wait (no sleeping): the waits it asks for, when it stops, what it raises."""

import pytest

from edgevla.contracts import PolicyUnavailable
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.retry import RetrySchedule


class Attempts:
    """Fails with PolicyUnavailable `failures` times, then returns the number of calls."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise PolicyUnavailable(f"down (call {self.calls})")
        return self.calls


class FakeWait:
    """Records the waits; says stop once `budget` waits were granted."""

    def __init__(self, budget: int = 100) -> None:
        self.budget, self.waits = budget, []

    def __call__(self, seconds: float) -> bool:
        if len(self.waits) >= self.budget:
            return False
        self.waits.append(seconds)
        return True


def test_waits_grow_by_factor_up_to_the_cap_between_failures():
    attempt, wait = Attempts(failures=5), FakeWait()
    assert RetrySchedule(0.1, 2.0, 1.0).retry(attempt, wait=wait) == 6
    assert wait.waits == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0])


def test_after_a_failure_the_first_attempt_waits_too():
    wait, failed = FakeWait(), []
    result = RetrySchedule(0.1, 2.0, 1.0).retry(
        Attempts(failures=1), wait=wait, after=PolicyUnavailable("gone"),
        on_failure=lambda n, e: failed.append((n, str(e))),
    )  # fmt: skip
    assert result == 2 and wait.waits == pytest.approx([0.1, 0.2])
    assert failed == [(1, "down (call 1)")]


def test_max_attempts_or_a_stopped_wait_raise_the_last_failure():
    attempt = Attempts(failures=10)
    with pytest.raises(PolicyUnavailable, match="call 3"):
        RetrySchedule(max_attempts=3).retry(attempt, wait=FakeWait())
    assert attempt.calls == 3
    attempt, wait = Attempts(failures=10), FakeWait(budget=2)
    with pytest.raises(PolicyUnavailable, match="call 3"):
        RetrySchedule().retry(attempt, wait=wait)  # no max: the wait (a deadline) stops it
    assert attempt.calls == 3 and len(wait.waits) == 2
    with pytest.raises(PolicyUnavailable, match="gone"):  # interrupted before any attempt
        RetrySchedule().retry(Attempts(0), wait=FakeWait(budget=0), after=PolicyUnavailable("gone"))


def test_other_errors_are_never_retried():
    def broken() -> None:
        raise KeyError("a bug")

    wait = FakeWait()
    with pytest.raises(KeyError):
        RetrySchedule().retry(broken, wait=wait)
    assert wait.waits == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial_s": 0}, "initial_s <= max_s"),
        ({"initial_s": 3.0}, "initial_s <= max_s"),
        ({"factor": 0.5}, "factor >= 1"),
        ({"attempt_timeout_s": 0}, "attempt_timeout_s"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_bad_schedules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RetrySchedule(**kwargs)


def test_runtime_config_carries_the_schedule():
    assert RuntimeConfig(latency="0").retry == RetrySchedule()
    with pytest.raises(TypeError, match="RetrySchedule"):
        RuntimeConfig(latency="0", retry={"initial_s": 1.0})
