"""The pandas side of the profiling benchmark: read_csv + describe() + a 20-bin histogram per
numeric column, on the same file (read_parquet for .parquet files; needs pyarrow).
Usage: python3 scripts/bench-pandas.py FILE.csv|FILE.parquet"""
import sys
import time

import numpy as np
import pandas as pd

start = time.perf_counter()
df = pd.read_parquet(sys.argv[1]) if sys.argv[1].endswith(".parquet") else pd.read_csv(sys.argv[1])
read = time.perf_counter() - start
desc = df.describe(include="all", percentiles=[0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
for c in df.select_dtypes("number").columns:
    x = df[c].dropna().to_numpy()
    np.histogram(x, bins=20)
for c in df.select_dtypes(exclude="number").columns:
    df[c].value_counts().head(10)
total = time.perf_counter() - start
print(f"{sys.argv[1]}: {len(df)} rows x {df.shape[1]} columns; read {read:.2f} s; total {total:.2f} s ({len(df) / total:.0f} rows/s)")
