"""What acts on the robot: exploration before the first model, and model predictive control."""
