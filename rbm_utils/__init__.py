"""RBM workbench: results-based management for a development bureau."""

__version__ = "0.1.0"
