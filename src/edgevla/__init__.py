"""edgevla: from a well-recorded dataset to smooth, real-time robot control on an embedded board."""

__version__ = "0.1.0"
