"""Benchmarks: each compares against a peer in the same run and prints ratios."""
