"""snapsweep: sparse real-time recurrent learning experiments, from a YAML spec to the paper's tables."""

__version__ = "0.1.0"
