"""Closed-loop simulation: the Meta-World wrapper, the gripper embodiment, scripted demonstrations
and evaluation. Importing this package does not import MuJoCo; the modules that need it do."""
