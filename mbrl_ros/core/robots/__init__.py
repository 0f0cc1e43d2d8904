"""What a robot is: its URDF, kinematics, state (where it comes from, how the model sees it) and commands."""
