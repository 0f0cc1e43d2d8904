"""Thin rclpy adapters around the core: one module, one executable, one node."""
