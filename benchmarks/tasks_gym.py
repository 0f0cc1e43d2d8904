"""The arm reach and drone fly-to tasks as gymnasium environments, in-process (no ROS), for the
sample-efficiency benchmark. Both are built from the robots' configs and the package's own sims and
tasks, so every method meets the same dynamics, goals and error measure.

Actions are in [-1, 1] and rescaled to the command bounds; observations are the state the
controller sees followed by the task's goal features (Task.goal_features: the arm's end-effector
offset from the goal and the goal, the drone's offset from it), what the distilled policy sees, so
that SAC need not learn the forward kinematics either. `info["error"]` is the task's error after
each step, and `evaluate` runs any policy (SAC's, or a planner reading `state()` and `goal`) on
fixed goals.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import torch

from mbrl_ros.core.control.in_process import InProcessRobot


class GoalEnv(gym.Env):
    """What both tasks share: the robot (its config's sim world and task, as InProcessRobot builds
    them for the controller's loop), command rescaling, goals, episode length. Subclasses set
    `seconds` and `success_m` and give `_restart` and `_advance`."""

    CRASH_DISTANCE = 0.0
    strict_m = 0.01  # a second success distance, where the first one no longer separates methods

    def __init__(self, robot: str):
        self.robot = InProcessRobot(robot)
        self.params, self.trainer = self.robot.params, self.robot.trainer
        self.spec, self.task, self.dt = self.robot.spec, self.robot.loop.task, self.robot.dt
        self.low, self.high = self.spec.command_bounds
        self.max_steps = round(self.seconds / self.dt)
        dim = len(self.observe(np.zeros(self.spec.state_dim), np.zeros(3)))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (len(self.low),), np.float32)

    def command(self, action: np.ndarray) -> np.ndarray:
        return self.low + (np.clip(action, -1.0, 1.0) + 1.0) / 2.0 * (self.high - self.low)

    def action(self, command: np.ndarray) -> np.ndarray:
        """The inverse of `command`: how a planner's command enters `step`."""
        return (2.0 * (np.asarray(command) - self.low) / (self.high - self.low) - 1.0).astype(np.float32)

    def observe(self, state: np.ndarray | None = None, goal: np.ndarray | None = None) -> np.ndarray:
        """The state and the task's goal features (of the current state and goal by default)."""
        state = self.state() if state is None else state
        state_t = self.task.tensor(state)
        with torch.no_grad():
            features = self.task.goal_features(state_t, self.task.tensor(self.goal if goal is None else goal))
        return np.concatenate([state, features.cpu().numpy()]).astype(np.float32)

    def state(self) -> np.ndarray:
        return self.robot.state()

    def apply(self, action: np.ndarray) -> bool:
        """One control period with the rescaled action; whether the robot crashed (and restarted)."""
        self.robot.world.command(self.command(action))
        return bool(self.robot.world.step(self.robot.substeps))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.goal = np.asarray((options or {}).get("goal", self.task.random_goal(self.np_random)), float)
        self.steps = 0
        self._restart()
        return self.observe(), {}

    def step(self, action):
        action = np.asarray(action, float)
        reward, crashed = self._advance(action)
        self.steps += 1
        error = self.task.error(self.state(), self.goal)
        if crashed:
            reward -= self.CRASH_DISTANCE * (self.max_steps - self.steps + 1)
            error = float("inf")
        else:
            reward -= error
        return self.observe(), reward, crashed, self.steps >= self.max_steps, {"error": error}


class ArmReach(GoalEnv):
    """The Panda arm reaching from the workspace centre for 6 s at 20 Hz. The reward is minus the
    MPC's per-step cost terms: end-effector distance, the small action cost, and the penalty
    outside the workspace joint box (ReachTask's weights)."""

    seconds, success_m = 6.0, 0.03

    def __init__(self):
        super().__init__("arm")
        self.center = np.array(self.params["workspace_center"], float)

    def _restart(self) -> None:
        self.robot.world.reset(self.center)

    def _advance(self, action: np.ndarray) -> tuple[float, bool]:
        self.apply(action)
        q = self.state()[self.spec.position_columns]
        lower, upper = self.spec.workspace
        outside = np.maximum(q - upper, 0.0) + np.maximum(lower - q, 0.0)
        p = self.task.params
        return -(p["action_weight"] * float(np.sum(np.clip(action, -1, 1) ** 2))
                 + p["limit_weight"] * float(outside.sum())), False


class DroneFlyTo(GoalEnv):
    """The quadrotor's four rotor commands at 50 Hz, 8 s from its start position (held there until
    the first command) toward a goal in the task's goal box. A crash ends the episode and costs as
    if the drone had stayed CRASH_DISTANCE from the goal for the rest of it, so that crashing never
    pays; its final error counts as infinite."""

    seconds, success_m = 8.0, 0.05
    CRASH_DISTANCE = 2.0

    def __init__(self):
        super().__init__("drone")

    def _restart(self) -> None:
        self.robot.world.reset()

    def _advance(self, action: np.ndarray) -> tuple[float, bool]:
        return 0.0, self.apply(action)


ENVS = {"arm": ArmReach, "drone": DroneFlyTo}


def eval_goals(env: GoalEnv, count: int = 8) -> list[np.ndarray]:
    """The same goals for every method and seed."""
    return [env.task.random_goal(np.random.default_rng(100 + i)) for i in range(count)]


def evaluate(env: GoalEnv, policy, goals: list[np.ndarray], reset=None) -> dict:
    """Final errors of `policy(observation) -> action in [-1, 1]` from one episode per goal, the
    success rates at `success_m` and `strict_m`, and the median time it took per command; `reset()`,
    where given, starts each episode (a planner's warm start is forgotten between goals)."""
    finals, seconds = [], []
    for goal in goals:
        observation, _ = env.reset(options={"goal": goal})
        if reset is not None:
            reset()
        done = False
        while not done:
            started = time.perf_counter()
            action = policy(observation)
            seconds.append(time.perf_counter() - started)
            observation, _, crashed, truncated, info = env.step(action)
            done = crashed or truncated
        finals.append(info["error"])
    finals = np.array(finals)
    return {"median_final_error": float(np.median(finals)), "success_rate": float(np.mean(finals < env.success_m)),
            "strict_success_rate": float(np.mean(finals < env.strict_m)), "crashes": int(np.sum(np.isinf(finals))),
            "final_errors": finals.tolist(), "command_ms": float(np.median(seconds) * 1e3)}


def drive(env: GoalEnv, act, data: list, steps: int | None = None, on_step=None) -> int:
    """Step `env` with commands `act(state)` for `steps` steps, or to the end of its episode, adding
    each transition (state, command, next state) that did not crash to `data`, then calling
    `on_step()` where given (a learner that trains mid-episode); returns the steps taken, all of
    which count as the method's env steps."""
    taken = 0
    while True:
        state = env.state()
        action = env.action(act(state))
        _, _, crashed, truncated, _ = env.step(action)
        taken += 1
        if not crashed:
            data.append((state, env.command(action), env.state()))
        if on_step is not None:
            on_step()
        if taken == steps or (steps is None and (crashed or truncated)):
            return taken
