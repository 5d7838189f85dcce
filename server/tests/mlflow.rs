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
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM run_metrics").fetch_one(&app.db).await.unwrap();
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
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM run_metrics").fetch_one(&app.db).await.unwrap();
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
    assert_eq!(ml(&app, Some(&team.editor), "experiments/update", json!({ "experiment_id": exp_id, "new_name": "churn/renamed" })).await.0, 200);
    ml(&app, Some(&team.editor), "experiments/delete", json!({ "experiment_id": exp_id })).await;
    let (_, list) = ml(&app, Some(&team.viewer), "experiments/search", json!({})).await;
    assert_eq!(list["experiments"], json!([]));
    let (_, list) = ml(&app, Some(&team.viewer), "experiments/search", json!({ "view_type": "DELETED_ONLY" })).await;
    assert_eq!(list["experiments"][0]["name"], "churn/renamed");
    ml(&app, Some(&team.editor), "experiments/restore", json!({ "experiment_id": exp_id })).await;
    let (_, v) = ml_get(&app, &team.viewer, &format!("experiments/get?experiment_id={exp_id}")).await;
    assert_eq!(v["experiment"]["lifecycle_stage"], "active");
    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'experiment.%' OR action LIKE 'run.%'").fetch_one(&app.db).await.unwrap();
    assert!(audit >= 6, "changes are audited ({audit})");
}

/// The official `mlflow` Python client (pinned in the test virtualenv) against a live server.
#[tokio::test]
async fn the_official_mlflow_client_works_unchanged() {
    let app = spawn().await;
    let team = app.team().await;
    let (actor, _) = app.user("scripts@example.org", false).await;
    let project: i64 = sqlx::query_scalar("SELECT id FROM projects WHERE slug = 'churn'").fetch_one(&app.db).await.unwrap();
    sqlx::query("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'editor')")
        .bind(project)
        .bind(actor.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    let (_, token) = trellis_core::tokens::create(&app.db, &actor, "mlflow", Some("churn")).await.unwrap();
    let python = std::env::var("TRELLIS_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mlflow/client_tracking.py");
    let out = tokio::process::Command::new(&python)
        .arg(script)
        .env("MLFLOW_TRACKING_URI", &app.url)
        .env("MLFLOW_TRACKING_TOKEN", &token)
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        .output()
        .await
        .expect("python for the mlflow client (scripts/bootstrap.sh test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.trim_end().ends_with("ok"), "mlflow client failed:\n{stdout}\n{stderr}");
    // What the client logged is there, in the token's project.
    let runs: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE e.project_id = $1 AND e.name = 'client-test'",
    )
    .bind(project)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(runs, 2);
    let _ = team;
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
