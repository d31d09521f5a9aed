"""Benchmarks of the whole pipeline on the local broker: `python -m bench` (see README.md)."""
