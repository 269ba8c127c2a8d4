"""Benchmarks of the RBM workbench (``make bench`` runs :mod:`bench.run`). Not a library."""
