"""The scripted expert: plans the whole task from a state, as smooth joint trajectories.

`plan_task` is a pure function of (arm joints, tea bag, held flag) so that the same planner
serves two users: the closed-loop recording expert (`ScriptedExpert`, which re-plans when a
grasp misses — natural recovery) and the open-loop chunk policy of the runtime, which plans
from a possibly stale observation and so suffers from staleness the way a learned policy does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgevla.features import ENV_STATE_KEY, STATE_KEY
from edgevla.sim.geometry import (
    FIXED_JAW_FACE,
    GRASP_LATERAL,
    JOINT_LIMITS,
    MUG_HEIGHT,
    MUG_INNER_RADIUS,
    MUG_POS,
    REST_POSE,
    TEA_BAG_HALF,
    action_to_radians,
    radians_to_action,
)
from edgevla.sim.kinematics import ArmKinematics, grasp_rotation
from edgevla.sim.trajectory import TrajectoryBuilder

OPEN = JOINT_LIMITS["gripper"][0] + 0.88 * (JOINT_LIMITS["gripper"][1] - JOINT_LIMITS["gripper"][0])
RELEASE = JOINT_LIMITS["gripper"][0] + 0.80 * (
    JOINT_LIMITS["gripper"][1] - JOINT_LIMITS["gripper"][0]
)
CLOSED = JOINT_LIMITS["gripper"][0]  # squeeze: the target is past the point where jaws touch
PREGRASP_DISTANCE = 0.07
CARRY_HEIGHT = 0.11
DROP_HEIGHT = MUG_HEIGHT + 0.04
JAW_CLEARANCE = 0.003
MAX_TILT = math.radians(35.0)
REACH = 0.36
MAX_JOINT_SPEED = math.radians(100.0)  # rad/s at the peak of a transit


@dataclass(frozen=True)
class TaskState:
    """What the planner needs: from `observation.environment_state` plus the arm's joints."""

    q: np.ndarray  # radians[6]
    bag: np.ndarray  # float[3]
    bag_yaw: float
    held: bool
    mug: tuple[float, float] = MUG_POS

    @property
    def bag_in_mug(self) -> bool:
        r = math.hypot(self.bag[0] - self.mug[0], self.bag[1] - self.mug[1])
        return r < MUG_INNER_RADIUS and self.bag[2] > 0.005 and not self.held

    @classmethod
    def from_env_state(cls, q: np.ndarray, env_state: np.ndarray) -> TaskState:
        return cls(
            q=np.asarray(q, dtype=np.float64),
            bag=np.asarray(env_state[:3], dtype=np.float64),
            bag_yaw=float(env_state[3]),
            held=bool(env_state[6] > 0.5),
            mug=(float(env_state[4]), float(env_state[5])),
        )


@dataclass(frozen=True)
class Plan:
    """radians[N, 6] joint targets, and named tick indices (`grasped`, `released`, `done`)."""

    joints: np.ndarray
    marks: dict[str, int]


class TaskPlanner:
    def __init__(self, kinematics: ArmKinematics, fps: float) -> None:
        self.kin = kinematics
        self.fps = fps

    # ---------------------------------------------------------------- grasp geometry
    def grasp_pose(
        self, bag: np.ndarray, yaw: float, q_hint: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(grasp point, rotation, joints[5]) to grasp the bag.

        Far bags are approached tilted outwards (up to 35 deg) to stay within reach. A 5-DOF
        arm can tilt only in its own vertical plane, so a level closing axis must then run
        across that plane: the bag is taken across whichever of its sides (width or length)
        lies closer to that direction. Near bags are taken top-down across their width. The
        closing axis takes the sign that keeps the wrist roll within +-90 deg.
        """
        r = math.hypot(bag[0], bag[1])
        tilt = float(np.clip((r - 0.20) / 0.10, 0.0, 1.0)) * MAX_TILT
        q = np.asarray(q_hint[:5], dtype=np.float64)
        pan = math.atan2(bag[1], bag[0])
        across_width = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
        across_length = np.array([math.cos(yaw), math.sin(yaw), 0.0])
        height = 0.013
        # The grasp point is off the roll axis, so the arm's plane (its pan angle) is not quite
        # the bag's bearing; the tilt must lie in the arm's plane to be reachable: iterate.
        for _ in range(5):
            side = np.array([-math.sin(pan), math.cos(pan), 0.0])
            closing, half = across_width, TEA_BAG_HALF[1]
            if tilt > 0 and abs(across_length @ side) > abs(across_width @ side):
                closing, half = across_length, TEA_BAG_HALF[0]
            if closing @ side < 0:
                closing = -closing
            approach = np.array(
                [math.sin(tilt) * math.cos(pan), math.sin(tilt) * math.sin(pan), -math.cos(tilt)]
            )
            rot = grasp_rotation(approach, closing)
            # Put the bag's near edge 5 mm from the fixed jaw: the moving jaw does the pushing.
            bag_in_jaws = FIXED_JAW_FACE - 0.005 - half
            point = np.array([bag[0], bag[1], height]) + (GRASP_LATERAL - bag_in_jaws) * rot[:, 1]
            result = self._solve_front_result(point, rot, q)
            q = result.q
            low = self.kin.lowest_jaw_point(q)
            if low < JAW_CLEARANCE - 5e-4:  # raise the grasp point until the jaws clear the table
                height += JAW_CLEARANCE - low
            elif result.converged and abs(q[0] - pan) < 1e-3:
                break
            pan = float(q[0])
        return point, rot, q

    def _solve_front_result(self, point: np.ndarray, rot: np.ndarray, q_hint: np.ndarray):
        """IK that keeps the arm in front of its base. Damped least squares follows the nearest
        descent, so from a far pan angle it can fold the arm backwards over the base; seeding
        the pan with the target's bearing (and, failing that, a neutral posture) avoids it."""
        bearing = math.atan2(point[1], point[0])
        seeds = [np.asarray(q_hint, dtype=np.float64).copy(), REST_POSE[:5].copy()]
        seeds[0][0] = bearing
        seeds[1][0] = bearing
        best = None
        for seed in seeds:
            result = self.kin.solve(point, rot, seed)
            if result.converged and result.q[1] > -0.6:  # shoulder leaning forward, not over
                return result
            if best is None or result.position_error < best.position_error:
                best = result
        return best

    def _solve_front(self, point: np.ndarray, rot: np.ndarray, q_hint: np.ndarray) -> np.ndarray:
        return self._solve_front_result(point, rot, q_hint).q

    def _transit_seconds(self, a: np.ndarray, b: np.ndarray, dq: np.ndarray) -> float:
        """Long enough for the gripper's path and for no joint to exceed MAX_JOINT_SPEED at the
        peak of a minimum-jerk profile (1.875 x the mean speed)."""
        by_path = float(np.clip(0.45 + np.linalg.norm(a - b) / 0.22, 0.8, 2.4))
        return max(by_path, 1.875 * float(np.abs(dq).max()) / MAX_JOINT_SPEED)

    # ---------------------------------------------------------------- the plan
    def plan(self, state: TaskState) -> Plan:
        """Joint targets from `state` to the task's end: reach and grasp (unless held), carry,
        release above the mug, retreat to rest."""
        tb = TrajectoryBuilder(self.kin, self.fps, state.q)
        if state.bag_in_mug:
            self._retreat(tb)
        elif math.hypot(state.bag[0], state.bag[1]) > REACH or state.bag[2] < -0.01:
            tb.move_joints(REST_POSE[:5], CLOSED, 2.0)  # out of reach: give up safely
            tb.mark("done")
        else:
            if not state.held:
                self._reach_and_grasp(tb, state)
            self._carry_and_release(tb, state)
            self._retreat(tb)
        return Plan(tb.array(), dict(tb.marks))

    def _reach_and_grasp(self, tb: TrajectoryBuilder, state: TaskState) -> None:
        point, rot, q_grasp = self.grasp_pose(state.bag, state.bag_yaw, state.q)
        approach = rot[:, 0]
        pre = point - PREGRASP_DISTANCE * approach
        tool, tool_rot = self.kin.forward(state.q[:5])
        along = float((tool - point) @ -approach)  # how far back along the approach line
        off_line = np.linalg.norm((tool - point) + along * approach)  # distance from the line
        rot_err = np.linalg.norm(tool_rot - rot)
        aligned = off_line < 0.012 and rot_err < 0.2 and -0.005 < along < PREGRASP_DISTANCE + 0.03
        if not aligned:
            q_pre = self.kin.solve(pre, rot, q_grasp).q
            tb.move_joints(q_pre, OPEN, self._transit_seconds(tool, pre, q_pre - tb.q[:5]))
            along = PREGRASP_DISTANCE
        elif tb.q[5] < OPEN - 0.01 and along > 0.02:
            tb.gripper(OPEN, 0.3)
        if along > 0.004:
            tb.move_line(point, rot, max(0.25, 0.7 * along / PREGRASP_DISTANCE))
        tb.mark("closing")
        tb.gripper(CLOSED, 0.4)
        tb.hold(0.2)
        tb.mark("grasped")

    def _carry_and_release(self, tb: TrajectoryBuilder, state: TaskState) -> None:
        tool, rot = self.kin.forward(tb.q[:5])
        if state.held:  # where the bag sits relative to the grasp point, as observed
            bag_offset = state.bag[:2] - tool[:2]
        else:  # as it will after closing: pushed against the fixed jaw
            bag_offset = (FIXED_JAW_FACE - TEA_BAG_HALF[1] - GRASP_LATERAL) * rot[:2, 1]
        above_mug = np.array(
            [state.mug[0] - bag_offset[0], state.mug[1] - bag_offset[1], DROP_HEIGHT]
        )
        near_drop = (
            np.linalg.norm(tool[:2] - above_mug[:2]) < 0.015 and tool[2] > DROP_HEIGHT - 0.02
        )
        if not near_drop and tool[2] < CARRY_HEIGHT - 0.01:
            lift = np.array([tool[0], tool[1], CARRY_HEIGHT])
            tb.move_line(lift, rot, 0.6)
        # Jaws closing axis kept horizontal and as close as possible to the current one.
        closing = rot[:, 1].copy()
        closing[2] = 0.0
        if np.linalg.norm(closing) < 1e-3:
            closing = np.array([0.0, 1.0, 0.0])
        drop_rot = grasp_rotation(np.array([0.0, 0.0, -1.0]), closing)
        q_drop = self._solve_front(above_mug, drop_rot, tb.q[:5])
        start, _ = self.kin.forward(tb.q[:5])
        # Near the drop already (e.g. re-planned from a lagging measurement): still settle on
        # the exact drop pose, briefly, rather than freezing where the arm was measured.
        seconds = 0.25 if near_drop else self._transit_seconds(start, above_mug, q_drop - tb.q[:5])
        tb.move_joints(q_drop, None, seconds)
        tb.hold(0.15)
        tb.gripper(RELEASE, 0.3)
        tb.hold(0.45)
        tb.mark("released")

    def _retreat(self, tb: TrajectoryBuilder) -> None:
        tool, rot = self.kin.forward(tb.q[:5])
        if tool[2] < 0.17:
            tb.move_line(np.array([tool[0], tool[1], 0.17]), rot, 0.5)
        if np.abs(tb.q[:5] - REST_POSE[:5]).max() > 0.05:
            dq = REST_POSE[:5] - tb.q[:5]
            tb.move_joints(
                REST_POSE[:5], CLOSED, max(1.2, 1.875 * np.abs(dq).max() / MAX_JOINT_SPEED)
            )
        tb.hold(0.3)
        tb.mark("done")


class ScriptedExpert:
    """Closed-loop expert for recording: follows a plan, re-plans when a grasp missed or the
    bag ended up elsewhere (the recovery behaviour a policy should learn)."""

    def __init__(self, kinematics: ArmKinematics, fps: float, max_replans: int = 4) -> None:
        self.planner = TaskPlanner(kinematics, fps)
        self.max_replans = max_replans
        self.reset()

    def reset(self) -> None:
        self._plan: Plan | None = None
        self._last: np.ndarray | None = None
        self._index = 0
        self.replans = 0
        self.finished = False

    def _replan(self, state: TaskState, counts: bool = True) -> None:
        if self._plan is not None and counts:
            self.replans += 1
        if self._last is not None:  # continue from the last command: no jump in the targets
            state = TaskState(self._last.copy(), state.bag, state.bag_yaw, state.held, state.mug)
        self._plan = self.planner.plan(state)
        self._index = 0

    def ticks_until(self, mark: str) -> int | None:
        """Ticks from the next action to `mark` in the current plan; None when the plan has no
        such mark or has passed it (recording perturbs the arm only before the grasp closes)."""
        if self._plan is None or mark not in self._plan.marks:
            return None
        left = self._plan.marks[mark] - self._index
        return left if left >= 0 else None

    def act(self, observation: dict) -> np.ndarray:
        """Next joint targets, in action units (degrees, gripper 0..100)."""
        state = TaskState.from_env_state(
            action_to_radians(observation[STATE_KEY]), observation[ENV_STATE_KEY]
        )
        plan = self._plan
        if plan is None:
            self._replan(state)
        elif self._index == plan.marks.get("grasped", -1):
            # Missed: go back for it. Held: re-plan the carry from where the bag really sits.
            if state.held or self.replans < self.max_replans:
                self._replan(state, counts=not state.held)
        elif (
            self._index >= len(plan.joints)
            and not state.bag_in_mug
            and not self.finished
            and self.replans < self.max_replans
        ):
            self._replan(state)
        plan = self._plan
        assert plan is not None
        if self._index >= len(plan.joints):
            self.finished = True
            return radians_to_action(plan.joints[-1])
        q = plan.joints[self._index]
        self._index += 1
        self._last = q
        return radians_to_action(q)


def recovery_arm_pose(kinematics: ArmKinematics, rng: np.random.Generator) -> np.ndarray:
    """radians[6]: the arm already near the mug, empty-handed (the NXP recovery episodes).

    The grasp point hovers 3-7 cm above the rim, within 4 cm of the mug's axis, jaws pointing
    down, gripper somewhere between closed and half open.
    """
    target = np.array(
        [
            MUG_POS[0] + rng.uniform(-0.04, 0.04),
            MUG_POS[1] + rng.uniform(-0.04, 0.04),
            MUG_HEIGHT + rng.uniform(0.03, 0.07),
        ]
    )
    roll = rng.uniform(-0.6, 0.6)
    rot = grasp_rotation(
        np.array([0.0, 0.0, -1.0]), np.array([-math.sin(roll), math.cos(roll), 0.0])
    )
    q = np.zeros(6)
    q[:5] = kinematics.solve(target, rot, REST_POSE[:5]).q
    lo, hi = JOINT_LIMITS["gripper"]
    q[5] = lo + rng.uniform(0.0, 0.5) * (hi - lo)
    return q
