"""Benchmarks of the course (run with ``python -m bench.NAME``); results go to bench/results/*.json."""
