"""ricecnn: a reproducible DVC study of CNN lightweighting on the Rice Image Dataset."""

__version__ = "0.1.0"
