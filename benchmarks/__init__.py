"""Benchmarks of the looped transformer (see benchmarks/run_all.py)."""
