"""Benchmarks that report ratios measured in one process (`tfls bench attacks`)."""
