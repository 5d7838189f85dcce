//! The MLflow tracking API: HTTP behaviour and errors, roles, and the real `mlflow` client.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn ml(app: &TestApp, token: Option<&str>, path: &str, body: Value) -> (StatusCode, Value) {
    let mut r = app.http.post(app.at(&format!("/api/2.0/mlflow/{path}"))).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let res = r.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn ml_get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let res = app.http.get(app.at(&format!("/api/2.0/mlflow/{path}"))).bearer_auth(token).send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn code(v: &Value) -> &str {
    v["error_code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn experiments_runs_params_metrics_and_tags() {
    let app = spawn().await;
    let team = app.team().await;
    // Without a project-scoped token, experiment names carry the project.
    let (s, v) = ml(&app, Some(&team.editor), "experiments/create", json!({ "name": "baseline" })).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"), "{v}");
    let (s, v) = ml(&app, Some(&team.editor), "experiments/create", json!({ "name": "churn/baseline", "tags": [{ "key": "owner", "value": "ml" }] })).await;
    assert_eq!(s, 200, "{v}");
    let exp_id = v["experiment_id"].as_str().unwrap().to_string();
    let (s, v) = ml(&app, Some(&team.editor), "experiments/create", json!({ "name": "churn/baseline" })).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS"));
    let (s, v) = ml(&app, Some(&team.viewer), "experiments/create", json!({ "name": "churn/other" })).await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "PERMISSION_DENIED"));
    let (s, v) = ml_get(&app, &team.viewer, "experiments/get-by-name?experiment_name=churn/baseline").await;
    assert_eq!(s, 200);
    assert_eq!(v["experiment"]["experiment_id"], exp_id.as_str());
    assert_eq!(v["experiment"]["tags"], json!([{ "key": "owner", "value": "ml" }]));
    let (s, v) = ml_get(&app, &team.outsider, &format!("experiments/get?experiment_id={exp_id}")).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"), "outsiders learn nothing");
    let (s, v) = ml_get(&app, &team.viewer, "experiments/get-by-name?experiment_name=churn/nope").await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"));

    // A run with params, metrics (history and latest) and tags.
    let (s, v) = ml(&app, Some(&team.editor), "runs/create", json!({ "experiment_id": exp_id, "start_time": "1700000000000", "tags": [{ "key": "mlflow.user", "value": "ada" }] })).await;
    assert_eq!(s, 200, "{v}");
    let run_id = v["run"]["info"]["run_id"].as_str().unwrap().to_string();
    assert_eq!(v["run"]["info"]["status"], "RUNNING");
    assert_eq!(v["run"]["info"]["start_time"], 1_700_000_000_000i64);
    assert_eq!(v["run"]["info"]["artifact_uri"], format!("mlflow-artifacts:/{exp_id}/{run_id}/artifacts"));
    let metrics: Vec<Value> = (0..10).map(|i| json!({ "key": "loss", "value": 1.0 / (i as f64 + 1.0), "timestamp": 1000 + i, "step": i })).collect();
    let (s, v) = ml(&app, Some(&team.editor), "runs/log-batch", json!({ "run_id": run_id, "metrics": metrics, "params": [{ "key": "lr", "value": "0.1" }], "tags": [{ "key": "t", "value": "1" }, { "key": "t", "value": "2" }] })).await;
    assert_eq!(s, 200, "{v}");
    // An earlier step logged later does not replace the latest value.
    ml(&app, Some(&team.editor), "runs/log-metric", json!({ "run_id": run_id, "key": "loss", "value": 9.0, "timestamp": 5000, "step": 3 })).await;
    ml(&app, Some(&team.editor), "runs/log-metric", json!({ "run_id": run_id, "key": "odd", "value": "NaN", "timestamp": 5000 })).await;
    let (_, v) = ml_get(&app, &team.viewer, &format!("runs/get?run_id={run_id}")).await;
    let data = &v["run"]["data"];
    assert_eq!(data["params"], json!([{ "key": "lr", "value": "0.1" }]));
    let loss = data["metrics"].as_array().unwrap().iter().find(|m| m["key"] == "loss").unwrap();
    assert_eq!((loss["step"].as_i64(), loss["value"].as_f64()), (Some(9), Some(0.1)));
    let odd = data["metrics"].as_array().unwrap().iter().find(|m| m["key"] == "odd").unwrap();
    assert_eq!(odd["value"], "NaN");
    let tags = data["tags"].as_array().unwrap();
    assert!(tags.contains(&json!({ "key": "t", "value": "2" })), "the last value in a batch wins: {tags:?}");
    assert!(tags.contains(&json!({ "key": "mlflow.runName", "value": v["run"]["info"]["run_name"] })));
    let (_, h) = ml_get(&app, &team.viewer, &format!("metrics/get-history?run_id={run_id}&metric_key=loss")).await;
    let steps: Vec<i64> = h["metrics"].as_array().unwrap().iter().map(|m| m["step"].as_i64().unwrap()).collect();
    assert_eq!(steps, vec![0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9]);
    let (_, page1) = ml_get(&app, &team.viewer, &format!("metrics/get-history?run_id={run_id}&metric_key=loss&max_results=4")).await;
    assert_eq!(page1["metrics"].as_array().unwrap().len(), 4);
    let token = page1["next_page_token"].as_str().unwrap();
    let (_, page2) = ml_get(&app, &team.viewer, &format!("metrics/get-history?run_id={run_id}&metric_key=loss&max_results=4&page_token={token}")).await;
    assert_eq!(page2["metrics"][0]["step"], 3);

    // Params are write-once; limits and bad input are INVALID_PARAMETER_VALUE; nothing is half-written.
    let (s, v) = ml(&app, Some(&team.editor), "runs/log-parameter", json!({ "run_id": run_id, "key": "lr", "value": "0.2" })).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"));
    assert!(v["message"].as_str().unwrap().contains("Changing param values is not allowed"), "{v}");
    assert_eq!(ml(&app, Some(&team.editor), "runs/log-parameter", json!({ "run_id": run_id, "key": "lr", "value": "0.1" })).await.0, 200, "the same value again is fine");
    let too_many: Vec<Value> = (0..1001).map(|i| json!({ "key": "m", "value": 1, "timestamp": i })).collect();
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM run_metric_values").fetch_one(&app.db).await.unwrap();
    for (body, needle) in [
        (json!({ "run_id": run_id, "metrics": too_many }), "at most 1000 metrics"),
        (json!({ "run_id": run_id, "metrics": [{ "key": "ok", "value": 1, "timestamp": 1 }], "params": [{ "key": "lr", "value": "0.3" }] }), "Changing param values"),
        (json!({ "run_id": run_id, "metrics": [{ "key": "../up", "value": 1, "timestamp": 1 }] }), "Invalid metric name"),
        (json!({ "run_id": run_id, "params": [{ "key": "long", "value": "x".repeat(6001) }] }), "exceeded length limit of 6000"),
        (json!({ "run_id": run_id, "metrics": [{ "key": "m", "value": 1 }] }), "timestamp"),
    ] {
        let (s, v) = ml(&app, Some(&team.editor), "runs/log-batch", body).await;
        assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"), "{v}");
        assert!(v["message"].as_str().unwrap().contains(needle), "{needle}: {v}");
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM run_metric_values").fetch_one(&app.db).await.unwrap();
    assert_eq!(before, after, "a refused batch writes nothing");
    let res = app.http.post(app.at("/api/2.0/mlflow/runs/log-batch")).bearer_auth(&team.editor).body("{not json").send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error_code"], "MALFORMED_REQUEST");

    // Roles: viewers read but do not log; outsiders do not see the run; no credentials → 401.
    let (s, v) = ml(&app, Some(&team.viewer), "runs/log-metric", json!({ "run_id": run_id, "key": "loss", "value": 1, "timestamp": 1 })).await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "PERMISSION_DENIED"));
    let (s, v) = ml_get(&app, &team.outsider, &format!("runs/get?run_id={run_id}")).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"));
    let (s, v) = ml(&app, None, "runs/get", json!({})).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    let (s, v) = ml(&app, None, "runs/log-metric", json!({ "run_id": run_id })).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"));

    // Finish, search, delete and restore.
    let (_, v) = ml(&app, Some(&team.editor), "runs/update", json!({ "run_id": run_id, "status": "FINISHED", "end_time": 1700000100000i64 })).await;
    assert_eq!((v["run_info"]["status"].as_str(), v["run_info"]["end_time"].as_i64()), (Some("FINISHED"), Some(1_700_000_100_000)));
    let (s, v) = ml(&app, Some(&team.editor), "runs/update", json!({ "run_id": run_id, "status": "DONE" })).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"));
    let (_, found) = ml(&app, Some(&team.viewer), "runs/search", json!({ "experiment_ids": [exp_id] })).await;
    assert_eq!(found["runs"].as_array().unwrap().len(), 1);
    ml(&app, Some(&team.editor), "runs/delete", json!({ "run_id": run_id })).await;
    let (_, found) = ml(&app, Some(&team.viewer), "runs/search", json!({ "experiment_ids": [exp_id] })).await;
    assert_eq!(found["runs"], json!([]));
    let (s, v) = ml(&app, Some(&team.editor), "runs/log-metric", json!({ "run_id": run_id, "key": "loss", "value": 1, "timestamp": 1 })).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"), "a deleted run takes no metrics");
    ml(&app, Some(&team.editor), "runs/restore", json!({ "run_id": run_id })).await;
    let (_, found) = ml(&app, Some(&team.viewer), "runs/search", json!({ "experiment_ids": [exp_id], "run_view_type": "ALL" })).await;
    assert_eq!(found["runs"][0]["info"]["lifecycle_stage"], "active");

    // Experiments: search, rename, delete (hides it and its runs), restore.
    let (_, list) = ml(&app, Some(&team.viewer), "experiments/search", json!({ "max_results": 10 })).await;
    assert_eq!(list["experiments"].as_array().unwrap().len(), 1);
    let (_, list) = ml(&app, Some(&team.outsider), "experiments/search", json!({})).await;
    assert_eq!(list["experiments"], json!([]));
    ml(&app, Some(&team.editor), "experiments/create", json!({ "name": "churn/other", "tags": [{ "key": "team", "value": "ml" }] })).await;
    let names = |v: &Value| v["experiments"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let (_, list) = ml(&app, Some(&team.viewer), "experiments/search", json!({ "filter": "name LIKE 'churn/oth%'" })).await;
    assert_eq!(names(&list), ["churn/other"]);
    let (_, list) = ml(&app, Some(&team.viewer), "experiments/search", json!({ "filter": "tags.team = 'ml'" })).await;
    assert_eq!(names(&list), ["churn/other"]);
    let (_, list) = ml(&app, Some(&team.viewer), "experiments/search", json!({ "order_by": ["name DESC"] })).await;
    assert_eq!(names(&list).len(), 2);
    assert_eq!(names(&list)[0], "churn/other");
    let (s, v) = ml(&app, Some(&team.viewer), "experiments/search", json!({ "filter": "metrics.x > 1" })).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"));
    assert_eq!(ml(&app, Some(&team.editor), "experiments/update", json!({ "experiment_id": exp_id, "new_name": "churn/renamed" })).await.0, 200);
    ml(&app, Some(&team.editor), "experiments/delete", json!({ "experiment_id": exp_id })).await;
    let (_, list) = ml(&app, Some(&team.viewer), "experiments/search", json!({})).await;
    assert_eq!(names(&list), ["churn/other"]);
    let (_, list) = ml(&app, Some(&team.viewer), "experiments/search", json!({ "view_type": "DELETED_ONLY" })).await;
    assert_eq!(list["experiments"][0]["name"], "churn/renamed");
    ml(&app, Some(&team.editor), "experiments/restore", json!({ "experiment_id": exp_id })).await;
    let (_, v) = ml_get(&app, &team.viewer, &format!("experiments/get?experiment_id={exp_id}")).await;
    assert_eq!(v["experiment"]["lifecycle_stage"], "active");
    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'experiment.%' OR action LIKE 'run.%'").fetch_one(&app.db).await.unwrap();
    assert!(audit >= 6, "changes are audited ({audit})");
}

/// A project "churn" with an editor whose token is scoped to it (as a training script's).
async fn scoped_editor(app: &TestApp) -> (i64, String) {
    app.team().await;
    let (actor, _) = app.user("scripts@example.org", false).await;
    let project: i64 = sqlx::query_scalar("SELECT id FROM projects WHERE slug = 'churn'").fetch_one(&app.db).await.unwrap();
    sqlx::query("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'editor')")
        .bind(project)
        .bind(actor.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    let (_, token) = trellis_core::tokens::create(&app.db, &actor, "mlflow", Some("churn")).await.unwrap();
    (project, token)
}

/// Runs one of the client scripts in tests/mlflow with the official `mlflow` Python client
/// (pinned in the test virtualenv) against the live server; it must print "ok".
async fn run_client_script(app: &TestApp, token: &str, script: &str, env: &[(&str, &str)]) {
    let python = std::env::var("TRELLIS_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let path = format!("{}/tests/mlflow/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new(&python)
        .arg(&path)
        .env("MLFLOW_TRACKING_URI", &app.url)
        .env("MLFLOW_TRACKING_TOKEN", token)
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("python for the mlflow client (scripts/bootstrap.sh test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.trim_end().ends_with("ok"), "{script} failed:\n{stdout}\n{stderr}");
}

#[tokio::test]
async fn the_official_mlflow_client_works_unchanged() {
    let app = spawn().await;
    let (project, token) = scoped_editor(&app).await;
    run_client_script(&app, &token, "client_tracking.py", &[]).await;
    // What the client logged is there, in the token's project.
    let runs: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE e.project_id = $1 AND e.name = 'client-test'",
    )
    .bind(project)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(runs, 2);
}

/// `log_model`, the registry and `models:/name@alias` through the official client.
#[tokio::test]
async fn models_are_logged_registered_and_loaded_by_alias_with_the_mlflow_client() {
    let app = spawn().await;
    let (project, token) = scoped_editor(&app).await;
    let res = app.send(reqwest::Method::POST, "/v1/projects/churn/datasets", Some(&token), Some(json!({ "name": "customers" }))).await;
    assert_eq!(res.status(), 201);
    let res = upload_version(&app, &token, "customers", "customers.csv", CUSTOMERS_CSV.as_bytes().to_vec(), "text/csv").await;
    assert!(res.status().is_success(), "{}", res.status());
    let source = format!("{}/v1/projects/churn/datasets/customers/versions/1", app.url);
    run_client_script(&app, &token, "client_models.py", &[("TRELLIS_DATASET_SOURCE", &source)]).await;
    // The dataset input was linked to the Trellis dataset version it names.
    let linked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM run_dataset_inputs i JOIN dataset_versions v ON v.id = i.dataset_version_id
           JOIN datasets d ON d.id = v.dataset_id WHERE d.project_id = $1 AND d.name = 'customers' AND v.version = 1",
    )
    .bind(project)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(linked, 1);
    // The model's files are stored once per content and still referenced by the logged model.
    let files: i64 = sqlx::query_scalar("SELECT count(*) FROM logged_model_artifacts").fetch_one(&app.db).await.unwrap();
    assert!(files >= 3, "MLmodel, model.pkl, requirements…: {files}");
}

#[tokio::test]
async fn runs_are_searched_with_mlflow_filters_and_order() {
    let app = spawn().await;
    let team = app.team().await;
    let (_, v) = ml(&app, Some(&team.editor), "experiments/create", json!({ "name": "churn/search" })).await;
    let exp_id = v["experiment_id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for (i, (model, loss, status)) in [("rf", 0.30, "FINISHED"), ("gbt", 0.20, "FINISHED"), ("rf", 0.25, "FAILED"), ("linear", 0.50, "FINISHED")].iter().enumerate() {
        let (_, v) = ml(&app, Some(&team.editor), "runs/create", json!({ "experiment_id": exp_id, "run_name": format!("r{i}"), "start_time": 1000 + i })).await;
        let id = v["run"]["info"]["run_id"].as_str().unwrap().to_string();
        let body = json!({ "run_id": id, "metrics": [{ "key": "loss", "value": loss, "timestamp": 1 }], "params": [{ "key": "model", "value": model }], "tags": [{ "key": "team", "value": if i % 2 == 0 { "a" } else { "b" } }] });
        assert_eq!(ml(&app, Some(&team.editor), "runs/log-batch", body).await.0, 200);
        ml(&app, Some(&team.editor), "runs/update", json!({ "run_id": id, "status": status })).await;
        ids.push(id);
    }
    // One run without the metric: it sorts last either way.
    let (_, v) = ml(&app, Some(&team.editor), "runs/create", json!({ "experiment_id": exp_id, "run_name": "empty", "start_time": 999 })).await;
    let empty = v["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let search = |filter: &str, order: Vec<&str>| {
        json!({ "experiment_ids": [exp_id], "filter": filter, "order_by": order })
    };
    let names = |v: &Value| -> Vec<String> {
        v["runs"].as_array().unwrap().iter().map(|r| r["info"]["run_name"].as_str().unwrap().to_string()).collect()
    };
    let (_, v) = ml(&app, Some(&team.viewer), "runs/search", search("metrics.loss < 0.4 and params.model = 'rf'", vec![])).await;
    assert_eq!(names(&v), vec!["r2", "r0"], "newest first by default");
    let (_, v) = ml(&app, Some(&team.viewer), "runs/search", search("attributes.status = 'FINISHED'", vec!["metrics.loss ASC"])).await;
    assert_eq!(names(&v), vec!["r1", "r0", "r3"]);
    let (_, v) = ml(&app, Some(&team.viewer), "runs/search", search("", vec!["metrics.loss DESC"])).await;
    assert_eq!(names(&v), vec!["r3", "r0", "r2", "r1", "empty"]);
    let (_, v) = ml(&app, Some(&team.viewer), "runs/search", search("tags.team != 'a' and params.model LIKE '%b%'", vec![])).await;
    assert_eq!(names(&v), vec!["r1"]);
    let (_, v) = ml(&app, Some(&team.viewer), "runs/search", search(&format!("attributes.run_id IN ('{}', '{empty}')", ids[3]), vec!["attributes.start_time ASC"])).await;
    assert_eq!(names(&v), vec!["empty", "r3"]);
    let (_, v) = ml(&app, Some(&team.viewer), "runs/search", json!({ "experiment_ids": [exp_id], "max_results": 2, "order_by": ["metrics.loss ASC"] })).await;
    assert_eq!(names(&v), vec!["r1", "r2"]);
    let token = v["next_page_token"].as_str().unwrap().to_string();
    let (_, v) = ml(&app, Some(&team.viewer), "runs/search", json!({ "experiment_ids": [exp_id], "max_results": 2, "order_by": ["metrics.loss ASC"], "page_token": token })).await;
    assert_eq!(names(&v), vec!["r0", "r3"]);
    // Filtered and ordered by the same metric: the values are read in order within the
    // experiment, either way, ties newest first, deleted runs left out.
    let (_, v) = ml(&app, Some(&team.viewer), "runs/search", search("metrics.loss < 0.4", vec!["metrics.loss DESC"])).await;
    assert_eq!(names(&v), vec!["r0", "r2", "r1"]);
    let (_, v) = ml(&app, Some(&team.viewer), "runs/search", search("metrics.loss > 0.1", vec!["metrics.loss ASC"])).await;
    assert_eq!(names(&v), vec!["r1", "r2", "r0", "r3"]);
    let (_, v) = ml(&app, Some(&team.editor), "experiments/create", json!({ "name": "churn/search-2" })).await;
    let other_exp = v["experiment_id"].as_str().unwrap().to_string();
    for (name, start) in [("t0", 2000), ("t1", 2001)] {
        let (_, v) = ml(&app, Some(&team.editor), "runs/create", json!({ "experiment_id": other_exp, "run_name": name, "start_time": start })).await;
        let id = v["run"]["info"]["run_id"].as_str().unwrap().to_string();
        let body = json!({ "run_id": id, "metrics": [{ "key": "loss", "value": 0.30, "timestamp": 1 }] });
        assert_eq!(ml(&app, Some(&team.editor), "runs/log-batch", body).await.0, 200);
    }
    let both = |filter: &str, order: Vec<&str>| json!({ "experiment_ids": [exp_id, other_exp], "filter": filter, "order_by": order });
    let (_, v) = ml(&app, Some(&team.viewer), "runs/search", both("metrics.loss >= 0.3", vec!["metrics.loss DESC"])).await;
    assert_eq!(names(&v), vec!["r3", "t1", "t0", "r0"]);
    let (_, v) = ml(&app, Some(&team.viewer), "runs/search", json!({ "experiment_ids": [other_exp], "filter": "metrics.loss >= 0.3", "order_by": ["metrics.loss DESC"], "max_results": 1 })).await;
    assert_eq!(names(&v), vec!["t1"]);
    // Inputs appear with the run that has them, in searches too.
    let input = json!({ "run_id": ids[1], "datasets": [{ "dataset": { "name": "churn", "digest": "abc", "source_type": "local", "source": "{}" } }] });
    assert_eq!(ml(&app, Some(&team.editor), "runs/log-inputs", input).await.0, 200);
    let (_, v) = ml(&app, Some(&team.viewer), "runs/search", search("metrics.loss < 0.4", vec!["metrics.loss DESC"])).await;
    let inputs: Vec<usize> = v["runs"].as_array().unwrap().iter().map(|r| r["inputs"]["dataset_inputs"].as_array().unwrap().len()).collect();
    assert_eq!(inputs, vec![0, 0, 1]);
    assert_eq!(v["runs"][2]["inputs"]["dataset_inputs"][0]["dataset"]["digest"], "abc");
    assert_eq!(ml(&app, Some(&team.editor), "runs/delete", json!({ "run_id": ids[0] })).await.0, 200);
    let (_, v) = ml(&app, Some(&team.viewer), "runs/search", search("metrics.loss < 0.4", vec!["metrics.loss DESC"])).await;
    assert_eq!(names(&v), vec!["r2", "r1"]);
    for (filter, order) in [("metrics.loss < 'x'", vec![]), ("params.model = 'rf' or params.model = 'gbt'", vec![]), ("", vec!["metrics.loss upward"])] {
        let (s, v) = ml(&app, Some(&team.viewer), "runs/search", search(filter, order)).await;
        assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"), "{filter}: {v}");
    }
    let (s, v) = ml(&app, Some(&team.outsider), "runs/search", search("", vec![])).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"));
}

#[tokio::test]
async fn artifacts_are_stored_listed_downloaded_and_deleted() {
    let app = spawn().await;
    let team = app.team().await;
    let (_, v) = ml(&app, Some(&team.editor), "experiments/create", json!({ "name": "churn/files" })).await;
    let exp_id = v["experiment_id"].as_str().unwrap().to_string();
    let (_, v) = ml(&app, Some(&team.editor), "runs/create", json!({ "experiment_id": exp_id })).await;
    let run_id = v["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let base = app.at(&format!("/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run_id}/artifacts"));
    let put = |path: &str, token: &str, body: &'static str| app.http.put(format!("{base}/{path}")).bearer_auth(token).body(body).send();
    assert_eq!(put("model/model.onnx", &team.editor, "onnx bytes").await.unwrap().status(), 200);
    assert_eq!(put("model/conda.yaml", &team.editor, "name: env").await.unwrap().status(), 200);
    assert_eq!(put("notes.txt", &team.editor, "first").await.unwrap().status(), 200);
    assert_eq!(put("notes.txt", &team.editor, "second").await.unwrap().status(), 200, "a path can be written again");
    let res = put("x.txt", &team.viewer, "no").await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["error_code"], "PERMISSION_DENIED");
    assert_eq!(put("x.txt", &team.outsider, "no").await.unwrap().status(), 404);

    let list = |path: String| {
        let url = app.at(&format!("/api/2.0/mlflow-artifacts/artifacts?path={path}"));
        let token = team.viewer.clone();
        let http = app.http.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let root = list(format!("{exp_id}/{run_id}/artifacts")).await;
    assert_eq!(root["files"], json!([{ "path": "model", "is_dir": true }, { "path": "notes.txt", "is_dir": false, "file_size": 6 }]));
    let model = list(format!("{exp_id}/{run_id}/artifacts/model")).await;
    assert_eq!(model["files"].as_array().unwrap().len(), 2);
    let got = app.http.get(format!("{base}/notes.txt")).bearer_auth(&team.viewer).send().await.unwrap();
    assert_eq!(got.text().await.unwrap(), "second");
    let missing = app.http.get(format!("{base}/nope.txt")).bearer_auth(&team.viewer).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["error_code"], "RESOURCE_DOES_NOT_EXIST");

    // Traversal, absolute paths and NUL bytes are refused before anything is stored.
    // (Sent as raw HTTP: client libraries would normalise the dots away.)
    let addr = app.url.trim_start_matches("http://").to_string();
    for bad in ["..%2F..%2Fetc%2Fpasswd", "a/%2e%2e/b", "a/../b", "a/%252e%252e/b", "a%00b", "a%5C..%5Cb", "a//b"] {
        let request = format!(
            "PUT /api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run_id}/artifacts/{bad} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
            team.editor
        );
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{bad}: {answer}");
        assert!(answer.contains("INVALID_PARAMETER_VALUE"), "{bad}: {answer}");
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM run_artifacts").fetch_one(&app.db).await.unwrap();
    assert_eq!(stored, 3, "nothing was stored by the refused requests");
    let (s, v) = ml(&app, Some(&team.editor), "no-such/endpoint", json!({})).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "ENDPOINT_NOT_FOUND"));
    let other_run = "f".repeat(32);
    let res = app.http.put(app.at(&format!("/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{other_run}/artifacts/x"))).bearer_auth(&team.editor).body("x").send().await.unwrap();
    assert_eq!(res.status(), 404);

    // Deleting a directory removes its files; unreferenced blobs are freed.
    let blobs_before: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs").fetch_one(&app.db).await.unwrap();
    assert_eq!(blobs_before, 3, "the overwritten file's blob was freed");
    let res = app.http.delete(format!("{base}/model")).bearer_auth(&team.editor).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let root = list(format!("{exp_id}/{run_id}/artifacts")).await;
    assert_eq!(root["files"], json!([{ "path": "notes.txt", "is_dir": false, "file_size": 6 }]));
    let blobs_after: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs").fetch_one(&app.db).await.unwrap();
    assert_eq!(blobs_after, 1);
}

/// `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`: Basic credentials are a user's email
/// and password; wrong ones are 401 and count towards the sign-in limit.
#[tokio::test]
async fn basic_credentials_sign_in_as_the_user() {
    let app = spawn().await;
    let team = app.team().await;
    let post = |auth: Option<(&str, &str)>| {
        let mut r = app.http.post(app.at("/api/2.0/mlflow/experiments/create")).json(&json!({ "name": "churn/basic" }));
        if let Some((user, password)) = auth {
            r = r.basic_auth(user, Some(password));
        }
        r.send()
    };
    let res = post(Some(("editor@example.org", "password 123"))).await.unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let res = post(Some(("viewer@example.org", "password 123"))).await.unwrap();
    assert_eq!(res.status(), 403);
    let res = post(Some(("editor@example.org", "wrong password"))).await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error_code"], "UNAUTHENTICATED");
    let res = app.http.post(app.at("/api/2.0/mlflow/experiments/create")).header("Authorization", "Basic !!!").json(&json!({})).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let created_by: String = sqlx::query_scalar("SELECT u.email FROM experiments e JOIN users u ON u.id = e.created_by WHERE e.name = 'basic'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(created_by, "editor@example.org");
    let _ = team;
}

async fn ml_send(app: &TestApp, method: reqwest::Method, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let url = app.at(&format!("/api/2.0/mlflow/{path}"));
    let r = if method == reqwest::Method::GET { app.http.get(url).query(&body.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or(v.to_string()))).collect::<Vec<_>>()) } else { app.http.request(method, url).json(&body) };
    let res = r.bearer_auth(token).send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Registered models over HTTP: `<project>.<name>` names, MLflow's errors, roles, sources that
/// are refused, and version numbers that never collide.
#[tokio::test]
async fn registry_names_errors_and_roles() {
    use reqwest::Method;
    let app = spawn().await;
    let team = app.team().await;
    let (_, e) = ml(&app, Some(&team.editor), "experiments/create", json!({ "name": "churn/registry" })).await;
    let exp = e["experiment_id"].as_str().unwrap().to_string();
    let (_, r) = ml(&app, Some(&team.editor), "runs/create", json!({ "experiment_id": exp })).await;
    let run = r["run"]["info"]["run_id"].as_str().unwrap().to_string();

    let (st, body) = ml(&app, Some(&team.viewer), "registered-models/create", json!({ "name": "churn.clf" })).await;
    assert_eq!((st, code(&body)), (StatusCode::FORBIDDEN, "PERMISSION_DENIED"));
    let (st, body) = ml(&app, Some(&team.editor), "registered-models/create", json!({ "name": "clf" })).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"), "{body}");
    let (st, body) = ml(&app, Some(&team.editor), "registered-models/create", json!({ "name": "churn.a/b" })).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"), "{body}");
    let (st, body) = ml(&app, Some(&team.editor), "registered-models/create", json!({ "name": "churn.clf", "description": "d" })).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["registered_model"]["name"], "churn.clf");
    let (st, body) = ml(&app, Some(&team.editor), "registered-models/create", json!({ "name": "churn.clf" })).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS"));
    let (st, body) = ml_send(&app, Method::GET, &team.outsider, "registered-models/get", json!({ "name": "churn.clf" })).await;
    assert_eq!((st, code(&body)), (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"));
    let (st, body) = ml_send(&app, Method::GET, &team.viewer, "registered-models/get", json!({ "name": "churn.clf" })).await;
    assert_eq!((st, body["registered_model"]["description"].as_str()), (StatusCode::OK, Some("d")));

    // Sources outside Trellis's storage, or another run's path in disguise, are refused.
    for source in ["/etc/passwd", "file:///etc/passwd", "s3://bucket/model", "runs:/nope/model", &format!("runs:/{run}/../x"), "models:/nope"] {
        let (st, body) = ml(&app, Some(&team.editor), "model-versions/create", json!({ "name": "churn.clf", "source": source })).await;
        assert!(st == StatusCode::BAD_REQUEST || st == StatusCode::NOT_FOUND, "{source}: {st} {body}");
    }
    let (st, body) = ml(&app, Some(&team.viewer), "model-versions/create", json!({ "name": "churn.clf", "source": format!("runs:/{run}/model") })).await;
    assert_eq!((st, code(&body)), (StatusCode::FORBIDDEN, "PERMISSION_DENIED"));
    let (st, body) = ml(&app, Some(&team.editor), "model-versions/create", json!({ "name": "churn.clf", "source": format!("runs:/{run}/model") })).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!((body["model_version"]["version"].as_str(), body["model_version"]["run_id"].as_str()), (Some("1"), Some(run.as_str())));
    let (_, body) = ml_send(&app, Method::GET, &team.viewer, "model-versions/get-download-uri", json!({ "name": "churn.clf", "version": "1" })).await;
    assert_eq!(body["artifact_uri"], json!(format!("mlflow-artifacts:/{exp}/{run}/artifacts/model")));

    // Twenty registrations at once get twenty distinct numbers.
    let creates = (0..20).map(|_| ml(&app, Some(&team.editor), "model-versions/create", json!({ "name": "churn.clf", "source": format!("runs:/{run}/model") })));
    let mut numbers: Vec<i64> = futures::future::join_all(creates)
        .await
        .into_iter()
        .map(|(st, b)| {
            assert_eq!(st, StatusCode::OK, "{b}");
            b["model_version"]["version"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    numbers.sort();
    assert_eq!(numbers, (2..=21).collect::<Vec<_>>());

    // Aliases: editors set them, viewers read them, bad names are refused.
    let (st, body) = ml(&app, Some(&team.viewer), "registered-models/alias", json!({ "name": "churn.clf", "alias": "champion", "version": "1" })).await;
    assert_eq!((st, code(&body)), (StatusCode::FORBIDDEN, "PERMISSION_DENIED"));
    for bad in ["latest", "v2", "has space"] {
        let (st, _) = ml(&app, Some(&team.editor), "registered-models/alias", json!({ "name": "churn.clf", "alias": bad, "version": "1" })).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (st, _) = ml(&app, Some(&team.editor), "registered-models/alias", json!({ "name": "churn.clf", "alias": "champion", "version": "99" })).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = ml(&app, Some(&team.editor), "registered-models/alias", json!({ "name": "churn.clf", "alias": "champion", "version": "3" })).await;
    assert_eq!(st, StatusCode::OK);
    let (_, body) = ml_send(&app, Method::GET, &team.viewer, "registered-models/alias", json!({ "name": "churn.clf", "alias": "champion" })).await;
    assert_eq!((body["model_version"]["version"].as_str(), &body["model_version"]["aliases"]), (Some("3"), &json!(["champion"])));

    // Searches see only the caller's projects; filters use MLflow's grammar.
    let (_, body) = ml_send(&app, Method::GET, &team.outsider, "registered-models/search", json!({})).await;
    assert_eq!(body["registered_models"], json!([]), "{body}");
    let (_, body) = ml_send(&app, Method::GET, &team.viewer, "model-versions/search", json!({ "filter": "name = 'churn.clf' and version_number <= 2", "order_by": "version_number ASC" })).await;
    let got: Vec<&str> = body["model_versions"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(got, ["1", "2"], "{body}");
    let (st, body) = ml_send(&app, Method::GET, &team.viewer, "model-versions/search", json!({ "filter": "colour = 'red'" })).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"));

    // Deleting the model removes its versions and aliases.
    let (st, _) = ml_send(&app, Method::DELETE, &team.viewer, "registered-models/delete", json!({ "name": "churn.clf" })).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = ml_send(&app, Method::DELETE, &team.editor, "registered-models/delete", json!({ "name": "churn.clf" })).await;
    assert_eq!(st, StatusCode::OK);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM model_versions").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
}

/// Logged models over HTTP: their artifacts live under the model, paths are checked, viewers
/// cannot write, and a finalized model reports READY.
#[tokio::test]
async fn logged_models_store_their_own_artifacts() {
    use reqwest::Method;
    let app = spawn().await;
    let team = app.team().await;
    let (_, e) = ml(&app, Some(&team.editor), "experiments/create", json!({ "name": "churn/logged" })).await;
    let exp = e["experiment_id"].as_str().unwrap().to_string();
    let (st, body) = ml(&app, Some(&team.viewer), "logged-models", json!({ "experiment_id": exp, "name": "m" })).await;
    assert_eq!((st, code(&body)), (StatusCode::FORBIDDEN, "PERMISSION_DENIED"));
    let (st, body) = ml(&app, Some(&team.editor), "logged-models", json!({ "experiment_id": exp, "name": "m", "params": [{ "key": "C", "value": "1" }] })).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let id = body["model"]["info"]["model_id"].as_str().unwrap().to_string();
    assert_eq!(body["model"]["info"]["status"], "LOGGED_MODEL_PENDING");
    assert_eq!(body["model"]["info"]["artifact_uri"], json!(format!("mlflow-artifacts:/{exp}/models/{id}/artifacts")));

    let put = |token: &str, path: String| app.http.put(app.at(&format!("/api/2.0/mlflow-artifacts/artifacts/{path}"))).bearer_auth(token.to_string()).body("weights").send();
    let res = put(&team.viewer, format!("{exp}/models/{id}/artifacts/model.bin")).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = put(&team.editor, format!("{exp}/models/{id}/artifacts/%2e%2e/%2e%2e/escape")).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = put(&team.editor, format!("{exp}/models/{id}/artifacts/model.bin")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = put(&team.editor, format!("{}/models/{id}/artifacts/model.bin", exp.parse::<i64>().unwrap() + 1)).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.http.get(app.at(&format!("/api/2.0/mlflow-artifacts/artifacts/{exp}/models/{id}/artifacts/model.bin"))).bearer_auth(&team.viewer).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "weights");
    let res = app.http.get(app.at(&format!("/api/2.0/mlflow-artifacts/artifacts/{exp}/models/{id}/artifacts/model.bin"))).bearer_auth(&team.outsider).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let (st, body) = ml_send(&app, Method::PATCH, &team.editor, &format!("logged-models/{id}"), json!({ "status": "LOGGED_MODEL_READY" })).await;
    assert_eq!((st, body["model"]["info"]["status"].as_str()), (StatusCode::OK, Some("LOGGED_MODEL_READY")));
    let (st, _) = ml_send(&app, Method::PATCH, &team.editor, &format!("logged-models/{id}"), json!({ "status": "LOGGED_MODEL_PENDING" })).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (_, body) = ml(&app, Some(&team.viewer), "logged-models/search", json!({ "experiment_ids": [exp], "filter": "params.C = '1' and status = 'LOGGED_MODEL_READY'" })).await;
    assert_eq!(body["models"].as_array().map(Vec::len), Some(1), "{body}");
    let (st, _) = ml_send(&app, Method::DELETE, &team.editor, &format!("logged-models/{id}"), json!({})).await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = ml_send(&app, Method::GET, &team.editor, &format!("logged-models/{id}"), json!({})).await;
    assert_eq!((st, code(&body)), (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"));
}

/// Multipart artifact uploads: parts go to capability URLs, the whole is joined in order and
/// stored like any artifact; missing parts, wrong part numbers, unknown uploads and viewers are refused.
#[tokio::test]
async fn multipart_artifact_uploads_join_parts_and_refuse_bad_ones() {
    let app = spawn().await;
    let team = app.team().await;
    let (_, e) = ml(&app, Some(&team.editor), "experiments/create", json!({ "name": "churn/mpu" })).await;
    let exp = e["experiment_id"].as_str().unwrap().to_string();
    let (_, r) = ml(&app, Some(&team.editor), "runs/create", json!({ "experiment_id": exp })).await;
    let run = r["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let mpu = |token: &str, op: &str, dir: &str, body: Value| {
        app.http.post(app.at(&format!("/api/2.0/mlflow-artifacts/mpu/{op}/{exp}/{run}/artifacts/{dir}"))).bearer_auth(token.to_string()).json(&body).send()
    };
    let res = mpu(&team.viewer, "create", "model", json!({ "path": "/tmp/w.bin", "num_parts": 2 })).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = mpu(&team.editor, "create", "model", json!({ "path": "/tmp/w.bin", "num_parts": 0 })).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let created: Value = mpu(&team.editor, "create", "model", json!({ "path": "/tmp/w.bin", "num_parts": 2 })).await.unwrap().json().await.unwrap();
    let id = created["upload_id"].as_str().unwrap().to_string();
    let urls: Vec<String> = created["credentials"].as_array().unwrap().iter().map(|c| c["url"].as_str().unwrap().to_string()).collect();
    assert_eq!(urls.len(), 2);
    assert!(urls[1].ends_with(&format!("/mpu/part/{id}/2")), "{urls:?}");
    // Parts arrive without credentials; part 2 first.
    let put = |url: String, body: &'static str| app.http.put(url).body(body).send();
    assert_eq!(put(urls[1].clone(), "world").await.unwrap().status(), StatusCode::OK);
    let res = mpu(&team.editor, "complete", "model", json!({ "upload_id": id })).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "part 1 is missing");
    assert_eq!(put(app.at(&format!("/api/2.0/mlflow-artifacts/mpu/part/{id}/3")), "x").await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(put(app.at(&format!("/api/2.0/mlflow-artifacts/mpu/part/{}/1", "0".repeat(64))), "x").await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(put(urls[0].clone(), "hello ").await.unwrap().status(), StatusCode::OK);
    let res = mpu(&team.viewer, "complete", "model", json!({ "upload_id": id })).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = mpu(&team.editor, "complete", "elsewhere", json!({ "upload_id": id })).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "the upload belongs to another folder");
    let res = mpu(&team.editor, "complete", "model", json!({ "upload_id": id })).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let got = app.http.get(app.at(&format!("/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/model/w.bin"))).bearer_auth(&team.viewer).send().await.unwrap();
    assert_eq!(got.text().await.unwrap(), "hello world");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM artifact_uploads").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
    // An aborted upload leaves nothing.
    let created: Value = mpu(&team.editor, "create", "", json!({ "path": "x.bin", "num_parts": 1 })).await.unwrap().json().await.unwrap();
    let id = created["upload_id"].as_str().unwrap().to_string();
    put(created["credentials"][0]["url"].as_str().unwrap().to_string(), "partial").await.unwrap();
    assert_eq!(mpu(&team.editor, "abort", "", json!({ "upload_id": id })).await.unwrap().status(), StatusCode::OK);
    let parts: i64 = sqlx::query_scalar("SELECT count(*) FROM artifact_upload_parts").fetch_one(&app.db).await.unwrap();
    assert_eq!(parts, 0);
}
