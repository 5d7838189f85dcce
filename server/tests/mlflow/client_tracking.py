"""The official mlflow client against a running Trellis: experiments, runs, params, metrics with
steps, batches, tags, metric history and error codes. Prints "ok" at the end.

Environment: MLFLOW_TRACKING_URI, and MLFLOW_TRACKING_TOKEN (a Trellis token scoped to a project)."""
import math
import os
import tempfile

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

client = MlflowClient()
exp = mlflow.set_experiment("client-test")
assert exp.name == "client-test", exp.name
again = mlflow.set_experiment("client-test")
assert again.experiment_id == exp.experiment_id

with mlflow.start_run(run_name="first") as run:
    run_id = run.info.run_id
    mlflow.log_params({"lr": "0.1", "depth": 4})
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({"acc": 0.5, "f1": 0.25}, step=1)
    mlflow.set_tags({"team": "churn", "stage": "dev"})
    mlflow.log_metric("odd", float("nan"))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "report.txt")
        with open(path, "w") as f:
            f.write("accuracy 0.9\n")
        mlflow.log_artifact(path)
        mlflow.log_artifact(path, artifact_path="reports/daily")
        # Multipart upload: 300 kB in parts of 100 kB, joined on the server.
        os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] = "true"
        os.environ["MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"] = "1024"
        os.environ["MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE"] = "100000"
        big = os.path.join(d, "weights.bin")
        weights = os.urandom(300_000)
        with open(big, "wb") as f:
            f.write(weights)
        mlflow.log_artifact(big, artifact_path="model")
        del os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"]

    # A logged param cannot change.
    try:
        mlflow.log_param("lr", "0.2")
        raise SystemExit("changing a param was accepted")
    except MlflowException as e:
        assert e.error_code == "INVALID_PARAMETER_VALUE", e.error_code

got = client.get_run(run_id)
assert got.info.status == "FINISHED", got.info.status
assert got.info.run_name == "first"
assert got.data.params == {"lr": "0.1", "depth": "4"}, got.data.params
assert got.data.metrics["loss"] == 0.2, got.data.metrics
assert math.isnan(got.data.metrics["odd"])
assert got.data.tags["team"] == "churn"
history = client.get_metric_history(run_id, "loss")
assert [m.step for m in history] == [0, 1, 2, 3, 4], history
assert abs(history[2].value - 1 / 3) < 1e-12

assert got.info.artifact_uri.startswith("mlflow-artifacts:/"), got.info.artifact_uri
listed = sorted((f.path, f.is_dir) for f in client.list_artifacts(run_id))
assert listed == [("model", True), ("report.txt", False), ("reports", True)], listed
assert [(f.path, f.file_size) for f in client.list_artifacts(run_id, "model")] == [("model/weights.bin", 300_000)]
with tempfile.TemporaryDirectory() as d:
    assert open(client.download_artifacts(run_id, "model/weights.bin", d), "rb").read() == weights
assert [f.path for f in client.list_artifacts(run_id, "reports/daily")] == ["reports/daily/report.txt"]
with tempfile.TemporaryDirectory() as d:
    local = client.download_artifacts(run_id, "reports/daily/report.txt", d)
    assert open(local).read() == "accuracy 0.9\n"

runs = client.search_runs([exp.experiment_id])
assert [r.info.run_id for r in runs] == [run_id]
with mlflow.start_run(run_name="second") as second:
    mlflow.log_param("lr", "0.01")
    mlflow.log_metric("loss", 0.1)
found = mlflow.search_runs(experiment_ids=[exp.experiment_id], filter_string="metrics.loss < 0.5 and params.lr = '0.1'",
                           output_format="list")
assert [r.info.run_name for r in found] == ["first"], found
ordered = client.search_runs([exp.experiment_id], order_by=["metrics.loss ASC"])
assert [r.info.run_name for r in ordered] == ["second", "first"], [r.info.run_name for r in ordered]

# The run name tag is the run's name, as on MLflow's own server: setting it renames the run,
# searches find it, deleting it leaves the name.
assert got.data.tags["mlflow.runName"] == "first", got.data.tags
client.set_tag(second.info.run_id, "mlflow.runName", "second, renamed")
assert client.get_run(second.info.run_id).info.run_name == "second, renamed"
named = client.search_runs([exp.experiment_id], filter_string="tags.mlflow.runName = 'second, renamed'")
assert [r.info.run_id for r in named] == [second.info.run_id], named
by_name = client.search_runs([exp.experiment_id], order_by=["tags.`mlflow.runName` DESC"])
assert [r.info.run_name for r in by_name] == ["second, renamed", "first"], [r.info.run_name for r in by_name]
client.delete_tag(run_id, "mlflow.runName")
untagged = client.get_run(run_id)
assert (untagged.info.run_name, "mlflow.runName" in untagged.data.tags) == ("first", False), untagged

try:
    client.get_run("0" * 32)
    raise SystemExit("an unknown run was found")
except MlflowException as e:
    assert e.error_code == "RESOURCE_DOES_NOT_EXIST", e.error_code

client.delete_run(run_id)
assert client.get_run(run_id).info.lifecycle_stage == "deleted"
client.restore_run(run_id)
print("ok")
