"""A robot's config run in process, without ROS: its sim world (the sim node's) stepped at the control
rate, commanded by the control loop the controller node runs, built from the same parameters. The
benchmarks and the in-process learning scripts drive the robots this way, so that their figures are
the product's.

The loop's clock is the sim's. By default plans have no deadline (they finish every iteration, so
that results do not depend on the machine's load); each plan's time is measured instead. Nor does
the time a plan takes pass in the world; `latency` puts back the delay a robot has (the state's
age and the plan's time): the world runs that long on the old command before the new one acts. A
loop that measures its delay (`command_delay` negative) measures none here: give it the latency."""

from __future__ import annotations

import numpy as np

from ..data.transitions import Transitions
from ..models.learner import LEARNER_PARAMETERS, DynamicsLearner, learner_configs
from ..params import node_parameters, read_parameters
from ..policies.distill import DistillConfig
from ..policies.parameters import POLICY_TRAINER_PARAMETERS, policy_configs
from ..paths import robot_config
from ..robots.robot import ROBOT_PARAMETERS, RobotSpec
from ..sims import SIM_PARAMETERS, WORLDS, make_world
from .loop import ControlLoop
from .parameters import build_control_loop, read_controller


class QuietLog:
    """What the loop would log on a robot, kept (the last 100 lines) instead of printed."""

    def __init__(self):
        self.lines: list[str] = []

    def _keep(self, message: str, **_) -> None:
        self.lines = [*self.lines[-99:], message]

    info = warning = error = _keep


class InProcessRobot:
    def __init__(self, robot: str, overrides: dict | None = None, sim_overrides: dict | None = None, *,
                 deadlines: bool = False, latency: float = 0.0, log=None):
        """`robot`: a config's name or path; `overrides`: the controller's parameters to change (and
        the robot's), `sim_overrides` the sim's; `latency`: s from the state the loop sees to its
        command acting (rounded to the sim's steps, at most a period)."""
        config = robot_config(robot)
        given = node_parameters(config, "controller") | (overrides or {})
        sim = node_parameters(config, "sim") | (sim_overrides or {})
        self.spec = RobotSpec.from_params(given)
        self.trainer = node_parameters(config, "trainer")
        self.policy_trainer = node_parameters(config, "policy_trainer")
        self.params = read_parameters(ROBOT_PARAMETERS, given) | read_controller(
            lambda schema: read_parameters(schema, given))  # the controller's, its robot's among them
        world, time_step = read_parameters(SIM_PARAMETERS, sim).values()
        self.world = make_world(world, self.spec, read_parameters(WORLDS[world].PARAMETERS, sim), time_step)
        self.dt = 1.0 / self.params["control_rate"]
        self.substeps = max(1, round(self.dt / time_step))
        self.delay_steps = min(self.substeps, round(latency / time_step))
        self.log = log or QuietLog()
        self.command: np.ndarray | None = None  # the last one acting
        self.sent: np.ndarray | None = None  # sent in this period, acting after the latency
        self.loop: ControlLoop = build_control_loop(
            self.spec, self.params, self._apply, self.log, deadlines=deadlines, armed=True,
            clock=lambda: self.world.sim_time, wall_clock=lambda: self.world.sim_time)
        self.episode_ends: list[str] = []

    def learner(self, max_seconds: float = float("inf"), **overrides) -> DynamicsLearner:
        """A learner as the robot's trainer node builds it, from its config (`overrides`: of its
        parameters, a seed or sizes); `max_seconds`: the node's training slice, none by default so
        that models do not depend on the machine's speed."""
        values = read_parameters(LEARNER_PARAMETERS, self.trainer | overrides)
        return DynamicsLearner(self.spec.model_signature(), self.dt, *learner_configs(values, max_seconds=max_seconds))

    def distill_config(self, **overrides) -> DistillConfig:
        """The distillation as the robot's policy_trainer node runs it, from its config (`overrides`:
        of its parameters)."""
        return policy_configs(read_parameters(POLICY_TRAINER_PARAMETERS, self.policy_trainer | overrides))[0]

    def _apply(self, command: np.ndarray, trajectory) -> None:
        self.sent = command
        if not self.delay_steps:
            self._act()

    def _act(self) -> None:
        """The command sent last acts on the world from now on."""
        self.world.command(self.sent)
        self.command, self.sent = self.sent, None

    def state(self) -> np.ndarray:
        """The state as the controller sees it."""
        return self.spec.state.combine({s.topic: s.read_world(self.world) for s in self.spec.state.sources})

    def tick(self) -> str | None:
        """One control period: the loop sees the state and commands, the world runs a period on.
        Why the episode ended, where the world had to restart (a crash), else None."""
        now = self.world.sim_time
        for source in self.spec.state.sources:
            self.loop.take_state(source.topic, source.read_world(self.world), now)
        self.loop.step()
        ended = self.world.step(self.delay_steps) if self.delay_steps else None
        if self.sent is not None:
            self._act()
        ended = self.world.step(self.substeps - self.delay_steps) or ended
        if ended:
            self.episode_ends.append(ended)
            self.loop.end_episode()
        return ended

    def run(self, seconds: float, on_tick=None) -> Transitions:
        """`seconds` of control: each state, the command in force after it (the last one sent) and
        the state a period later, as the trainer learns from them; none across a restart.
        `on_tick()` is called after each period."""
        states, commands, next_states = [], [], []
        for _ in range(round(seconds / self.dt)):
            state = self.state()
            ended = self.tick()
            if on_tick is not None:
                on_tick()
            if self.command is None or ended:
                continue
            states.append(state)
            commands.append(self.command)
            next_states.append(self.state())
        dim = self.spec.state_dim
        return Transitions(np.array(states).reshape(-1, dim),
                           np.array(commands).reshape(len(states), len(self.spec.command.names)),
                           np.array(next_states).reshape(-1, dim))

    def reset(self) -> None:
        """The world back at its start, and a fresh plan."""
        self.world.reset()
        self.loop.end_episode()

    def close(self) -> None:
        self.world.close()
