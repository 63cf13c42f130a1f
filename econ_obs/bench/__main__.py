"""Run the benchmarks: ``python -m econ_obs.bench`` (what ``make bench`` runs)."""

from econ_obs.bench import random_baseline, sweep

if __name__ == "__main__":
    print("== random baseline: streaming vs dense ==")
    random_baseline.main()
    print("\n== whole sweeps through econ-obs sweep (Dagster + PostgreSQL included) ==")
    sweep.main()
