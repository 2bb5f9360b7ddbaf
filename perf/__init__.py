"""Load tests, the worker-count sweep and the cost benchmarks (never imported by pytest)."""
