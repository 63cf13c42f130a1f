"""Run the benchmarks: ``python -m econ_obs.bench`` (what ``make bench`` runs)."""

import sys

from econ_obs.bench import load, matched_null, memory, orchestration, random_baseline, sweep

if __name__ == "__main__":
    print("== random baseline: streaming vs dense ==")
    random_baseline.main()
    print("\n== matched null: batched placements vs the accounting function ==")
    matched_ok = matched_null.main()
    print("\n== load 2.6M 1m bars from Parquet ==")
    load_ok = load.main()
    print("\n== whole sweeps through econ-obs sweep (Dagster + PostgreSQL included) ==")
    sweeps_ok = sweep.main()
    print("\n== orchestration share: 240 and 600 partitions, sweep wall vs core compute ==")
    orchestration_ok = orchestration.main()
    print("\n== peak memory: 2.6M 1m bars through econ-obs sweep, per bar per asset ==")
    memory_ok = memory.main()
    passed = matched_ok and load_ok and sweeps_ok and orchestration_ok and memory_ok
    sys.exit(0 if passed else 1)
