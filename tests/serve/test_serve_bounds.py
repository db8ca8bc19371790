"""Bounded everything: echoes clipped in statuses and logs, repeated warnings throttled, client
JSON capped (deep JSON is INVALID_ARGUMENT, never INTERNAL), per-host request rates, and a
message limit derived from the policy's spec."""

from __future__ import annotations

import json
import logging

import grpc
import numpy as np
import pytest
from serve_fakes import SPEC, EchoPolicy, infer_request, make_observation

from edgevla.features import STATE_KEY
from edgevla.serve import RemotePolicy, ServerUnavailable
from edgevla.serve.bounds import (
    MAX_JSON_BYTES,
    MESSAGE_CHARS,
    JsonRejected,
    RateLimiter,
    Throttle,
    clip,
    parse_json_object,
)
from edgevla.serve.limits import MIB, ServeLimits
from edgevla.serve.proto import policy_service_pb2 as pb
from edgevla.serve.tensors import fill_raw

pytestmark = pytest.mark.timeout(60)
Code = grpc.StatusCode
HUGE = "x" * 1_000_000


def test_clip_keeps_short_values_and_says_how_long_long_ones_were():
    assert clip("top") == "'top'"
    text = clip(HUGE)
    assert len(text) <= 240 and "1000002 chars, clipped" in text


@pytest.mark.parametrize(
    ("text", "cap"),
    [
        ("[" * 100_000 + "]" * 100_000, "at most"),  # never reaches the parser
        ("[" * 3000 + "]" * 3000, "nested deeper"),  # the parser's own recursion limit
        (json.dumps({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}), "deeper"),
        (json.dumps({str(i): i for i in range(600)}), "more than 512 JSON keys"),
        ("[1, 2]", "expected a JSON object, got list"),
        ("{not json", "expected a JSON object"),
    ],
)
def test_client_json_beyond_the_caps_is_rejected_with_the_cap_named(text, cap):
    with pytest.raises(JsonRejected, match=cap):
        parse_json_object(text, "expected.extra_json")


def test_throttle_and_rate_limiter_count_on_their_clock():
    now = [0.0]
    throttle = Throttle(1.0, clock=lambda: now[0])
    assert throttle.admit("k") == 0
    assert [throttle.admit("k") for _ in range(5)] == [None] * 5
    now[0] = 1.5
    assert throttle.admit("k") == 5  # the line let through says how many were held back
    limiter = RateLimiter(rate=10, burst=3, max_keys=2, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    now[0] += 0.1  # one token back
    assert limiter.allow("a") and not limiter.allow("a")
    limiter.allow("b")
    limiter.allow("c")  # "a" forgotten: the table never outgrows max_keys
    assert len(limiter._buckets) == 2


def _status(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value


def test_a_megabyte_name_costs_a_short_status_and_one_short_log_line(serve, raw_client, caplog):
    server = serve({"echo": EchoPolicy()})
    raw = raw_client(server.address)
    with caplog.at_level(logging.INFO, logger="edgevla.serve"):
        for _ in range(30):
            e = _status(lambda: raw.open(policy=HUGE))
            assert e.code() == Code.NOT_FOUND and len(e.details()) <= MESSAGE_CHARS
        e = _status(lambda: raw.open(SPEC, policy="echo", client_name="c" * 300, task=HUGE))
        assert e.code() == Code.INVALID_ARGUMENT
        sid = raw.open(SPEC)
        request = infer_request(sid, make_observation())
        fill_raw(request.observation["k" * 100_000], np.zeros(1, np.float32))
        e = _status(lambda: raw.infer(request))
        assert e.code() == Code.INVALID_ARGUMENT and len(e.details()) <= MESSAGE_CHARS
    lines = [r.getMessage() for r in caplog.records]
    assert max(len(line) for line in lines) <= MESSAGE_CHARS + 100
    assert sum("OpenSession -> NOT_FOUND" in line for line in lines) == 1  # 30 calls, 1 line


def test_deep_or_huge_extra_json_is_invalid_argument_and_the_server_keeps_serving(
    serve, raw_client
):
    server = serve({"echo": EchoPolicy()})
    raw = raw_client(server.address)
    for text in ("[" * 100_000, "[" * 3000 + "]" * 3000, '{"a": 1' + ", " * MAX_JSON_BYTES):
        request = pb.OpenSessionRequest(policy="echo")
        request.expected.extra_json = text
        e = _status(lambda r=request: raw.stub.OpenSession(r, timeout=5))
        assert e.code() == Code.INVALID_ARGUMENT, e.details()
        assert "extra_json" in e.details()
    with RemotePolicy(server.address, SPEC) as client:
        assert client.predict_chunk(make_observation(), 1).timestep == 1


def test_over_the_host_rate_is_busy_and_the_client_treats_it_as_unavailable(serve):
    server = serve({"echo": EchoPolicy()}, limits=ServeLimits(peer_rate=5, peer_burst=5))
    client = RemotePolicy(server.address, SPEC)
    client.connect()
    outcomes = []
    for t in range(20):
        try:
            outcomes.append(client.predict_chunk(make_observation(), t).timestep)
        except ServerUnavailable as e:
            assert "busy: more than 5 requests/s" in str(e)
            outcomes.append("busy")
    assert outcomes.count("busy") >= 10 and outcomes[0] == 0
    client.close()


def test_the_message_limit_is_derived_from_the_spec(serve, raw_client):
    server = serve({"echo": EchoPolicy()})
    image, floats = 2 * 24 * 32 * 3, 6 + 8 * 6
    assert server.max_bytes == 2 * (image + 4 * floats) + MIB
    raw = raw_client(server.address)
    request = infer_request(raw.open(SPEC), make_observation())
    fill_raw(request.observation[STATE_KEY], np.zeros(MIB // 2, np.float32))  # 2 MiB
    e = _status(lambda: raw.infer(request))
    assert e.code() == Code.RESOURCE_EXHAUSTED
    assert ServeLimits(max_message_mb=4).max_message_bytes([SPEC]) == 4 * MIB
