"""Benchmarks that print figures (`make bench`, `python -m bench`); the tests check behaviour."""
