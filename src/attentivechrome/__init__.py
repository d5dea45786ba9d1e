"""AttentiveChrome reference pipeline: REMC reads to trained, interpretable models."""

__version__ = "0.1.0"
