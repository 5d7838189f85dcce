"""Logs a run with a scikit-learn model from Python, as a training script would, through the
official mlflow client: params, a loss curve, a note, a dataset input, two files, the model (registered as
churn-classifier) and the alias "champion". Prints the run id.

Environment: MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD."""
import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

mlflow.set_experiment("churn-model/python")
rng = np.random.default_rng(1)
X = pd.DataFrame({"tenure": rng.integers(1, 60, 300).astype(float), "charges": rng.normal(70, 20, 300)})
y = (X["tenure"] < 12).astype(int)
with mlflow.start_run(run_name="py-logreg") as run:
    mlflow.log_params({"C": 0.5, "penalty": "l2"})
    for step in range(30):
        mlflow.log_metric("loss", 0.7 * 0.9**step, step=step)
    mlflow.set_tag("mlflow.note.content", "Baseline logistic regression on tenure and charges.")
    mlflow.log_input(mlflow.data.from_pandas(X, name="churn-train"), context="training")
    mlflow.log_text("epoch,loss\n1,0.52\n2,0.41\n", "curves/history.csv")
    mlflow.log_text("Features: tenure, charges.\n", "README.txt")
    model = LogisticRegression(C=0.5).fit(X, y)
    mlflow.log_metric("accuracy", float((model.predict(X) == y).mean()))
    mlflow.sklearn.log_model(model, name="model", registered_model_name="churn-model.churn-classifier")
MlflowClient().set_registered_model_alias("churn-model.churn-classifier", "champion", "1")
print(run.info.run_id)
