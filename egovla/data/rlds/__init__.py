"""RLDS (TensorFlow Datasets builder folders of robot episodes: Open X-Embodiment, BridgeData V2,
RT-1/fractal, DROID, ...) -> LeRobot v3, without TensorFlow. Entry point: `convert.convert_rlds`
with `config.RLDSConfig`."""
