#!/usr/bin/env python3
"""Training benchmark, Python side: writes the benchmark tables and trains LightGBM and
scikit-learn's random forest on them, printing time and test AUC.

  python scripts/bench/training.py write DIR      # DIR/breast_cancer.csv, DIR/generated_1m.csv
  python scripts/bench/training.py run FILE.csv   # LightGBM and scikit-learn on one table
  python scripts/bench/training.py run-boosting FILE.csv   # LightGBM alone

Each table is numeric: feature columns, then `y` (0/1) and `split` (0 train, 1 validation,
2 test), so both sides train and test on the same rows. The Rust side is
`cargo bench -p trellis-ml --bench train_tabular -- FILE.csv`.
"""
import sys
import time

import numpy as np


def write(out_dir):
    from sklearn.datasets import load_breast_cancer

    rng = np.random.default_rng(7)
    d = load_breast_cancer()
    split = rng.choice(3, size=len(d.target), p=[0.7, 0.15, 0.15])
    save(f"{out_dir}/breast_cancer.csv", d.data, d.target, split)
    # 1,000,000 rows x 20 features: 8 informative (with interactions), 12 noise.
    n = 1_000_000
    x = rng.normal(size=(n, 20))
    logit = (x[:, 0] + 0.8 * x[:, 1] - 0.6 * x[:, 2] + 0.5 * x[:, 3] * x[:, 4]
             + np.sin(2 * x[:, 5]) + 0.4 * (x[:, 6] > 0.5) - 0.3 * x[:, 7] ** 2)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    split = rng.choice(3, size=n, p=[0.8, 0.1, 0.1])
    save(f"{out_dir}/generated_1m.csv", x, y, split)


def save(path, x, y, split):
    cols = [f"x{i}" for i in range(x.shape[1])]
    with open(path, "w") as f:
        f.write(",".join(cols + ["y", "split"]) + "\n")
        for row, t, s in zip(x, y, split):
            f.write(",".join(f"{v:.6g}" for v in row) + f",{t},{s}\n")


def run(path, forest=True):
    import lightgbm as lgb
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    data = np.loadtxt(path, delimiter=",", skiprows=1)
    x, y, split = data[:, :-2], data[:, -2], data[:, -1]
    tr, va, te = split == 0, split == 1, split == 2
    t = time.perf_counter()
    gbm = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.1, max_depth=6, num_leaves=63,
                             reg_lambda=1.0, min_child_weight=1.0, n_jobs=2, verbose=-1)
    gbm.fit(x[tr], y[tr], eval_set=[(x[va], y[va])], eval_metric="binary_logloss",
            callbacks=[lgb.early_stopping(20, verbose=False)])
    gbm_s = time.perf_counter() - t
    gbm_auc = roc_auc_score(y[te], gbm.predict_proba(x[te])[:, 1])
    print(f"lightgbm {lgb.__version__}: {gbm_s:.3f} s, {gbm.best_iteration_} trees, test AUC {gbm_auc:.4f}")
    if not forest:
        return
    t = time.perf_counter()
    rf = RandomForestClassifier(n_estimators=100, max_depth=16, n_jobs=2, random_state=0)
    rf.fit(x[tr], y[tr])
    rf_s = time.perf_counter() - t
    rf_auc = roc_auc_score(y[te], rf.predict_proba(x[te])[:, 1])
    import sklearn
    print(f"scikit-learn {sklearn.__version__} random forest: {rf_s:.3f} s, test AUC {rf_auc:.4f}")


if __name__ == "__main__":
    {"write": write, "run": run, "run-boosting": lambda p: run(p, forest=False)}[sys.argv[1]](sys.argv[2])
