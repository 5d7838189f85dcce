"""The official mlflow client against a running Trellis: log_model with scikit-learn, the model
registry (register, versions, aliases, tags, stages, search) and loading a model back by alias,
dataset inputs and nested runs. Prints "ok" at the end.

Environment: MLFLOW_TRACKING_URI, and MLFLOW_TRACKING_TOKEN (a Trellis token scoped to a project);
TRELLIS_DATASET_SOURCE names a dataset version of that project."""
import os

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

client = MlflowClient()
exp = mlflow.set_experiment("registry-test")

rng = np.random.default_rng(7)
X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
y = (X["a"] + 0.5 * X["b"] > 0).astype(int)
model = LogisticRegression().fit(X, y)
expected = model.predict_proba(X.head(5))

with mlflow.start_run(run_name="parent") as parent:
    with mlflow.start_run(run_name="trial-1", nested=True) as child:
        mlflow.log_param("C", 1.0)
        mlflow.log_metric("accuracy", float((model.predict(X) == y).mean()))
        mlflow.log_metric("loss", 0.3, step=3)
        dataset = mlflow.data.from_pandas(X.assign(y=y), source=os.environ["TRELLIS_DATASET_SOURCE"], name="train")
        mlflow.log_input(dataset, context="training")
        info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(2), registered_model_name="iris-like")
        child_id = child.info.run_id

# The logged model: READY, in the experiment, with the run's params and the metrics of its step (0).
assert info.model_id.startswith("m-"), info.model_id
assert str(info.registered_model_version) == "1", info.registered_model_version
logged = client.get_logged_model(info.model_id)
assert logged.status.to_int() == 2 or str(logged.status).endswith("READY"), logged.status
assert logged.source_run_id == child_id
assert logged.params.get("C") == "1.0", logged.params
assert [m.key for m in logged.metrics] == ["accuracy"], logged.metrics
assert logged.artifact_location.startswith(f"mlflow-artifacts:/{exp.experiment_id}/models/{info.model_id}"), logged.artifact_location
found = mlflow.search_logged_models(experiment_ids=[exp.experiment_id], filter_string="name = 'model'", output_format="list")
assert [m.model_id for m in found] == [info.model_id], found

# The run records its output model, its dataset input and its parent.
run = client.get_run(child_id)
assert [o.model_id for o in run.outputs.model_outputs] == [info.model_id], run.outputs
assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["train"], run.inputs
assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
children = client.search_runs([exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
assert [r.info.run_id for r in children] == [child_id]

# A second version from the run's model path; an alias; loading by alias and by version.
mv2 = mlflow.register_model(f"runs:/{child_id}/model", "iris-like")
assert mv2.version == "2", mv2.version
client.set_registered_model_alias("iris-like", "champion", "1")
client.set_model_version_tag("iris-like", "1", "validated", "yes")
client.set_registered_model_tag("iris-like", "team", "churn")
client.update_registered_model("iris-like", description="a test model")
by_alias = client.get_model_version_by_alias("iris-like", "champion")
assert by_alias.version == "1" and by_alias.tags == {"validated": "yes"}, by_alias
loaded = mlflow.sklearn.load_model("models:/iris-like@champion")
assert np.allclose(loaded.predict_proba(X.head(5)), expected)
pyfunc = mlflow.pyfunc.load_model("models:/iris-like/1")
assert list(pyfunc.predict(X.head(5))) == list(model.predict(X.head(5)))

# Moving the alias is atomic: it names version 2 now.
client.set_registered_model_alias("iris-like", "champion", "2")
assert client.get_model_version_by_alias("iris-like", "champion").version == "2"
rm = client.get_registered_model("iris-like")
assert rm.aliases == {"champion": "2"}, rm.aliases
assert rm.tags == {"team": "churn"} and rm.description == "a test model", rm
versions = client.search_model_versions("name = 'iris-like'")
assert sorted(v.version for v in versions) == ["1", "2"], versions
# Registry searches exclude prompts with a `!=` on a tag most models lack, as the client does.
found = client.search_registered_models(filter_string="name LIKE 'iris%'")
assert [m.name for m in found] == ["iris-like"], found
client.transition_model_version_stage("iris-like", "2", "Production")
latest = client.get_latest_versions("iris-like", stages=["Production"])
assert [v.version for v in latest] == ["2"], latest

# MLflow's error codes.
for call, code in [
    (lambda: client.get_registered_model("no-such-model"), "RESOURCE_DOES_NOT_EXIST"),
    (lambda: client.get_model_version("iris-like", "9"), "RESOURCE_DOES_NOT_EXIST"),
    (lambda: client.create_registered_model("iris-like"), "RESOURCE_ALREADY_EXISTS"),
    (lambda: client.set_registered_model_alias("iris-like", "latest", "1"), "INVALID_PARAMETER_VALUE"),
    (lambda: client.get_model_version_by_alias("iris-like", "nobody"), "RESOURCE_DOES_NOT_EXIST"),
    (lambda: client.create_model_version("iris-like", "/etc/passwd"), "INVALID_PARAMETER_VALUE"),
]:
    try:
        call()
        raise SystemExit(f"expected {code}")
    except MlflowException as e:
        assert e.error_code == code, (e.error_code, code, e.message)

client.delete_registered_model_alias("iris-like", "champion")
client.delete_model_version("iris-like", "1")
assert [v.version for v in client.search_model_versions("name = 'iris-like'")] == ["2"]
client.delete_registered_model("iris-like")
assert client.search_registered_models() == []
print("ok")
