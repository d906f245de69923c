"""framebench harness: times equivalent models' train steps per framework, mode, device and precision.

Importing ``bench`` imports no deep-learning framework: only ``bench.frameworks.*`` (run inside the
per-cell worker process) does.
"""

__version__ = "0.1.0"
