"""A real arm running ros2_control: logger, trainer and controller with config/arm_hardware.yaml, no sim.

    ros2 launch mbrl_ros arm_hardware.launch.py [params_file:=/path/to/your_arm.yaml] [standin:=true]
    ros2 service call /controller/enable std_srvs/srv/SetBool "{data: true}"

The controller publishes nothing until enabled. Remap topics in your copy of the params file.
standin:=true adds the stand-in for a real arm (500 Hz joint states, a forward controller), to
rehearse a deployment without one.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "mbrl_ros"
NODES = ("logger", "trainer", "controller")


def generate_launch_description():
    params_file = LaunchConfiguration("params_file")
    arguments = [
        DeclareLaunchArgument("params_file", description="parameters of every node",
                              default_value=[FindPackageShare(PACKAGE), "/config/arm_hardware.yaml"]),
        DeclareLaunchArgument("standin", default_value="false",
                              description="true: also start the stand-in for a real arm"),
    ]
    nodes = [Node(package=PACKAGE, executable=name, name=name, output="screen", parameters=[params_file])
             for name in NODES]
    standin = Node(package=PACKAGE, executable="standin", name="standin", output="screen",
                   parameters=[params_file], condition=IfCondition(LaunchConfiguration("standin")))
    return LaunchDescription(arguments + nodes + [standin])
