"""A robot of this package learning in simulation: sim, logger, trainer and controller, all with
config/<robot>.yaml (arm, drone, drone_attitude or hand), and, where the controller's `policy` is not
off (the params file's, or policy:=act, propose or auto), a policy_trainer whose policy then gives the
commands, proposes plans, or gives the commands where plans cannot keep their deadline.

    ros2 launch mbrl_ros robot_sim.launch.py robot:=drone [gui:=true] [policy:=act] [params_file:=/your.yaml]

On real hardware, leave out the sim and remap the command topic to your robot's controller.
Written in forms that Humble's, Jazzy's and Kilted's launch all accept.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from mbrl_ros.core.params import configured_policy

PACKAGE = "mbrl_ros"
NODES = ("sim", "logger", "trainer", "controller")


def nodes(context):
    """The nodes, once the arguments are known: the params file says whether a policy is used."""
    params_file = LaunchConfiguration("params_file").perform(context)
    gui = LaunchConfiguration("gui").perform(context).lower() in ("true", "1")
    given = LaunchConfiguration("policy").perform(context)
    policy = configured_policy(params_file, given)
    own = {"sim": {"gui": gui}, "controller": {"policy": policy}}
    return [Node(package=PACKAGE, executable=name, name=name, output="screen",
                 parameters=[params_file] + ([own[name]] if name in own else []))
            for name in NODES + (("policy_trainer",) if policy != "off" else ())]


def generate_launch_description():
    robot = LaunchConfiguration("robot")
    return LaunchDescription([
        DeclareLaunchArgument("robot", default_value="arm", description="arm, drone, drone_attitude or hand"),
        DeclareLaunchArgument("params_file", description="parameters of every node",
                              default_value=[FindPackageShare(PACKAGE), "/config/", robot, ".yaml"]),
        DeclareLaunchArgument("gui", default_value="false", description="open the PyBullet window"),
        DeclareLaunchArgument("policy", default_value="", description="off, act, propose or auto (see the "
                              "controller's `policy`); empty: the params file's"),
        OpaqueFunction(function=nodes),
    ])
