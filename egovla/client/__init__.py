"""What runs on the robot: talking to `egovla serve`, and turning its chunks into one action per step."""
