"""Makes the serving benchmark's model: a scikit-learn GradientBoostingClassifier (100 trees,
depth 3) on 20 generated features, saved for MLServer (model.joblib + model-settings.json) and
exported with skl2onnx (model.onnx, no ZipMap); writes one OIP request body with one row.
Usage: python serving_model.py OUT_DIR"""
import json
import os
import sys

import joblib
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

out = sys.argv[1]
os.makedirs(os.path.join(out, "mlserver", "gbc"), exist_ok=True)
X, y = make_classification(n_samples=5000, n_features=20, n_informative=10, random_state=0)
X = X.astype(np.float32)
model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(X, y)
joblib.dump(model, os.path.join(out, "mlserver", "gbc", "model.joblib"))
with open(os.path.join(out, "mlserver", "gbc", "model-settings.json"), "w") as f:
    json.dump({"name": "gbc", "implementation": "mlserver_sklearn.SKLearnModel",
               "parameters": {"uri": "./model.joblib"}}, f)
onx = to_onnx(model, initial_types=[("input", FloatTensorType([None, 20]))],
              options={GradientBoostingClassifier: {"zipmap": False}})
with open(os.path.join(out, "model.onnx"), "wb") as f:
    f.write(onx.SerializeToString())
row = [float(v) for v in X[0]]
with open(os.path.join(out, "request.json"), "w") as f:
    json.dump({"inputs": [{"name": "input", "shape": [1, 20], "datatype": "FP32", "data": row}]}, f)
print(json.dumps({"predict_proba": model.predict_proba(X[:1]).tolist()}))
