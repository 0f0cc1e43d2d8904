"""A scripted valve turner for the hand: the yardstick for the learned controller, as the cascaded
PID is for the drone. It knows what the learned model does not: the fingers' kinematics (the turn
task's forward kinematics of the URDF, inverted once into tables) and the valve's geometry.

One finger at a time pushes one spoke. The gait picks the finger and spoke whose push covers most
of the angle left, moves that fingertip over the spoke's trailing side, lowers it into the spokes'
plane and sweeps it about the valve's axis until the valve is at the goal (or the finger's reach
ends), then lifts it and carries it home above the spokes; and again, from the valve's measured
angle, until the valve is within `done_deg` of the goal.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..robots.robot import RobotSpec

FINGERS = tuple(tuple(f"joint_{4 * finger + k}" for k in range(4)) for finger in range(4))  # Allegro order


def wrap(angle):
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


class ValveGait:
    """Joint targets that turn the valve to a goal angle, one control period at a time.

    `task`: the robot's turn_valve task (fingertip kinematics, valve centre, state columns);
    `home`: the hand's rest pose, fingertips above the spokes, in `robot.joints` order. Fingertips
    work on the circle of `radius` about the axis, `down` above the spokes' mid-plane when pushing and
    `up` when moving over them. A tip touches a spoke's side `contact_width` from its centre line
    (the tip's radius plus half the spoke's width); a push starts `margin_deg` further back and
    sweeps `step_deg` per control period."""

    def __init__(self, robot: RobotSpec, task, home: np.ndarray, radius: float = 0.04, down: float = 0.002,
                 up: float = 0.03, contact_width: float = 0.018, margin_deg: float = 10.0,
                 step_deg: float = 8.0, transit_step_deg: float = 15.0, done_deg: float = 3.0):
        self.robot, self.task, self.home = robot, task, np.asarray(home, float)
        self.radius, self.contact_angle = radius, math.asin(contact_width / radius)
        self.margin, self.step, self.done = np.radians([margin_deg, step_deg, done_deg])
        self.transit_step = np.radians(transit_step_deg)
        names = list(robot.joints)
        self.fingers = [[names.index(j) for j in finger] for finger in FINGERS]
        self.angles = np.radians(np.arange(-180.0, 180.0, 2.0))
        self.down_table, down_error = self._fingertips_on_circle(down)
        self.up_table, up_error = self._fingertips_on_circle(up)
        self.reachable = (down_error < 0.002) & (up_error < 0.003)  # (angles, fingers)
        home_state = torch.zeros(1, robot.state_dim)
        home_state[:, robot.position_columns] = torch.as_tensor(self.home, dtype=torch.float32)
        tips = (task.fingertips(home_state)[0] - task.center.cpu()).numpy()
        self.home_angles = np.arctan2(tips[:, 1], tips[:, 0])
        self.reset()

    def reset(self) -> None:
        self.queue, self.stroke, self.pending = [], None, None

    def __call__(self, state: np.ndarray, goal: float) -> np.ndarray:
        error = float(wrap(goal - self.task.angle(state)))
        done = abs(error) < self.done
        if self.stroke is not None:
            finger, sign, at, end = self.stroke
            if done or np.sign(error) != sign or abs(wrap(end - at)) < 1e-6:
                self.queue = self._over_the_spokes(finger, at, self.home_angles[finger]) + [self.home.copy()]
                self.stroke = None
            else:
                at = float(wrap(at + sign * min(self.step, abs(wrap(end - at)))))
                self.stroke = (finger, sign, at, end)
                return self._with(finger, self._joints(finger, at, self.down_table))
        if not self.queue and not done:
            push = self._best_push(self.task.angle(state), error)
            if push is not None:
                finger, start, end = push
                self.queue = self._over_the_spokes(finger, self.home_angles[finger], start)
                self.queue.append(self._with(finger, self._joints(finger, start, self.down_table)))
                self.pending = (finger, np.sign(error), start, end)
        if not self.queue:
            return self.home.copy()
        command = self.queue.pop(0)
        if not self.queue and self.pending is not None:
            self.stroke, self.pending = self.pending, None
        return command

    def _over_the_spokes(self, finger: int, start: float, end: float) -> list[np.ndarray]:
        """Commands that carry a fingertip from `start` to `end` along the circle, above the spokes,
        the shorter way round that it can reach all along."""
        anticlockwise = float(wrap(end - start)) % (2 * np.pi)
        for arc in sorted((anticlockwise, anticlockwise - 2 * np.pi), key=abs):
            count = max(1, math.ceil(abs(arc) / self.transit_step))
            path = [start + arc * i / count for i in range(count + 1)]
            if all(self._reachable(finger, a) for a in path):
                return [self._with(finger, self._joints(finger, a, self.up_table)) for a in path]
        return []

    def _best_push(self, angle: float, error: float):
        """(finger, start, end) tip angles of the push that covers most of `error`, or None. A push
        starts behind a spoke, where the tip clears it, and sweeps the tip on as far as the error
        asks and the finger reaches."""
        sign, best, best_gain = np.sign(error), None, 0.0
        behind, increment = self.contact_angle + self.margin, np.radians(2.0)
        for finger in range(4):
            for spoke in angle + 2 * np.pi / 3 * np.arange(3):
                start = float(wrap(spoke - sign * behind))
                if not self._reachable(finger, start):
                    continue
                travel = 0.0
                while (travel + increment <= abs(error) + behind
                       and self._reachable(finger, start + sign * (travel + increment))):
                    travel += increment
                if travel - behind > best_gain:
                    best, best_gain = (finger, start, float(wrap(start + sign * travel))), travel - behind
        return best

    def _reachable(self, finger: int, angle: float) -> bool:
        reach = self.angles[self.reachable[:, finger]]
        return bool(reach.size) and np.min(np.abs(wrap(reach - angle))) <= np.radians(2.5)

    def _joints(self, finger: int, angle: float, table: np.ndarray) -> np.ndarray:
        return table[np.argmin(np.abs(wrap(self.angles - angle))), self.fingers[finger]]

    def _with(self, finger: int, joints: np.ndarray) -> np.ndarray:
        command = self.home.copy()
        command[self.fingers[finger]] = joints
        return command

    def _fingertips_on_circle(self, height: float, iterations: int = 1500):
        """Joint positions that put every fingertip at each angle of the circle, `height` above the
        spokes' mid-plane (gradient descent on the forward kinematics, all angles at once), and each
        tip's distance from its target: (angles, 16) and (angles, 4)."""
        robot, task = self.robot, self.task
        angles = torch.as_tensor(self.angles, dtype=torch.float32)
        targets = torch.stack([self.radius * torch.cos(angles), self.radius * torch.sin(angles),
                               torch.full_like(angles, height)], -1)[:, None] + task.center.cpu()
        lower, upper = (torch.as_tensor(b, dtype=torch.float32) for b in (robot.position_lower, robot.position_upper))
        joints = torch.as_tensor(self.home, dtype=torch.float32).expand(len(angles), -1).clone().requires_grad_(True)
        optimizer = torch.optim.Adam([joints], lr=0.02)
        states = torch.zeros(len(angles), robot.state_dim)
        for _ in range(iterations):
            states = states.detach().clone()
            states[:, robot.position_columns] = joints
            loss = (task.fingertips(states) - targets).square().sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                joints.copy_(torch.maximum(torch.minimum(joints, upper), lower))
        with torch.no_grad():
            states[:, robot.position_columns] = joints
            distance = torch.linalg.vector_norm(task.fingertips(states) - targets, dim=-1)
        return joints.detach().numpy().astype(float), distance.numpy()


def baseline(robot, sim_params: dict, goals, goal_seconds: float, hold_seconds: float, rate: float) -> dict:
    """The gait on the robot's hand_valve world, goal after goal as the demo sets them: the final
    angle error at each (rad). The valve task has no hold: `hold_seconds` is not used."""
    from ..tasks import make_task
    from . import make_world

    world = make_world("hand_valve", robot, sim_params, sim_params.get("time_step", 1.0 / 240.0))
    try:
        task = make_task("turn_valve", robot, {})
        gait = ValveGait(robot, task, world.home)
        source = robot.state.sources[0]

        def state() -> np.ndarray:
            return source.features(world.joint_readings())

        substeps = max(1, round(1.0 / (rate * world.time_step)))
        finals = []
        for goal in goals:
            gait.reset()
            for _ in range(round(goal_seconds * rate)):
                world.command(gait(state(), float(goal[0])))
                world.step(substeps)
            finals.append(task.error(state(), goal))
        return {"goal_final_errors": finals, "rate_hz": rate}
    finally:
        world.close()
