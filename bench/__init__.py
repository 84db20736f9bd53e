"""Benchmarks (`python -m bench`); not part of the test suite. See docs/benchmarks.md."""
