"""Whole workflows, as the commands run them: training from dataset sources (`train`), the Meta-World
demo loop and its presets (`demo`), and the lever latency benchmark (`bench`)."""
