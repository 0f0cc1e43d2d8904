"""Camera pictures of the simulated robots for the README: docs/<robot>.png.

    .venv/bin/python scripts/pictures.py
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.sims import make_world
from mbrl_ros.core.sims.camera import snapshot

VIEWS = {  # robot: (camera target, camera eye), world frame, m
    "arm": ((0.2, 0.0, 0.45), (1.1, -1.1, 0.75)),
    "drone": ((0.0, 0.0, 0.35), (0.18, -0.22, 0.42)),
    "hand": ((0.0, 0.0, 0.1), (0.19, -0.28, 0.16)),
    "hand_cube": ((0.0, 0.0, 0.04), (0.16, -0.22, 0.2)),
}
POSES = {"drone": (0.0, 0.0, 0.35)}  # the drone in the air
SETTLE_STEPS = {"hand_cube": 240}  # physics steps before the picture: the cube comes to rest


def main() -> None:
    out = Path(__file__).resolve().parents[1] / "docs"
    out.mkdir(exist_ok=True)
    for robot, (target, eye) in VIEWS.items():
        spec = RobotSpec.from_params(node_parameters(robot_config(robot), "controller"))
        sim_params = node_parameters(robot_config(robot), "sim")
        world = make_world(sim_params["world"], spec, sim_params, 1.0 / 240.0)
        if robot in POSES:
            world.reset(np.array(POSES[robot]))
        world.step(SETTLE_STEPS.get(robot, 0))
        plt.imsave(out / f"{robot}.png", snapshot(world.client, target, eye))
        world.close()
        print(f"wrote {out / f'{robot}.png'}")


if __name__ == "__main__":
    main()
