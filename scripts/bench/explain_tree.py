"""TreeSHAP benchmark, Python side. `write DIR` writes the table (5,000 rows × 20 features of
make_classification, then `y`) to DIR/explain.csv; `run DIR/explain.csv` fits scikit-learn's
GradientBoostingClassifier (100 trees, depth 3) and RandomForestClassifier (100 trees, depth 8)
on it and times shap's TreeExplainer on one row at a time over the first 1,000 rows (and on all
1,000 at once). Needs numpy, scikit-learn and shap."""
import os
import sys
import time

import numpy as np

if sys.argv[1] == "write":
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=5000, n_features=20, n_informative=10, random_state=0)
    os.makedirs(sys.argv[2], exist_ok=True)
    with open(os.path.join(sys.argv[2], "explain.csv"), "w") as f:
        f.write(",".join([f"x{i}" for i in range(20)] + ["y"]) + "\n")
        for row, label in zip(X, y):
            f.write(",".join(f"{v:.17g}" for v in row) + f",{label}\n")
    sys.exit(0)

import shap
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

data = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1)
X, y = data[:, :-1], data[:, -1].astype(int)
for name, model in [("gradient_boosting", GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0)),
                    ("random_forest", RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0, n_jobs=1))]:
    model.fit(X, y)
    explainer = shap.TreeExplainer(model)
    explainer.shap_values(X[:1])
    n = min(1000, len(X))
    t = time.perf_counter()
    for i in range(n):
        explainer.shap_values(X[i:i + 1])
    one = (time.perf_counter() - t) / n
    t = time.perf_counter()
    explainer.shap_values(X[:n])
    batch = (time.perf_counter() - t) / n
    print(f"shap {shap.__version__} TreeExplainer {name}: {one * 1e6:.1f} µs per row one at a time, {batch * 1e6:.1f} µs per row for {n} at once")
