"""An import-only stand-in for ROS 2's composition_interfaces message package, which has no wheel.

launch_ros imports `composition_interfaces.srv` when it loads, for composable nodes (LoadComposableNodes),
which this package does not use. On the launch tests' PYTHONPATH only; in a ROS 2 workspace the real
package is there.
"""
