"""Benchmarks: `make bench` (or `python -m bench [name ...]`).

Each ``bench/bench_<name>.py`` has ``run() -> list[str]`` and prints figures as ratios against a
baseline measured in the same run, because these machines are noisy.
"""
