"""Benchmarks (scripts, not tests): ``python -m trialmap.bench NAME [options]``.

Each module in this package with a ``main(argv) -> int`` function is one
benchmark; it prints its numbers (and ratios against a baseline measured in the
same run). ``python -m trialmap.bench`` lists them.
"""
