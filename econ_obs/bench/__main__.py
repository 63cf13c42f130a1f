"""Run the benchmarks: ``python -m econ_obs.bench``."""

from econ_obs.bench import random_baseline

if __name__ == "__main__":
    random_baseline.main()
