"""Benchmarks: each prints ratios against a baseline measured in the same process (machines are shared and noisy)."""
