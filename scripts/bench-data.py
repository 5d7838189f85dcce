"""Generates the 1,000,000-row x 20-column CSV used by the profiling benchmark.

Usage: python3 scripts/bench-data.py OUT.csv [ROWS]
Columns: 8 floats (normal, lognormal, uniform), 6 integers, 3 categoricals, 2 booleans,
1 timestamp; about 2 % missing cells in the float columns.
"""
import sys

import numpy as np

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
rng = np.random.default_rng(42)
cols = {}
for i in range(8):
    x = [rng.normal(0, 1, n), rng.lognormal(3, 1, n), rng.uniform(-5, 5, n)][i % 3]
    x = np.round(x, 5).astype(object)
    x[rng.random(n) < 0.02] = ""
    cols[f"f{i}"] = x
for i in range(6):
    cols[f"i{i}"] = rng.integers(0, 10 ** (i + 1), n)
cats = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
for i in range(3):
    cols[f"c{i}"] = cats[rng.integers(0, 2 + 2 * i, n)]
for i in range(2):
    cols[f"b{i}"] = np.where(rng.random(n) < 0.3, "true", "false")
base = np.datetime64("2024-01-01T00:00:00")
cols["ts"] = (base + rng.integers(0, 365 * 86400, n).astype("timedelta64[s]")).astype(str)
import pandas as pd

pd.DataFrame(cols).to_csv(out, index=False)
