mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const CANCER: &str = include_str!("../../ml/tests/fixtures/breast_cancer.csv");

async fn dataset(app: &TestApp, token: &str, name: &str, csv: &str) {
    let res = app.send(Method::POST, "/v1/projects/churn/datasets", Some(token), Some(json!({ "name": name }))).await;
    assert_eq!(res.status(), 201);
    let res = upload_version(app, token, name, &format!("{name}.csv"), csv.as_bytes().to_vec(), "text/csv").await;
    assert_eq!(res.status(), 201);
}

fn request(dataset: &str, target: &str, task: &str, algorithm: &str) -> Value {
    json!({ "experiment": "trainers", "dataset": dataset, "version": 1, "target": target, "task": task, "algorithm": algorithm, "seed": 7 })
}

async fn submit(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.send(Method::POST, "/v1/projects/churn/training-jobs", Some(token), Some(body)).await
}

fn metric(run: &Value, key: &str) -> f64 {
    run["data"]["metrics"].as_array().unwrap().iter().find(|m| m["key"] == key).unwrap_or_else(|| panic!("no metric {key} in {run}"))["value"]
        .as_f64()
        .unwrap()
}

fn param(run: &Value, key: &str) -> String {
    run["data"]["params"].as_array().unwrap().iter().find(|m| m["key"] == key).unwrap_or_else(|| panic!("no param {key}"))["value"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_training_job_logs_its_model_curves_and_evaluation_into_a_run() {
    let app = spawn().await;
    let team = app.team().await;
    dataset(&app, &team.editor, "cancer", CANCER).await;
    // Before profiling finishes the version cannot be used.
    let msg = expect_error(submit(&app, &team.editor, request("cancer", "diagnosis", "binary", "gradient_boosting")).await, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(msg.contains("still being profiled"), "{msg}");
    run_jobs(&app).await;

    let body = json!({ "experiment": "trainers", "dataset": "cancer", "version": 1, "target": "diagnosis", "task": "binary",
                       "algorithm": "gradient_boosting", "params": { "n_estimators": 300, "learning_rate": 0.1 }, "seed": 7 });
    expect_error(submit(&app, &team.viewer, body.clone()).await, StatusCode::FORBIDDEN, "forbidden").await;
    expect_error(submit(&app, &team.outsider, body.clone()).await, StatusCode::NOT_FOUND, "not_found").await;
    let res = submit(&app, &team.editor, body.clone()).await;
    assert_eq!(res.status(), 201);
    let submitted: Value = res.json().await.unwrap();
    let run_id = submitted["run_id"].as_str().unwrap().to_string();
    let job_id = submitted["job_id"].as_i64().unwrap();
    let scheduled = get_run(&app, &team.viewer, &run_id).await;
    assert_eq!(scheduled["info"]["status"], "SCHEDULED");
    assert_eq!(param(&scheduled, "algorithm"), "gradient_boosting");
    assert_eq!(param(&scheduled, "n_estimators"), "300");
    assert_eq!(param(&scheduled, "max_depth"), "6", "defaults are recorded too");
    assert_eq!(param(&scheduled, "dataset"), "cancer@v1");

    run_jobs(&app).await;
    let job: Value = app.get(&format!("/v1/jobs/{job_id}"), Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"], 1.0);
    let done = get_run(&app, &team.viewer, &run_id).await;
    assert_eq!(done["info"]["status"], "FINISHED");
    let auc = metric(&done, "test_roc_auc");
    assert!(auc > 0.95, "test AUC {auc}");
    assert!(metric(&done, "validation_accuracy") > 0.85);
    for key in ["test_accuracy", "test_precision", "test_recall", "test_f1", "test_log_loss", "validation_roc_auc", "trees"] {
        assert!(metric(&done, key).is_finite(), "{key}");
    }
    // The loss curves are metric history, one point per iteration.
    let history: Value = app
        .get(&format!("/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=curve_validation_log_loss"), Some(&team.viewer))
        .await
        .json()
        .await
        .unwrap();
    let points = history["metrics"].as_array().unwrap();
    assert!(points.len() as f64 >= metric(&done, "trees"), "{} points", points.len());
    assert_eq!(points[0]["step"], 1);
    // The model and its reports are artifacts.
    let root = format!("{}/{run_id}/artifacts", done["info"]["experiment_id"].as_str().unwrap());
    let listed: Value = app.get(&format!("/api/2.0/mlflow-artifacts/artifacts?path={root}/model"), Some(&team.viewer)).await.json().await.unwrap();
    let files: Vec<&str> = listed["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(files, vec!["baseline.json", "model.json", "signature.json"]);
    let signature: Value = app
        .get(&format!("/api/2.0/mlflow-artifacts/artifacts/{root}/model/signature.json"), Some(&team.viewer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(signature["outputs"]["classes"], json!(["benign", "malignant"]));
    assert_eq!(signature["inputs"].as_array().unwrap().len(), 30);
    assert_eq!(signature["inputs"][0], json!({ "name": "mean_radius", "type": "float" }));

    // A job that runs again (its worker stopped) starts the run's values afresh.
    sqlx::query("UPDATE jobs SET state = 'queued', attempts = 0, finished_at = NULL WHERE id = $1").bind(job_id).execute(&app.db).await.unwrap();
    run_jobs(&app).await;
    let rerun = get_run(&app, &team.viewer, &run_id).await;
    assert_eq!(rerun["info"]["status"], "FINISHED");
    assert_eq!(metric(&rerun, "test_roc_auc"), auc);
    let again_history: Value = app
        .get(&format!("/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=curve_validation_log_loss"), Some(&team.viewer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again_history["metrics"].as_array().unwrap().len(), points.len());

    // Same data, params and seed: the same model and metrics.
    let again: Value = submit(&app, &team.editor, body).await.json().await.unwrap();
    run_jobs(&app).await;
    let second = get_run(&app, &team.viewer, again["run_id"].as_str().unwrap()).await;
    assert_eq!(metric(&second, "test_roc_auc"), auc);
    assert_eq!(metric(&second, "test_log_loss"), metric(&done, "test_log_loss"));

    // Regression and random forests go through the same path.
    let res = submit(&app, &team.editor, json!({ "experiment": "trainers", "dataset": "cancer", "version": 1, "target": "mean_area", "task": "regression",
        "algorithm": "linear", "features": ["mean_radius", "mean_perimeter", "mean_texture"] })).await;
    assert_eq!(res.status(), 201);
    let reg: Value = res.json().await.unwrap();
    let res = submit(&app, &team.editor, request("cancer", "diagnosis", "binary", "random_forest")).await;
    let forest: Value = res.json().await.unwrap();
    run_jobs(&app).await;
    let reg = get_run(&app, &team.viewer, reg["run_id"].as_str().unwrap()).await;
    assert_eq!(reg["info"]["status"], "FINISHED");
    assert!(metric(&reg, "test_r2") > 0.95, "{reg}");
    let forest = get_run(&app, &team.viewer, forest["run_id"].as_str().unwrap()).await;
    assert!(metric(&forest, "test_roc_auc") > 0.95);

    // Submissions are audited.
    let audit: Value = app.get("/v1/projects/churn/audit", Some(&team.admin)).await.json().await.unwrap();
    assert!(audit.as_array().unwrap().iter().any(|e| e["action"] == "training.submit"), "{audit}");
}

#[tokio::test]
async fn bad_training_requests_are_refused_at_submission() {
    let app = spawn().await;
    let team = app.team().await;
    dataset(&app, &team.editor, "cancer", CANCER).await;
    dataset(&app, &team.editor, "tiny", "a,b,label,same\n1,x,yes,1\n2,y,no,1\n3,x,yes,1\n4,y,no,1\n5,x,yes,1\n").await;
    run_jobs(&app).await;
    let bad = |body: Value| {
        let app = &app;
        let token = team.editor.clone();
        async move { expect_error(submit(app, &token, body).await, StatusCode::BAD_REQUEST, "bad_request").await }
    };
    let mut body = request("cancer", "nope", "binary", "linear");
    assert!(bad(body.clone()).await.starts_with("target: 'nope' is not a column of cancer@v1 (columns: mean_radius,"));
    body["target"] = json!("diagnosis");
    body["task"] = json!("regression");
    assert_eq!(bad(body.clone()).await, "target: 'diagnosis' is a string column; regression needs a numeric target");
    body["task"] = json!("ranking");
    assert_eq!(bad(body.clone()).await, "task: 'ranking' is not one of binary, multiclass, regression");
    body["task"] = json!("binary");
    body["algorithm"] = json!("svm");
    assert_eq!(bad(body.clone()).await, "algorithm: 'svm' is not one of linear, random_forest, gradient_boosting");
    body["algorithm"] = json!("gradient_boosting");
    body["params"] = json!({ "learning_rate": 2 });
    assert_eq!(bad(body.clone()).await, "params: parameter 'learning_rate': 2 is outside (0, 1]");
    body["params"] = json!({ "depth": 2 });
    assert!(bad(body.clone()).await.starts_with("params: parameter 'depth': not a parameter of gradient_boosting"));
    body["params"] = json!({});
    body["features"] = json!(["mean_radius", "diagnosis"]);
    assert_eq!(bad(body.clone()).await, "features: 'diagnosis' is the target");
    body["features"] = json!(["mean_radius", "mean_radius"]);
    assert_eq!(bad(body.clone()).await, "features: 'mean_radius' is listed twice");
    body["features"] = json!(["radius"]);
    assert!(bad(body.clone()).await.starts_with("features: 'radius' is not a column of cancer@v1"));
    body["features"] = json!([]);
    assert!(bad(body.clone()).await.starts_with("features: give at least one column"));
    // A constant target, too few rows, a multiclass-only target for a binary task.
    assert_eq!(bad(request("tiny", "same", "multiclass", "linear")).await, "target: 'same' is constant (one distinct value); there is nothing to learn");
    assert!(bad(request("tiny", "label", "binary", "linear")).await.starts_with("tiny@v1 has too few rows for training: its split gives train="));
    assert_eq!(bad(request("tiny", "a", "binary", "linear")).await, "target: 'a' has 5 distinct values; a binary task needs exactly 2 (use multiclass)");
    // Unknown versions and fields.
    let mut missing = request("cancer", "diagnosis", "binary", "linear");
    missing["version"] = json!(9);
    expect_error(submit(&app, &team.editor, missing).await, StatusCode::NOT_FOUND, "not_found").await;
    let mut extra = request("cancer", "diagnosis", "binary", "linear");
    extra["colour"] = json!("red");
    expect_error(submit(&app, &team.editor, extra).await, StatusCode::BAD_REQUEST, "bad_request").await;
    // Nothing was created by the refused requests.
    let jobs: Value = app.get("/v1/projects/churn/jobs", Some(&team.editor)).await.json().await.unwrap();
    assert!(jobs.as_array().unwrap().iter().all(|j| j["kind"] != "training.builtin"), "{jobs}");
    let algorithms: Value = app.get("/v1/training/algorithms", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(algorithms.as_array().unwrap().len(), 3);
    assert_eq!(algorithms[2]["params"][0]["name"], "n_estimators");
}

#[tokio::test]
async fn a_search_runs_its_trials_a_few_at_a_time_and_keeps_the_best() {
    use trellis_core::worker::{Registry, Worker, WorkerConfig};
    let app = spawn().await;
    let team = app.team().await;
    dataset(&app, &team.editor, "cancer", CANCER).await;
    run_jobs(&app).await;
    let body = json!({ "experiment": "search", "dataset": "cancer", "version": 1, "target": "diagnosis", "task": "binary",
        "algorithm": "gradient_boosting", "params": { "n_estimators": 60 },
        "search_space": { "learning_rate": { "log_uniform": [0.02, 0.5] }, "max_depth": { "int": [2, 6] } },
        "max_trials": 5, "parallelism": 2, "seed": 3 });
    expect_error(app.send(Method::POST, "/v1/projects/churn/tuning-jobs", Some(&team.viewer), Some(body.clone())).await, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.send(Method::POST, "/v1/projects/churn/tuning-jobs", Some(&team.editor), Some(body)).await;
    assert_eq!(res.status(), 201);
    let submitted: Value = res.json().await.unwrap();
    assert_eq!(submitted["trials"], 5);
    assert_eq!(submitted["job_ids"].as_array().unwrap().len(), 2);
    let parent_id = submitted["run_id"].as_str().unwrap().to_string();

    // Never more than two trials waiting or running.
    let open_trials = |jobs: &Value| jobs.as_array().unwrap().iter().filter(|j| j["kind"] == "training.builtin" && (j["state"] == "queued" || j["state"] == "running")).count();
    let worker = Worker::new(app.db.clone(), "test", std::sync::Arc::new(Registry::builtin(&app.core)), WorkerConfig::default());
    let mut ran = 0;
    loop {
        let jobs: Value = app.get("/v1/projects/churn/jobs", Some(&team.editor)).await.json().await.unwrap();
        assert!(open_trials(&jobs) <= 2, "{jobs}");
        if !worker.run_once(&tokio_util::sync::CancellationToken::new()).await.unwrap() {
            break;
        }
        ran += 1;
    }
    assert_eq!(ran, 5);

    let parent = get_run(&app, &team.viewer, &parent_id).await;
    assert_eq!(parent["info"]["status"], "FINISHED");
    assert_eq!(param(&parent, "metric"), "validation_roc_auc");
    assert_eq!(param(&parent, "direction"), "maximize");
    let experiment = parent["info"]["experiment_id"].as_str().unwrap().to_string();
    let children: Value = app
        .send(Method::POST, "/api/2.0/mlflow/runs/search", Some(&team.viewer), Some(json!({
            "experiment_ids": [experiment], "filter": format!("tags.mlflow.parentRunId = '{parent_id}'"),
            "order_by": ["metrics.validation_roc_auc DESC"] })))
        .await
        .json()
        .await
        .unwrap();
    let children = children["runs"].as_array().unwrap();
    assert_eq!(children.len(), 5);
    assert!(children.iter().all(|c| c["info"]["status"] == "FINISHED"));
    let top = metric(&children[0], "validation_roc_auc");
    assert_eq!(metric(&parent, "best_validation_roc_auc"), top);
    let tag = |r: &Value, k: &str| r["data"]["tags"].as_array().unwrap().iter().find(|t| t["key"] == k).map(|t| t["value"].as_str().unwrap().to_string());
    // The best trial (the first to reach the top value, when trials tie) is named on the parent.
    let best_id = tag(&parent, "trellis.best_run_id").unwrap();
    let best = children.iter().find(|c| c["info"]["run_id"] == best_id.as_str()).unwrap();
    assert_eq!(metric(best, "validation_roc_auc"), top);
    assert_eq!(tag(&parent, "best.max_depth"), Some(param(best, "max_depth")));
    assert_eq!(tag(&parent, "best.learning_rate"), Some(param(best, "learning_rate")));
    assert!(children.iter().all(|c| param(c, "n_estimators") == "60"), "fixed params reach every trial");
    // Trials differ in the searched parameters.
    let rates: std::collections::BTreeSet<String> = children.iter().map(|c| param(c, "learning_rate")).collect();
    assert_eq!(rates.len(), 5);
}

#[tokio::test]
async fn the_best_model_preset_tries_every_algorithm_until_its_budget_runs_out() {
    let app = spawn().await;
    let team = app.team().await;
    dataset(&app, &team.editor, "cancer", CANCER).await;
    run_jobs(&app).await;
    let body = json!({ "experiment": "automl", "dataset": "cancer", "version": 1, "target": "diagnosis", "task": "binary",
                       "max_trials": 4, "time_budget_seconds": 3600, "seed": 5 });
    expect_error(app.send(Method::POST, "/v1/projects/churn/automl-jobs", Some(&team.viewer), Some(body.clone())).await, StatusCode::FORBIDDEN, "forbidden").await;
    let mut bad = body.clone();
    bad["algorithms"] = json!(["linear", "svm"]);
    let msg = expect_error(app.send(Method::POST, "/v1/projects/churn/automl-jobs", Some(&team.editor), Some(bad)).await, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(msg.contains("'svm'"), "{msg}");
    let mut bad = body.clone();
    bad["time_budget_seconds"] = json!(1);
    expect_error(app.send(Method::POST, "/v1/projects/churn/automl-jobs", Some(&team.editor), Some(bad)).await, StatusCode::BAD_REQUEST, "bad_request").await;

    let res = app.send(Method::POST, "/v1/projects/churn/automl-jobs", Some(&team.editor), Some(body.clone())).await;
    assert_eq!(res.status(), 201);
    let submitted: Value = res.json().await.unwrap();
    assert_eq!(submitted["trials"], 4);
    let parent_id = submitted["run_id"].as_str().unwrap().to_string();
    run_jobs(&app).await;
    let parent = get_run(&app, &team.viewer, &parent_id).await;
    assert_eq!(parent["info"]["status"], "FINISHED");
    assert_eq!(param(&parent, "algorithms"), "linear,random_forest,gradient_boosting");
    let children = children_of(&app, &team.viewer, &parent).await;
    // Each algorithm with its defaults first, then the next round.
    let algorithms: Vec<String> = children.iter().map(|c| param(c, "algorithm")).collect();
    assert_eq!(algorithms, ["linear", "random_forest", "gradient_boosting", "linear"]);
    assert_eq!(param(&children[0], "alpha"), "1");
    assert_ne!(param(&children[3], "alpha"), "1", "the second round draws from the search space");
    // The best is the first trial to reach the top value (trials may tie).
    let top = children.iter().map(|c| metric(c, "validation_roc_auc")).fold(f64::NEG_INFINITY, f64::max);
    let best = children.iter().find(|c| metric(c, "validation_roc_auc") == top).unwrap();
    assert_eq!(metric(&parent, "best_validation_roc_auc"), metric(best, "validation_roc_auc"));
    let tag = |r: &Value, k: &str| r["data"]["tags"].as_array().unwrap().iter().find(|t| t["key"] == k).map(|t| t["value"].as_str().unwrap().to_string());
    assert_eq!(tag(&parent, "trellis.best_algorithm"), Some(param(best, "algorithm")));

    // A trial's job that runs again does not count twice or start more trials.
    let job_id: i64 = tag(&children[0], "trellis.job_id").unwrap().parse().unwrap();
    sqlx::query("UPDATE jobs SET state = 'queued', attempts = 0, finished_at = NULL WHERE id = $1").bind(job_id).execute(&app.db).await.unwrap();
    run_jobs(&app).await;
    let counted: (i32, i32) = sqlx::query_as("SELECT started, finished FROM tunings").fetch_one(&app.db).await.unwrap();
    assert_eq!(counted, (4, 4));

    // Once the budget has run out, no new trial starts: the search ends with those started.
    let mut body = body;
    body["max_trials"] = json!(9);
    body["parallelism"] = json!(2);
    let second: Value = app.send(Method::POST, "/v1/projects/churn/automl-jobs", Some(&team.editor), Some(body)).await.json().await.unwrap();
    sqlx::query("UPDATE tunings SET deadline = now() - interval '1 second' WHERE parent_run_id = (SELECT id FROM runs WHERE run_uuid = $1)")
        .bind(second["run_id"].as_str().unwrap())
        .execute(&app.db)
        .await
        .unwrap();
    run_jobs(&app).await;
    let parent = get_run(&app, &team.viewer, second["run_id"].as_str().unwrap()).await;
    assert_eq!(parent["info"]["status"], "FINISHED");
    assert_eq!(children_of(&app, &team.viewer, &parent).await.len(), 2);
}

#[tokio::test]
async fn a_search_is_cancelled_whole() {
    let app = spawn().await;
    let team = app.team().await;
    dataset(&app, &team.editor, "cancer", CANCER).await;
    run_jobs(&app).await;
    let body = json!({ "experiment": "search", "dataset": "cancer", "version": 1, "target": "diagnosis", "task": "binary",
        "algorithm": "linear", "search_space": { "alpha": { "log_uniform": [0.01, 10.0] } }, "max_trials": 6, "parallelism": 2 });
    let submitted: Value = app.send(Method::POST, "/v1/projects/churn/tuning-jobs", Some(&team.editor), Some(body)).await.json().await.unwrap();
    let parent_id = submitted["run_id"].as_str().unwrap().to_string();
    // One trial ends; the next is queued in its place.
    let worker = trellis_core::worker::Worker::new(app.db.clone(), "test", std::sync::Arc::new(trellis_core::worker::Registry::builtin(&app.core)), Default::default());
    assert!(worker.run_once(&tokio_util::sync::CancellationToken::new()).await.unwrap());

    let path = format!("/v1/projects/churn/tuning-jobs/{parent_id}:cancel");
    expect_error(app.send(Method::POST, &path, Some(&team.viewer), None).await, StatusCode::FORBIDDEN, "forbidden").await;
    expect_error(app.send(Method::POST, &path, Some(&team.outsider), None).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(app.send(Method::POST, "/v1/projects/churn/tuning-jobs/0123:cancel", Some(&team.editor), None).await, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.send(Method::POST, &path, Some(&team.editor), None).await;
    assert_eq!(res.status(), 200);
    let cancelled: Value = res.json().await.unwrap();
    assert_eq!(cancelled["cancelled_jobs"], 2, "{cancelled}");
    expect_error(app.send(Method::POST, &path, Some(&team.editor), None).await, StatusCode::CONFLICT, "conflict").await;

    // Nothing more runs; the parent ends KILLED with the one finished trial as its best.
    assert!(!worker.run_once(&tokio_util::sync::CancellationToken::new()).await.unwrap());
    let parent = get_run(&app, &team.viewer, &parent_id).await;
    assert_eq!(parent["info"]["status"], "KILLED");
    let children = children_of(&app, &team.viewer, &parent).await;
    let statuses: Vec<&str> = children.iter().map(|c| c["info"]["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["FINISHED", "KILLED", "KILLED"]);
    let tag = |r: &Value, k: &str| r["data"]["tags"].as_array().unwrap().iter().find(|t| t["key"] == k).map(|t| t["value"].as_str().unwrap().to_string());
    assert_eq!(tag(&parent, "trellis.best_run_id").as_deref(), children[0]["info"]["run_id"].as_str());
    assert_eq!(cancelled["best_run_id"], children[0]["info"]["run_id"]);
}

/// A search's child runs, in trial order.
async fn children_of(app: &TestApp, token: &str, parent: &Value) -> Vec<Value> {
    let found: Value = app
        .send(Method::POST, "/api/2.0/mlflow/runs/search", Some(token), Some(json!({
            "experiment_ids": [parent["info"]["experiment_id"]],
            "filter": format!("tags.mlflow.parentRunId = '{}'", parent["info"]["run_id"].as_str().unwrap()) })))
        .await
        .json()
        .await
        .unwrap();
    let mut runs = found["runs"].as_array().cloned().unwrap_or_default();
    runs.sort_by_key(|r| r["data"]["tags"].as_array().unwrap().iter().find(|t| t["key"] == "trellis.trial").unwrap()["value"].as_str().unwrap().parse::<u32>().unwrap());
    runs
}

#[tokio::test]
async fn bad_searches_are_refused_at_submission() {
    let app = spawn().await;
    let team = app.team().await;
    dataset(&app, &team.editor, "cancer", CANCER).await;
    run_jobs(&app).await;
    let base = json!({ "experiment": "search", "dataset": "cancer", "version": 1, "target": "diagnosis", "task": "binary", "algorithm": "random_forest",
        "search_space": { "max_depth": { "int": [2, 8] } } });
    let bad = |change: Value| {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let app = &app;
        let token = team.editor.clone();
        async move { expect_error(app.send(Method::POST, "/v1/projects/churn/tuning-jobs", Some(&token), Some(body)).await, StatusCode::BAD_REQUEST, "bad_request").await }
    };
    assert_eq!(bad(json!({ "search_space": {} })).await, "search_space: the search space is empty: give at least one parameter to search");
    assert_eq!(bad(json!({ "params": { "max_depth": 4 } })).await, "params: 'max_depth' is also in the search space; give it in one place");
    assert_eq!(bad(json!({ "search_space": { "max_features": { "uniform": [0.2, 0.9] } }, "method": "grid" })).await,
        "search_space: parameter 'max_features': a grid search takes choices and int ranges only");
    assert_eq!(bad(json!({ "search_space": { "max_depth": { "int": [9, 2] } } })).await, "search_space: parameter 'max_depth': the range [9, 2] is empty: low must be below high");
    assert!(bad(json!({ "search_space": { "max_depth": { "normal": [2, 8] } } })).await.starts_with("search_space.max_depth: unknown variant `normal`"));
    assert!(bad(json!({ "metric": "test_roc_auc" })).await.starts_with("metric: 'test_roc_auc' is not a validation metric of a binary task"));
    assert_eq!(bad(json!({ "direction": "up" })).await, "direction: 'up' is not maximize or minimize");
    assert_eq!(bad(json!({ "parallelism": 0 })).await, "parallelism: must be between 1 and 100");
    assert_eq!(bad(json!({ "max_trials": 0 })).await, "max_trials: must be between 1 and 1000");
    let jobs: Value = app.get("/v1/projects/churn/jobs", Some(&team.editor)).await.json().await.unwrap();
    assert!(jobs.as_array().unwrap().iter().all(|j| j["kind"] != "training.builtin"), "nothing was queued");
}
