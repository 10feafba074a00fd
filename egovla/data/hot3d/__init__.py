"""HOT3D-Clips (Meta's egocentric hand-object video: Aria / Quest 3 clips as tars) -> LeRobot v3 in the
unified action space. Entry point: `convert.convert_hot3d` with `convert.Hot3DConfig`."""
