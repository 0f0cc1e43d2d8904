"""A robot of this package learning in simulation: sim, logger, trainer and controller, all with
config/<robot>.yaml (arm, drone, drone_attitude or hand), and with policy:=act or propose a
policy_trainer whose policy then gives the commands or proposes plans.

    ros2 launch mbrl_ros robot_sim.launch.py robot:=drone [gui:=true] [policy:=act] [params_file:=/your.yaml]

On real hardware, leave out the sim and remap the command topic to your robot's controller.
Written in forms that Humble's, Jazzy's and Kilted's launch all accept.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import UnlessCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "mbrl_ros"
NODES = ("sim", "logger", "trainer", "controller")


def generate_launch_description():
    robot = LaunchConfiguration("robot")
    params_file = LaunchConfiguration("params_file")
    gui = LaunchConfiguration("gui")
    policy = LaunchConfiguration("policy")
    arguments = [
        DeclareLaunchArgument("robot", default_value="arm", description="arm, drone, drone_attitude or hand"),
        DeclareLaunchArgument("params_file", description="parameters of every node",
                              default_value=[FindPackageShare(PACKAGE), "/config/", robot, ".yaml"]),
        DeclareLaunchArgument("gui", default_value="false", description="open the PyBullet window"),
        DeclareLaunchArgument("policy", default_value="off", description="off, or act or propose: a distilled "
                              "policy gives the commands, or proposes plans, once the policy_trainer has one"),
    ]
    # Typed: launch reads a substituted value as YAML, which would make `off` the boolean false.
    own = {"sim": {"gui": ParameterValue(gui, value_type=bool)},
           "controller": {"policy": ParameterValue(policy, value_type=str)}}
    nodes = [
        Node(package=PACKAGE, executable=name, name=name, output="screen",
             parameters=[params_file] + ([own[name]] if name in own else []))
        for name in NODES
    ]
    policy_trainer = Node(package=PACKAGE, executable="policy_trainer", name="policy_trainer", output="screen",
                          parameters=[params_file],
                          condition=UnlessCondition(PythonExpression(["'", policy, "' == 'off'"])))
    return LaunchDescription(arguments + nodes + [policy_trainer])
