"""Extra float inputs declared by a spec (PolicySpec.extra["float_features"]) travel and are
checked like the state; a spec with no cameras is served; the client sends only what the
policy declares."""

from __future__ import annotations

import numpy as np
import pytest
from serve_fakes import EchoPolicy, RawClient, infer_request

from edgevla.contracts import FLOAT_FEATURES, PolicySpec
from edgevla.features import STATE_KEY, TASK_KEY, image_key
from edgevla.serve import RemoteError, RemotePolicy, ServerUnavailable
from edgevla.serve.schema import float_features

pytestmark = pytest.mark.timeout(30)
ENV = "observation.environment_state"
SPEC = PolicySpec(chunk_size=4, cameras=(), name="blind", extra={FLOAT_FEATURES: {ENV: 3}})


def observation(**extra) -> dict:
    obs = {STATE_KEY: np.arange(6, dtype=np.float32), ENV: np.ones(3, np.float32), TASK_KEY: "t"}
    obs.update(extra)
    return obs


class SeeingEcho(EchoPolicy):
    """Records the keys of every observation in `keys` (shared with its per-session forks)."""

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.keys: list[str] = []

    def predict_chunk(self, observation, timestep=0):
        self.keys[:] = sorted(observation)
        return super().predict_chunk(observation, timestep)


def test_declared_float_features_arrive_and_extra_keys_stay_on_the_robot(serve):
    policy = SeeingEcho(SPEC)
    server = serve({"blind": policy})
    with RemotePolicy(server.address, SPEC) as client:
        assert client.spec == SPEC
        obs = observation(**{image_key("top"): np.zeros((8, 8, 3), np.uint8), "debug": 1.0})
        chunk = client.predict_chunk(obs, 5)
    assert chunk.timestep == 5 and chunk.actions.shape == (4, 6)
    assert policy.keys == [ENV, STATE_KEY, TASK_KEY]  # the camera and the rest were not sent


def test_missing_or_wrong_float_features_are_rejected_at_both_ends(serve):
    server = serve({"blind": EchoPolicy(SPEC)})
    with RemotePolicy(server.address, SPEC) as client:
        with pytest.raises(ValueError, match=r"missing \['observation.environment_state'\]"):
            client.predict_chunk({STATE_KEY: np.zeros(6, np.float32)}, 0)
        with pytest.raises(ValueError, match=r"environment_state: expected float32\[3\], got"):
            client.predict_chunk(observation(**{ENV: np.zeros(4, np.float32)}), 0)
    raw = RawClient(server.address)
    try:
        session = raw.open(SPEC)
        bad = observation(**{ENV: np.array([0, np.nan, 0], np.float32)})
        with pytest.raises(Exception, match="environment_state must be finite"):
            raw.infer(infer_request(session, bad))
    finally:
        raw.close()


def test_a_robot_expecting_other_float_features_is_refused(serve):
    server = serve({"blind": EchoPolicy(SPEC)})
    other = PolicySpec(chunk_size=4, cameras=(), extra={FLOAT_FEATURES: {ENV: 7}})
    with pytest.raises(RemoteError, match=r"float_features: robot sends \{.*: 7\}, policy needs"):
        RemotePolicy(server.address, other).connect(timeout=5)


def test_float_features_must_be_well_formed():
    assert float_features(SPEC) == {ENV: 3}
    assert float_features(PolicySpec(chunk_size=1)) == {}
    with pytest.raises(ValueError, match="must map feature keys to positive dims"):
        float_features(PolicySpec(chunk_size=1, extra={FLOAT_FEATURES: {ENV: 0}}))
    with pytest.raises(ValueError, match="must map feature keys to positive dims"):
        float_features(PolicySpec(chunk_size=1, extra={FLOAT_FEATURES: {STATE_KEY: 6}}))


def test_remote_policy_errors_are_the_runtimes_policy_unavailable():
    from edgevla.contracts import PolicyUnavailable

    assert issubclass(ServerUnavailable, PolicyUnavailable)
