"""The action guard: non-finite chunks, and chunks outside the spec's action range by more
than the margin, never reach the arm — refused by the server, and by the robot if a server
sends one anyway (counted, logged once, raised as an outage so the arm holds)."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
from serve_fakes import SPEC, EchoPolicy, make_observation

from edgevla.contracts import ACTION_RANGE, ActionChunk, PolicyUnavailable
from edgevla.serve import RemoteError, RemotePolicy
from edgevla.serve.errors import UnsafeChunk
from edgevla.serve.guard import MARGIN, ActionGuard

pytestmark = pytest.mark.timeout(30)
LOW, HIGH = [-10.0] * 6, [10.0] * 6
RANGED = dataclasses.replace(SPEC, extra={ACTION_RANGE: {"min": LOW, "max": HIGH}})


def test_without_a_range_only_finiteness_is_checked():
    guard = ActionGuard.for_spec(SPEC)
    assert not guard.checks_range
    assert guard.problem(np.full((4, 6), 1e6, np.float32)) is None
    bad = np.zeros((4, 6), np.float32)
    bad[2, 3] = np.inf
    assert "non-finite actions (NaN or inf), first at [2, 3]" in guard.problem(bad)


def test_a_range_allows_the_margin_and_refuses_beyond_it():
    guard = ActionGuard.for_spec(RANGED)
    inside = np.full((4, 6), 10.0 + 20 * MARGIN * 0.99, np.float32)
    assert guard.problem(inside) is None
    wild = inside.copy()
    wild[1, 5] = 10.0 + 20 * MARGIN * 1.01
    assert "outside the policy's range: [1, 5]" in guard.problem(wild)


@pytest.mark.parametrize(
    "declared",
    [{"min": LOW}, {"min": LOW[:5], "max": HIGH}, {"min": HIGH, "max": LOW}, "0..1"],
)
def test_a_malformed_range_is_an_error_never_silently_off(declared):
    with pytest.raises(ValueError, match=ACTION_RANGE):
        ActionGuard.for_spec(dataclasses.replace(SPEC, extra={ACTION_RANGE: declared}))


class Wild(EchoPolicy):
    """Every chunk has one value far outside RANGED's action range."""

    def predict_chunk(self, observation, timestep=0):
        actions = np.zeros((8, 6), np.float32)
        actions[3, 1] = 1e3
        return ActionChunk(actions, timestep)


def test_the_server_refuses_a_wild_chunk_counts_it_and_logs_once(serve, caplog):
    server = serve({"wild": Wild(RANGED)})
    with (
        caplog.at_level(logging.DEBUG, logger="edgevla.serve.worker"),
        RemotePolicy(server.address, RANGED) as client,
    ):
        for t in range(3):
            with pytest.raises(RemoteError, match=r"outside the policy's range: \[3, 1\]"):
                client.predict_chunk(make_observation(), t)
    assert server.workers["wild"].refused == 3
    refusals = [r for r in caplog.records if "refused a chunk" in r.getMessage()]
    assert [r.levelno for r in refusals] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    statuses = [r for r in caplog.records if "Infer -> INTERNAL" in r.getMessage()]
    assert len(statuses) == 1  # the status line is throttled to one a second


def test_the_robot_refuses_a_wild_chunk_a_server_sent_anyway(serve):
    server = serve({"wild": Wild(RANGED)})
    server.workers["wild"].guard = ActionGuard()  # a server that does not check
    with RemotePolicy(server.address, RANGED) as client:
        with pytest.raises(UnsafeChunk, match="outside the policy's range") as e:
            client.predict_chunk(make_observation(), 0)
        assert isinstance(e.value, PolicyUnavailable)  # the control loop holds the arm
        assert client.refused_chunks == 1 and client.last_timing is None
