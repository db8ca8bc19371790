"""Fakes and helpers shared by the edgevla.serve tests (imported by name: conftest puts this
directory on sys.path; the unique module name avoids clashes with other packages' tests)."""

from __future__ import annotations

import copy
import os
import threading

import grpc
import numpy as np

from edgevla.contracts import ActionChunk, PolicySpec
from edgevla.features import STATE_KEY, TASK_KEY, image_key
from edgevla.serve.auth import bearer_metadata
from edgevla.serve.proto import policy_service_pb2 as pb
from edgevla.serve.proto import policy_service_pb2_grpc as pb_grpc

SPEC = PolicySpec(chunk_size=8, fps=30.0, cameras=("top", "gripper"), image_shape=(24, 32))


def make_observation(spec: PolicySpec = SPEC, seed: int = 0, task: str = "pick") -> dict:
    """A valid observation for `spec`: float32 state, uint8[H, W, 3] per camera, task."""
    rng = np.random.default_rng(seed)
    h, w = spec.image_shape or (24, 32)
    obs: dict = {STATE_KEY: rng.normal(size=spec.state_dim).astype(np.float32), TASK_KEY: task}
    for cam in spec.cameras:
        obs[image_key(cam)] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return obs


class EchoPolicy:
    """Chunk row t = state + t, so a test can tell which observation a chunk came from;
    records every (timestep, task, image checksum) it saw. The server gives each session a
    `fork()`: its own reset count, the same `seen`/`images` records (the test's view of all
    sessions); `forks` lists them."""

    def __init__(self, spec: PolicySpec = SPEC) -> None:
        self.spec = spec
        self.seen: list[tuple[int, str]] = []
        self.images: list[dict[str, np.ndarray]] = []
        self.resets = 0
        self.forks: list[EchoPolicy] = []

    def fork(self) -> EchoPolicy:
        child = copy.copy(self)
        child.resets, child.forks = 0, []
        self.forks.append(child)
        return child

    def predict_chunk(self, observation, timestep: int = 0) -> ActionChunk:
        self.seen.append((timestep, observation[TASK_KEY]))
        self.images.append({k: v for k, v in observation.items() if k.startswith("observation.i")})
        state = observation[STATE_KEY]
        steps = np.arange(self.spec.chunk_size, dtype=np.float32)[:, None]
        return ActionChunk(state[None, :] + steps, timestep)

    def reset(self) -> None:
        self.resets += 1


class GatedPolicy(EchoPolicy):
    """Blocks inside predict_chunk until `gate` is set; `entered` fires on each call."""

    def __init__(self, spec: PolicySpec = SPEC) -> None:
        super().__init__(spec)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def predict_chunk(self, observation, timestep: int = 0) -> ActionChunk:
        self.entered.set()
        if not self.gate.wait(20):
            raise TimeoutError("test gate never opened")
        return super().predict_chunk(observation, timestep)


class Counter:
    """Stateful: chunk value = calls since reset (no fork(), so the server deep-copies it)."""

    spec = SPEC

    def __init__(self) -> None:
        self.calls = 0

    def reset(self) -> None:
        self.calls = 0

    def predict_chunk(self, observation, timestep=0):
        self.calls += 1
        return ActionChunk(np.full((8, 6), self.calls, np.float32), timestep)


class PixelPolicy(EchoPolicy):
    """Row t = state + t + the mean of every image: a chunk that shows whether every array
    of the observation arrived intact (worker processes get them through a pipe)."""

    def predict_chunk(self, observation, timestep: int = 0) -> ActionChunk:
        chunk = super().predict_chunk(observation, timestep)
        means = sum(float(v.mean()) for k, v in sorted(observation.items()) if "images" in k)
        return ActionChunk((chunk.actions + np.float32(means)).astype(np.float32), timestep)


FAIL_LOAD_ENV = "EDGEVLA_TEST_FAIL_LOAD"


def counter_unless_told_to_fail() -> Counter:
    """A worker-process factory that refuses to load while FAIL_LOAD_ENV is set (a worker
    inherits the environment when it starts: a test sets it to make restarts fail)."""
    if os.environ.get(FAIL_LOAD_ENV):
        raise RuntimeError("the checkpoint went missing")
    return Counter()


class HangsWhenTold(EchoPolicy):
    """Never answers an observation whose task is "hang" (a deadlocked driver, say)."""

    def predict_chunk(self, observation, timestep: int = 0) -> ActionChunk:
        if observation.get(TASK_KEY) == "hang":
            threading.Event().wait()
        return super().predict_chunk(observation, timestep)


class FailingPolicy(EchoPolicy):
    def predict_chunk(self, observation, timestep: int = 0) -> ActionChunk:
        raise RuntimeError("motor model exploded")


class RawClient:
    """The bare stub, to send what RemotePolicy would refuse to send."""

    def __init__(self, address: str, token: str | None = None, max_mb: int = 64) -> None:
        limit = max_mb * 1024 * 1024
        self.channel = grpc.insecure_channel(
            address,
            options=[
                ("grpc.max_send_message_length", limit),
                ("grpc.max_receive_message_length", limit),
            ],
        )
        self.stub = pb_grpc.PolicyServiceStub(self.channel)
        self.metadata = bearer_metadata(token)

    def open(self, spec: PolicySpec | None = None, **fields) -> str:
        request = pb.OpenSessionRequest(**fields)
        if spec is not None:
            from edgevla.serve.schema import spec_to_proto

            spec_to_proto(spec, request.expected)
        reply = self.stub.OpenSession(request, timeout=5, metadata=self.metadata)
        return reply.session_id

    def infer(self, request: pb.InferRequest, timeout: float = 5) -> pb.InferReply:
        return self.stub.Infer(request, timeout=timeout, metadata=self.metadata)

    def close(self) -> None:
        self.channel.close()


def infer_request(session_id: str, observation: dict, timestep: int = 0) -> pb.InferRequest:
    """A well-formed raw InferRequest that tests can then corrupt."""
    from edgevla.serve.tensors import fill_raw

    request = pb.InferRequest(session_id=session_id, timestep=timestep)
    for key, value in observation.items():
        if key == TASK_KEY:
            request.task = value
        else:
            fill_raw(request.observation[key], value)
    return request
