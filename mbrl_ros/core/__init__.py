"""The ROS-free core: robot descriptions, simulation, data, models, planners and training."""
