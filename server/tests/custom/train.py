"""A custom training job: scikit-learn on the splits Trellis wrote, logged with mlflow, exported
to ONNX with skl2onnx. Imports a helper from the same archive."""
import argparse
import json
import os
import sys

import mlflow
import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from helpers.data import features_and_labels

parser = argparse.ArgumentParser()
parser.add_argument("--C", type=float, default=1.0)
args = parser.parse_args()

data = os.environ["TRELLIS_DATA_DIR"]
train = pd.read_csv(os.path.join(data, "train.csv"))
valid = pd.read_csv(os.path.join(data, "validation.csv"))
X, y = features_and_labels(train)
Xv, yv = features_and_labels(valid)
print(f"training on {len(train)} rows, validating on {len(valid)}")

# mlflow.start_run() continues the run named by MLFLOW_RUN_ID (and removes the variable).
made_for_job = os.environ["MLFLOW_RUN_ID"]
with mlflow.start_run() as run:
    assert run.info.run_id == made_for_job, "the run made for the job"
    mlflow.log_param("C", args.C)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=1000))
    for step, n in enumerate([50, 150, len(X)]):
        model.fit(X[:n], y[:n])
        mlflow.log_metric("validation_accuracy", model.score(Xv, yv), step=step)
    accuracy = model.score(Xv, yv)
    onx = to_onnx(model, initial_types=[("input", FloatTensorType([None, X.shape[1]]))],
                  options={LogisticRegression: {"zipmap": False}})
    with open(os.path.join(os.environ["TRELLIS_OUTPUT_DIR"], "model.onnx"), "wb") as f:
        f.write(onx.SerializeToString())
    # The ONNX input is one [rows, 30] matrix: name its columns for Trellis's endpoints.
    features = [c for c in train.columns if c != "diagnosis"]
    mlflow.set_tag("trellis.feature_names", ",".join(features))
    # What scikit-learn predicts for a few rows, to compare with the served model.
    sample = valid[features].head(5)
    expected = {"rows": sample.to_dict(orient="records"),
                "probabilities": model.predict_proba(sample.to_numpy(np.float32)).tolist()}
    with open(os.path.join(os.environ["TRELLIS_OUTPUT_DIR"], "expected.json"), "w") as f:
        json.dump(expected, f)
    with open(os.path.join(os.environ["TRELLIS_OUTPUT_DIR"], "report.txt"), "w") as f:
        f.write(f"accuracy {accuracy:.4f}\n")
    print(f"validation accuracy {accuracy:.4f}")
    print("secret visible:", "DATABASE_URL" in os.environ, file=sys.stderr)
