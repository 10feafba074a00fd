"""egovla: Vision-Language-Action policies from egocentric human video and robot demonstrations."""

__version__ = "0.1.0"
