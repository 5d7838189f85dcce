mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

const CANCER: &str = include_str!("../../ml/tests/fixtures/breast_cancer.csv");
const PREDICT: &str = "/v1/projects/churn/endpoints/cancer:predict";

/// The table's rows as JSON objects (feature → number) with their labels.
fn rows() -> (Vec<String>, Vec<(Map<String, Value>, String)>) {
    let mut lines = CANCER.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    let target = header.iter().position(|h| h == "diagnosis").unwrap();
    let features: Vec<String> = header.iter().filter(|h| *h != "diagnosis").cloned().collect();
    let rows = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let mut obj = Map::new();
            for (i, h) in header.iter().enumerate() {
                if i != target {
                    obj.insert(h.clone(), json!(cells[i].parse::<f64>().unwrap()));
                }
            }
            (obj, cells[target].to_string())
        })
        .collect();
    (features, rows)
}

/// Trains a model on the cancer table and registers it as the next version of `churn.cancer`.
async fn train_and_register(app: &TestApp, token: &str, algorithm: &str) -> String {
    let body = json!({ "experiment": "serving", "dataset": "cancer", "version": 1, "target": "diagnosis", "task": "binary",
                       "algorithm": algorithm, "params": if algorithm == "gradient_boosting" { json!({ "n_estimators": 30 }) } else { json!({}) }, "seed": 3 });
    let res = app.send(Method::POST, "/v1/projects/churn/training-jobs", Some(token), Some(body)).await;
    assert_eq!(res.status(), 201);
    let run_id = res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().to_string();
    run_jobs(app).await;
    assert_eq!(get_run(app, token, &run_id).await["info"]["status"], "FINISHED");
    let res = app
        .send(Method::POST, "/api/2.0/mlflow/model-versions/create", Some(token), Some(json!({ "name": "churn.cancer", "source": format!("runs:/{run_id}/model"), "run_id": run_id })))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    run_id
}

async fn setup(app: &TestApp, team: &Team) {
    let res = app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "cancer" }))).await;
    assert_eq!(res.status(), 201);
    let res = upload_version(app, &team.editor, "cancer", "cancer.csv", CANCER.as_bytes().to_vec(), "text/csv").await;
    assert_eq!(res.status(), 201);
    run_jobs(app).await;
    let res = app.send(Method::POST, "/api/2.0/mlflow/registered-models/create", Some(&team.editor), Some(json!({ "name": "churn.cancer" }))).await;
    assert_eq!(res.status(), 200);
}

/// The cancer table, a model trained on it as `churn.cancer` v1, and endpoint `cancer` serving it.
async fn serve_trained(app: &TestApp, team: &Team, algorithm: &str) {
    setup(app, team).await;
    train_and_register(app, &team.editor, algorithm).await;
    assert_eq!(app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.editor), Some(json!({ "name": "cancer" }))).await.status(), 201);
    let res = app.send(Method::POST, "/v1/projects/churn/endpoints/cancer:deploy", Some(&team.editor), Some(json!({ "model": "cancer", "version": 1 }))).await;
    assert_eq!(res.status(), 200);
}

async fn predict(app: &TestApp, token: &str, path: &str, instances: Vec<Value>) -> Value {
    let res = app.send(Method::POST, path, Some(token), Some(json!({ "instances": instances }))).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_registered_model_is_deployed_and_answers_predictions() {
    let app = spawn().await;
    let team = app.team().await;
    setup(&app, &team).await;
    train_and_register(&app, &team.editor, "gradient_boosting").await;

    // Endpoints: editors create, viewers read, outsiders see nothing.
    let new = json!({ "name": "cancer", "description": "screening" });
    expect_error(app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.viewer), Some(new.clone())).await, StatusCode::FORBIDDEN, "forbidden").await;
    expect_error(app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.outsider), Some(new.clone())).await, StatusCode::NOT_FOUND, "not_found").await;
    for bad in [json!({ "name": "Bad Name" }), json!({ "name": "ok", "log_sample_rate": 2 }), json!({ "name": "ok", "extra": 1 })] {
        expect_error(app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.editor), Some(bad)).await, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let res = app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.editor), Some(new.clone())).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["oip_name"], "churn.cancer");
    assert_eq!(created["deployed_models"], json!([]));
    expect_error(app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.editor), Some(new)).await, StatusCode::CONFLICT, "conflict").await;
    let listed: Value = app.get("/v1/projects/churn/endpoints", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    expect_error(app.get("/v1/projects/churn/endpoints/cancer", Some(&team.outsider)).await, StatusCode::NOT_FOUND, "not_found").await;

    // An endpoint with nothing deployed says so.
    let (features, rows) = rows();
    let one = vec![Value::Object(rows[0].0.clone())];
    expect_error(app.send(Method::POST, PREDICT, Some(&team.editor), Some(json!({ "instances": one }))).await, StatusCode::CONFLICT, "conflict").await;

    // Deploying checks the model, the version and the share.
    let deploy = "/v1/projects/churn/endpoints/cancer:deploy";
    for (bad, why) in [
        (json!({ "model": "nope", "version": 1 }), "no registered model 'nope'"),
        (json!({ "model": "cancer", "version": 9 }), "no version 9"),
        (json!({ "model": "cancer", "alias": "champion" }), "no alias 'champion'"),
        (json!({ "model": "cancer" }), "either 'version' or 'alias'"),
        (json!({ "model": "cancer", "version": 1, "traffic_percent": 120 }), "between 0 and 100"),
        (json!({ "model": "cancer", "version": 1, "traffic_percent": 50 }), "first model deployed"),
    ] {
        let msg = expect_error(app.send(Method::POST, deploy, Some(&team.editor), Some(bad)).await, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(msg.contains(why), "{msg}");
    }
    expect_error(app.send(Method::POST, deploy, Some(&team.viewer), Some(json!({ "model": "cancer", "version": 1 }))).await, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.send(Method::POST, deploy, Some(&team.editor), Some(json!({ "model": "cancer", "version": 1 }))).await;
    assert_eq!(res.status(), 200);
    let endpoint: Value = res.json().await.unwrap();
    assert_eq!(endpoint["deployed_models"][0]["version"], 1);
    assert_eq!(endpoint["deployed_models"][0]["traffic_percent"], 100);
    let v1_id = endpoint["deployed_models"][0]["id"].as_str().unwrap().to_string();

    // Predictions: labels agree with the table for nearly every row, objects and arrays alike.
    let instances: Vec<Value> = rows.iter().map(|(o, _)| Value::Object(o.clone())).collect();
    let answer = predict(&app, &team.editor, PREDICT, instances.clone()).await;
    assert_eq!(answer["deployedModelId"], json!(v1_id));
    assert_eq!(answer["modelVersion"], "cancer/1");
    let predictions = answer["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), rows.len());
    let right = predictions.iter().zip(&rows).filter(|(p, (_, label))| p["label"] == json!(label)).count();
    assert!(right as f64 / rows.len() as f64 > 0.95, "{right} of {} right", rows.len());
    let first = &predictions[0];
    let scores: Vec<f64> = first["scores"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap()).collect();
    assert_eq!(first["classes"].as_array().unwrap().len(), 2);
    assert!((scores.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    let arrays: Vec<Value> = rows.iter().take(20).map(|(o, _)| Value::Array(features.iter().map(|f| o[f].clone()).collect())).collect();
    let by_array = predict(&app, &team.admin, PREDICT, arrays).await;
    assert_eq!(by_array["predictions"].as_array().unwrap()[..], predictions[..20]);
    // Numbers given as text are read as numbers; null is a missing value the model imputes.
    let mut texty = rows[0].0.clone();
    for v in texty.values_mut() {
        *v = json!(v.to_string());
    }
    assert_eq!(predict(&app, &team.editor, PREDICT, vec![Value::Object(texty)]).await["predictions"][0], predictions[0]);
    let mut holes = rows[0].0.clone();
    holes.insert("mean_radius".into(), Value::Null);
    assert!(predict(&app, &team.editor, PREDICT, vec![Value::Object(holes)]).await["predictions"][0]["scores"].is_array());

    // Who may predict: editors and admins; viewers are refused, outsiders see nothing.
    expect_error(app.send(Method::POST, PREDICT, Some(&team.viewer), Some(json!({ "instances": one }))).await, StatusCode::FORBIDDEN, "forbidden").await;
    expect_error(app.send(Method::POST, PREDICT, Some(&team.outsider), Some(json!({ "instances": one }))).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(app.send(Method::POST, PREDICT, None, Some(json!({ "instances": one }))).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // Bad input: a 400 naming the instance and the feature.
    let with = |k: &str, v: Value| {
        let mut o = rows[1].0.clone();
        o.insert(k.to_string(), v);
        Value::Object(o)
    };
    let mut missing = rows[1].0.clone();
    missing.remove("worst_area");
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "instances": [one[0].clone(), with("mean_radius", json!("big"))] }), "instance 1, feature 'mean_radius': expected a number, got \"big\""),
        (json!({ "instances": [one[0].clone(), one[0].clone(), Value::Object(missing)] }), "instance 2, feature 'worst_area': missing"),
        (json!({ "instances": [with("zip_code", json!(1))] }), "instance 0: unknown feature 'zip_code'"),
        (json!({ "instances": [[1, 2, 3]] }), "instance 0: 3 values, but the model has 30 features"),
        (json!({ "instances": [with("mean_area", json!([1]))] }), "instance 0, feature 'mean_area': expected a single value"),
        (json!({ "instances": [] }), "'instances' is empty"),
        (json!({ "instances": vec![json!({}); 5001] }), "at most 5000"),
        (json!({ "rows": [] }), "unknown field `rows`"),
        (json!({ "instances": one, "parameters": 3 }), "'parameters' must be an object"),
    ];
    for (body, why) in cases {
        let msg = expect_error(app.send(Method::POST, PREDICT, Some(&team.editor), Some(body)).await, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(msg.contains(why), "{msg} does not say {why}");
    }
    let msg = expect_error(app.send(Method::POST, "/v1/projects/churn/endpoints/cancer:forecast", Some(&team.editor), Some(json!({}))).await, StatusCode::NOT_FOUND, "not_found").await;
    assert!(msg.contains(":predict"), "{msg}");

    // The deployed version cannot be deleted; the endpoint cannot be deleted while it serves.
    let res = app.send(Method::DELETE, "/api/2.0/mlflow/model-versions/delete", Some(&team.editor), Some(json!({ "name": "churn.cancer", "version": "1" }))).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("deployed on endpoint churn/cancer"));
    expect_error(app.send(Method::DELETE, "/v1/projects/churn/endpoints/cancer", Some(&team.editor), None).await, StatusCode::CONFLICT, "conflict").await;

    // Undeploy, then delete.
    expect_error(
        app.send(Method::POST, "/v1/projects/churn/endpoints/cancer:undeploy", Some(&team.editor), Some(json!({ "deployed_model_id": "999999" }))).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = app.send(Method::POST, "/v1/projects/churn/endpoints/cancer:undeploy", Some(&team.editor), Some(json!({ "deployed_model_id": v1_id }))).await;
    assert_eq!(res.status(), 200);
    expect_error(app.send(Method::POST, PREDICT, Some(&team.editor), Some(json!({ "instances": one }))).await, StatusCode::CONFLICT, "conflict").await;
    let res = app.send(Method::DELETE, "/v1/projects/churn/endpoints/cancer", Some(&team.editor), None).await;
    assert_eq!(res.status(), 204);
    expect_error(app.get("/v1/projects/churn/endpoints/cancer", Some(&team.editor)).await, StatusCode::NOT_FOUND, "not_found").await;
    let audit: Value = app.get("/v1/projects/churn/audit", Some(&team.admin)).await.json().await.unwrap();
    let actions: Vec<&str> = audit.as_array().or(audit["entries"].as_array()).unwrap().iter().filter_map(|a| a["action"].as_str()).collect();
    for a in ["endpoint.create", "endpoint.deploy", "endpoint.undeploy", "endpoint.delete"] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }
}

/// Which version answered each of `n` requests.
async fn answered_by(app: &TestApp, token: &str, path: &str, instance: &Value, n: usize) -> std::collections::HashMap<String, usize> {
    let mut seen = std::collections::HashMap::new();
    for _ in 0..n {
        let a = predict(app, token, path, vec![instance.clone()]).await;
        *seen.entry(a["modelVersion"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    seen
}

#[tokio::test]
async fn traffic_is_split_between_versions_and_an_alias_is_followed() {
    let app = spawn().await;
    let team = app.team().await;
    setup(&app, &team).await;
    train_and_register(&app, &team.editor, "gradient_boosting").await;
    let linear_run = train_and_register(&app, &team.editor, "linear").await;
    // A run's model is registered from its page (through core): editors only, a run with a model only.
    let viewer = trellis_core::tokens::authenticate(&app.db, &team.viewer, None).await.unwrap();
    let editor = trellis_core::tokens::authenticate(&app.db, &team.editor, None).await.unwrap();
    let err = trellis_core::registry::register_run_model(&app.db, &viewer, "churn", &linear_run, "cancer").await.unwrap_err();
    assert!(matches!(err, trellis_core::Error::Forbidden(_)), "{err}");
    let v3 = trellis_core::registry::register_run_model(&app.db, &editor, "churn", &linear_run, "cancer").await.unwrap();
    assert_eq!((v3.model_name.as_str(), v3.version), ("cancer", 3));
    let fresh = trellis_core::registry::register_run_model(&app.db, &editor, "churn", &linear_run, "cancer-linear").await.unwrap();
    assert_eq!(fresh.version, 1, "a new name makes a new registered model");
    let res = app.send(Method::POST, "/api/2.0/mlflow/runs/create", Some(&team.editor), Some(json!({ "experiment_id": get_run(&app, &team.editor, &linear_run).await["info"]["experiment_id"] }))).await;
    let empty_run = res.json::<Value>().await.unwrap()["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let err = trellis_core::registry::register_run_model(&app.db, &editor, "churn", &empty_run, "cancer").await.unwrap_err();
    assert!(err.to_string().contains("has no model to register"), "{err}");
    let (_, rows) = rows();
    let instance = Value::Object(rows[5].0.clone());
    let res = app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.editor), Some(json!({ "name": "cancer" }))).await;
    assert_eq!(res.status(), 201);
    let deploy = "/v1/projects/churn/endpoints/cancer:deploy";
    let res = app.send(Method::POST, deploy, Some(&team.editor), Some(json!({ "model": "cancer", "version": 1 }))).await;
    assert_eq!(res.status(), 200);
    let res = app.send(Method::POST, deploy, Some(&team.editor), Some(json!({ "model": "cancer", "version": 2, "traffic_percent": 20 }))).await;
    let endpoint: Value = res.json().await.unwrap();
    let shares: Vec<(i64, i64)> = endpoint["deployed_models"].as_array().unwrap().iter().map(|d| (d["version"].as_i64().unwrap(), d["traffic_percent"].as_i64().unwrap())).collect();
    assert_eq!(shares, vec![(1, 80), (2, 20)]);
    let ids: Vec<String> = endpoint["deployed_models"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();

    // 80/20: over 300 requests the second version answers about 60 times (binomial sd ≈ 7).
    let seen = answered_by(&app, &team.editor, PREDICT, &instance, 300).await;
    let v2 = seen.get("cancer/2").copied().unwrap_or(0);
    assert_eq!(seen.values().sum::<usize>(), 300);
    assert!((25..=100).contains(&v2), "{seen:?}");

    // Setting the whole split: every deployed model, summing to 100.
    let set = "/v1/projects/churn/endpoints/cancer:setTraffic";
    for (bad, why) in [
        (json!({ "traffic_split": { ids[0].clone(): 50, ids[1].clone(): 40 } }), "sums to 90"),
        (json!({ "traffic_split": { ids[0].clone(): 100 } }), "must name every deployed model"),
        (json!({ "traffic_split": { ids[0].clone(): 50, "77777": 50 } }), "no deployed model 77777"),
        (json!({ "traffic_split": { ids[0].clone(): 150, ids[1].clone(): -50 } }), "between 0 and 100"),
    ] {
        let msg = expect_error(app.send(Method::POST, set, Some(&team.editor), Some(bad)).await, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(msg.contains(why), "{msg}");
    }
    expect_error(app.send(Method::POST, set, Some(&team.viewer), Some(json!({ "traffic_split": { ids[0].clone(): 0, ids[1].clone(): 100 } }))).await, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.send(Method::POST, set, Some(&team.editor), Some(json!({ "traffic_split": { ids[0].clone(): 0, ids[1].clone(): 100 } }))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(answered_by(&app, &team.editor, PREDICT, &instance, 20).await.get("cancer/2"), Some(&20));
    // Undeploying the version with all the traffic gives it to the rest.
    let res = app.send(Method::POST, "/v1/projects/churn/endpoints/cancer:undeploy", Some(&team.editor), Some(json!({ "deployed_model_id": ids[1] }))).await;
    let after: Value = res.json().await.unwrap();
    assert_eq!(after["deployed_models"][0]["traffic_percent"], 100);
    assert_eq!(answered_by(&app, &team.editor, PREDICT, &instance, 5).await.get("cancer/1"), Some(&5));

    // An endpoint that follows an alias serves the version the alias names, as it moves.
    let alias = |version: &str| json!({ "name": "churn.cancer", "alias": "champion", "version": version });
    assert_eq!(app.send(Method::POST, "/api/2.0/mlflow/registered-models/alias", Some(&team.editor), Some(alias("1"))).await.status(), 200);
    let res = app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.editor), Some(json!({ "name": "champion" }))).await;
    assert_eq!(res.status(), 201);
    let res = app.send(Method::POST, "/v1/projects/churn/endpoints/champion:deploy", Some(&team.editor), Some(json!({ "model": "cancer", "alias": "champion" }))).await;
    let followed: Value = res.json().await.unwrap();
    assert_eq!(followed["deployed_models"][0]["alias"], "champion");
    assert_eq!(followed["deployed_models"][0]["version"], 1);
    let champion = "/v1/projects/churn/endpoints/champion:predict";
    assert_eq!(predict(&app, &team.editor, champion, vec![instance.clone()]).await["modelVersion"], "cancer/1");
    assert_eq!(app.send(Method::POST, "/api/2.0/mlflow/registered-models/alias", Some(&team.editor), Some(alias("2"))).await.status(), 200);
    assert_eq!(predict(&app, &team.editor, champion, vec![instance.clone()]).await["modelVersion"], "cancer/2");
    let shown: Value = app.get("/v1/projects/churn/endpoints/champion", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(shown["deployed_models"][0]["version"], 2);
    // The followed alias cannot be deleted.
    let res = app.send(Method::DELETE, "/api/2.0/mlflow/registered-models/alias", Some(&team.editor), Some(json!({ "name": "churn.cancer", "alias": "champion" }))).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("followed by endpoint churn/champion"));
}

#[tokio::test]
async fn changes_to_an_endpoint_under_load_drop_no_request() {
    let app = spawn().await;
    let team = app.team().await;
    serve_trained(&app, &team, "linear").await;
    train_and_register(&app, &team.editor, "random_forest").await;
    let (_, rows) = rows();
    let body = json!({ "instances": [rows[7].0] });
    // Four clients predict without pause while the endpoint changes under them.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (http, url, token, body, stop) = (app.http.clone(), app.at(PREDICT), team.editor.clone(), body.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answers: std::collections::HashMap<u16, usize> = Default::default();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let res = http.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
                    *answers.entry(res.status().as_u16()).or_default() += 1;
                }
                answers
            })
        })
        .collect();
    let endpoint = "/v1/projects/churn/endpoints/cancer";
    let change = |action: &str, body: Value| {
        let path = format!("{endpoint}:{action}");
        let (app, token) = (&app, team.editor.clone());
        async move { app.send(Method::POST, &path, Some(&token), Some(body)).await }
    };
    let res = change("deploy", json!({ "model": "cancer", "version": 2, "traffic_percent": 20 })).await;
    let ids: Vec<String> = res.json::<Value>().await.unwrap()["deployed_models"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();
    for split in [[50, 50], [0, 100], [90, 10]] {
        let res = change("setTraffic", json!({ "traffic_split": { ids[0].clone(): split[0], ids[1].clone(): split[1] } })).await;
        assert_eq!(res.status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(change("mutateDeployedModel", json!({ "deployed_model_id": ids[0], "explanation": { "path_count": 3 } })).await.status(), 200);
    assert_eq!(change("undeploy", json!({ "deployed_model_id": ids[0] })).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(change("deploy", json!({ "model": "cancer", "version": 1, "traffic_percent": 30 })).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for c in clients {
        let answers = c.await.unwrap();
        assert_eq!(answers.keys().copied().collect::<Vec<_>>(), vec![200], "every request was answered: {answers:?}");
        total += answers[&200];
    }
    assert!(total >= 20, "the clients were predicting throughout ({total} requests)");
}

#[tokio::test]
async fn the_open_inference_protocol_serves_endpoints_by_name() {
    let app = spawn().await;
    let team = app.team().await;
    serve_trained(&app, &team, "random_forest").await;
    let (features, rows) = rows();

    assert_eq!(app.get("/v2/health/live", None).await.json::<Value>().await.unwrap(), json!({ "live": true }));
    assert_eq!(app.get("/v2/health/ready", None).await.json::<Value>().await.unwrap(), json!({ "ready": true }));
    assert_eq!(app.get("/v2", None).await.json::<Value>().await.unwrap()["name"], "trellis");
    let meta: Value = app.get("/v2/models/churn.cancer", Some(&team.editor)).await.json().await.unwrap();
    assert_eq!(meta["versions"], json!(["1"]));
    let inputs: Vec<&str> = meta["inputs"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(inputs, features.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(meta["outputs"][1]["name"], "probabilities");
    assert_eq!(meta["outputs"][1]["shape"], json!([-1, 2]));
    let ready = app.get("/v2/models/churn.cancer/ready", Some(&team.editor)).await;
    assert_eq!(ready.status(), 200);

    // One 2-D tensor in feature order, and one tensor per feature: the same answers as :predict.
    let n = 8;
    let matrix: Vec<f64> = rows.iter().take(n).flat_map(|(o, _)| features.iter().map(|f| o[f].as_f64().unwrap()).collect::<Vec<_>>()).collect();
    let infer = "/v2/models/churn.cancer/infer";
    let body = json!({ "id": "r1", "inputs": [{ "name": "input", "shape": [n, features.len()], "datatype": "FP64", "data": matrix }] });
    let res = app.send(Method::POST, infer, Some(&team.editor), Some(body)).await;
    assert_eq!(res.status(), 200);
    let out: Value = res.json().await.unwrap();
    assert_eq!(out["id"], "r1");
    assert_eq!(out["model_name"], "churn.cancer");
    assert_eq!(out["model_version"], "1");
    let probs = out["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "probabilities").unwrap();
    assert_eq!(probs["shape"], json!([n, 2]));
    let vertex = predict(&app, &team.editor, PREDICT, rows.iter().take(n).map(|(o, _)| Value::Object(o.clone())).collect()).await;
    let vertex_scores: Vec<Value> = vertex["predictions"].as_array().unwrap().iter().flat_map(|p| p["scores"].as_array().unwrap().clone()).collect();
    assert_eq!(probs["data"].as_array().unwrap(), &vertex_scores);
    let labels = out["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "label").unwrap();
    let vertex_labels: Vec<Value> = vertex["predictions"].as_array().unwrap().iter().map(|p| p["label"].clone()).collect();
    assert_eq!(labels["data"].as_array().unwrap(), &vertex_labels);

    let per_feature: Vec<Value> = features
        .iter()
        .map(|f| json!({ "name": f, "shape": [n, 1], "datatype": "FP32", "data": rows.iter().take(n).map(|(o, _)| o[f].clone()).collect::<Vec<_>>() }))
        .collect();
    let res = app.send(Method::POST, infer, Some(&team.editor), Some(json!({ "inputs": per_feature, "outputs": [{ "name": "label" }] }))).await;
    assert_eq!(res.status(), 200);
    let out: Value = res.json().await.unwrap();
    assert_eq!(out["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(out["outputs"][0]["data"].as_array().unwrap(), &vertex_labels);

    // Errors in the protocol's shape, naming the problem.
    let oip_error = |res: reqwest::Response, status: StatusCode| async move {
        assert_eq!(res.status(), status);
        res.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_string()
    };
    let bad_shape = json!({ "inputs": [{ "name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3] }] });
    assert!(oip_error(app.send(Method::POST, infer, Some(&team.editor), Some(bad_shape)).await, StatusCode::BAD_REQUEST).await.contains("3 columns, but the model has 30 features"));
    let bad_type = json!({ "inputs": [{ "name": "input", "shape": [1, 30], "datatype": "BOOL", "data": vec![1; 30] }] });
    assert!(oip_error(app.send(Method::POST, infer, Some(&team.editor), Some(bad_type)).await, StatusCode::BAD_REQUEST).await.contains("BOOL data must be true or false"));
    let bad_output = json!({ "inputs": [{ "name": "input", "shape": [1, 30], "datatype": "FP32", "data": vec![1; 30] }], "outputs": [{ "name": "logits" }] });
    assert!(oip_error(app.send(Method::POST, infer, Some(&team.editor), Some(bad_output)).await, StatusCode::BAD_REQUEST).await.contains("unknown output 'logits'"));
    assert!(oip_error(app.send(Method::POST, infer, Some(&team.editor), Some(json!({ "inputs": 3 }))).await, StatusCode::BAD_REQUEST).await.contains("not valid JSON of the protocol"));
    assert!(oip_error(app.get("/v2/models/churn.nope", Some(&team.editor)).await, StatusCode::NOT_FOUND).await.contains("no endpoint 'nope'"));
    assert!(oip_error(app.get("/v2/models/nodot", Some(&team.editor)).await, StatusCode::NOT_FOUND).await.contains("<project>.<endpoint>"));
    oip_error(app.get("/v2/models/churn.cancer", None).await, StatusCode::UNAUTHORIZED).await;
    oip_error(app.get("/v2/models/churn.cancer", Some(&team.viewer)).await, StatusCode::FORBIDDEN).await;
    oip_error(app.get("/v2/models/churn.cancer", Some(&team.outsider)).await, StatusCode::NOT_FOUND).await;

    // A real Open Inference Protocol client: tritonclient over HTTP/JSON.
    let python = std::env::var("TRELLIS_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!("{}/tests/oip/triton_client.py", env!("CARGO_MANIFEST_DIR"));
    let first: Vec<f64> = features.iter().map(|f| rows[0].0[f].as_f64().unwrap()).collect();
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .env("TRELLIS_URL", app.url.trim_start_matches("http://"))
        .env("TRELLIS_TOKEN", &team.editor)
        .env("TRELLIS_MODEL", "churn.cancer")
        .env("TRELLIS_ROW", serde_json::to_string(&first).unwrap())
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "tritonclient script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["live"], true);
    assert_eq!(report["model_ready"], true);
    assert_eq!(report["inputs"], 30);
    assert_eq!(json!(report["label"]), vertex_labels[0]);
    assert_eq!(report["probabilities"], json!(vertex_scores[..2]));
}

#[tokio::test]
async fn explanations_attribute_predictions_by_each_deployments_method() {
    let app = spawn().await;
    let team = app.team().await;
    setup(&app, &team).await;
    train_and_register(&app, &team.editor, "random_forest").await;
    train_and_register(&app, &team.editor, "linear").await;
    let (features, rows) = rows();
    for name in ["forest", "linear"] {
        assert_eq!(app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.editor), Some(json!({ "name": name }))).await.status(), 201);
    }
    // The method must fit the model, and its settings their ranges.
    let deploy = |endpoint: &str| format!("/v1/projects/churn/endpoints/{endpoint}:deploy");
    for (endpoint, version, explanation, why) in [
        ("linear", 2, json!({ "method": "tree_shap" }), "TreeSHAP explains tree models"),
        ("forest", 1, json!({ "method": "integrated_gradients" }), "differentiable model"),
        ("forest", 1, json!({ "method": "sampled_shapley", "path_count": 51 }), "path_count must be between 1 and 50"),
        ("linear", 2, json!({ "method": "integrated_gradients", "step_count": 0 }), "step_count must be between 1 and 100"),
        ("forest", 1, json!({ "method": "lime" }), "unknown method 'lime'"),
        ("forest", 1, json!({ "method": "tree_shap", "path_count": 5 }), "path_count is for sampled_shapley"),
        ("forest", 1, json!({ "baseline": { "shoe_size": 3 } }), "unknown feature 'shoe_size'"),
        ("forest", 1, json!({ "baseline": { "mean_radius": "big" } }), "feature 'mean_radius': expected a number"),
    ] {
        let res = app.send(Method::POST, &deploy(endpoint), Some(&team.editor), Some(json!({ "model": "cancer", "version": version, "explanation": explanation }))).await;
        let msg = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(msg.contains(why), "{msg} does not say {why}");
    }
    let res = app.send(Method::POST, &deploy("forest"), Some(&team.editor), Some(json!({ "model": "cancer", "version": 1, "explanation": { "method": "tree_shap" } }))).await;
    assert_eq!(res.status(), 200);
    let shown: Value = res.json().await.unwrap();
    assert_eq!(shown["deployed_models"][0]["explanation"], json!({ "method": "tree_shap" }));

    // TreeSHAP on the forest: the predicted class's attributions sum to its score minus the
    // trees' expected score.
    let instances: Vec<Value> = rows.iter().step_by(97).map(|(o, _)| Value::Object(o.clone())).collect();
    let explain = "/v1/projects/churn/endpoints/forest:explain";
    let res = app.send(Method::POST, explain, Some(&team.editor), Some(json!({ "instances": instances }))).await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["method"], "tree_shap");
    let predicted = predict(&app, &team.editor, "/v1/projects/churn/endpoints/forest:predict", instances.clone()).await;
    assert_eq!(answer["predictions"], predicted["predictions"]);
    for (e, p) in answer["explanations"].as_array().unwrap().iter().zip(predicted["predictions"].as_array().unwrap()) {
        let a = &e["attributions"][0];
        let k = a["outputIndex"][0].as_u64().unwrap() as usize;
        assert_eq!(a["outputDisplayName"], p["label"]);
        assert!((a["instanceOutputValue"].as_f64().unwrap() - p["scores"][k].as_f64().unwrap()).abs() < 1e-12);
        let attributions = a["featureAttributions"].as_object().unwrap();
        assert_eq!(attributions.len(), features.len());
        let sum: f64 = attributions.values().map(|v| v.as_f64().unwrap()).sum();
        let change = a["instanceOutputValue"].as_f64().unwrap() - a["baselineOutputValue"].as_f64().unwrap();
        assert!((sum - change).abs() < 1e-9, "{sum} vs {change}");
        assert!(a["approximationError"].as_f64().unwrap() < 1e-9);
    }
    expect_error(app.send(Method::POST, explain, Some(&team.viewer), Some(json!({ "instances": [instances[0]] }))).await, StatusCode::FORBIDDEN, "forbidden").await;

    // Global importance: each feature's mean |attribution| over 100 rows of the training data
    // (every fifth of the first 500), the same numbers :explain gives for those rows.
    let importance: Value = app.get("/v1/projects/churn/models/cancer/versions/1/importance", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(importance["method"], "tree_shap");
    assert_eq!(importance["dataset"], "cancer@v1");
    assert_eq!(importance["rows"], 100);
    let sampled: Vec<Value> = rows.iter().take(500).step_by(5).map(|(o, _)| Value::Object(o.clone())).collect();
    let res = app.send(Method::POST, explain, Some(&team.editor), Some(json!({ "instances": sampled }))).await;
    let each: Value = res.json().await.unwrap();
    let listed = importance["features"].as_array().unwrap();
    assert_eq!(listed.len(), features.len());
    assert!(listed.windows(2).all(|w| w[0]["importance"].as_f64() >= w[1]["importance"].as_f64()), "largest first");
    for f in listed {
        let name = f["feature"].as_str().unwrap();
        let mean = each["explanations"].as_array().unwrap().iter().map(|e| e["attributions"][0]["featureAttributions"][name].as_f64().unwrap().abs()).sum::<f64>() / 100.0;
        assert!((f["importance"].as_f64().unwrap() - mean).abs() < 1e-9, "{name}: {f} vs {mean}");
    }
    // Kept once computed (a version and its data never change): the same answer again, and
    // still only to readers of the project.
    let again: Value = app.get("/v1/projects/churn/models/cancer/versions/1/importance", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(again, importance);
    expect_error(app.get("/v1/projects/churn/models/cancer/versions/9/importance", Some(&team.viewer)).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(app.get("/v1/projects/churn/models/cancer/versions/1/importance", Some(&team.outsider)).await, StatusCode::NOT_FOUND, "not_found").await;
    let many = vec![instances[0].clone(); 101];
    let msg = expect_error(app.send(Method::POST, explain, Some(&team.editor), Some(json!({ "instances": many }))).await, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(msg.contains("at most 100"), "{msg}");

    // Integrated gradients on the linear model converge; sampled Shapley from a given baseline
    // measures from that baseline's own prediction.
    let res = app.send(Method::POST, &deploy("linear"), Some(&team.editor), Some(json!({ "model": "cancer", "version": 2, "explanation": { "method": "integrated_gradients", "step_count": 50 } }))).await;
    assert_eq!(res.status(), 200);
    let ig: Value = app.send(Method::POST, "/v1/projects/churn/endpoints/linear:explain", Some(&team.editor), Some(json!({ "instances": [instances[1]] }))).await.json().await.unwrap();
    assert!(ig["explanations"][0]["attributions"][0]["approximationError"].as_f64().unwrap() < 1e-4, "{ig}");
    assert_eq!(ig["method"], "integrated_gradients");
    // The settings change without redeploying: the same deployed model, its traffic untouched.
    let deployed_id = app.get("/v1/projects/churn/endpoints/linear", Some(&team.editor)).await.json::<Value>().await.unwrap()["deployed_models"][0]["id"].clone();
    let mutate = "/v1/projects/churn/endpoints/linear:mutateDeployedModel";
    let baseline = Value::Object(rows[3].0.clone());
    let change = json!({ "deployed_model_id": deployed_id, "explanation": { "path_count": 4, "baseline": baseline } });
    expect_error(app.send(Method::POST, mutate, Some(&team.viewer), Some(change.clone())).await, StatusCode::FORBIDDEN, "forbidden").await;
    let msg = expect_error(app.send(Method::POST, mutate, Some(&team.editor), Some(json!({ "deployed_model_id": deployed_id, "explanation": { "method": "tree_shap" } }))).await, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(msg.contains("TreeSHAP explains tree models"), "{msg}");
    expect_error(app.send(Method::POST, mutate, Some(&team.editor), Some(json!({ "deployed_model_id": "999", "explanation": {} }))).await, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.send(Method::POST, mutate, Some(&team.editor), Some(change)).await;
    assert_eq!(res.status(), 200);
    let shown: Value = res.json().await.unwrap();
    assert_eq!(shown["deployed_models"][0]["id"], deployed_id);
    assert_eq!(shown["deployed_models"][0]["traffic_percent"], 100);
    assert_eq!(shown["deployed_models"][0]["explanation"]["path_count"], 4);
    let shapley: Value = app.send(Method::POST, "/v1/projects/churn/endpoints/linear:explain", Some(&team.editor), Some(json!({ "instances": [instances[1]] }))).await.json().await.unwrap();
    let a = &shapley["explanations"][0]["attributions"][0];
    let k = a["outputIndex"][0].as_u64().unwrap() as usize;
    let at_baseline = predict(&app, &team.editor, "/v1/projects/churn/endpoints/linear:predict", vec![baseline]).await;
    assert!((a["baselineOutputValue"].as_f64().unwrap() - at_baseline["predictions"][0]["scores"][k].as_f64().unwrap()).abs() < 1e-12);
    let sum: f64 = a["featureAttributions"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - (a["instanceOutputValue"].as_f64().unwrap() - a["baselineOutputValue"].as_f64().unwrap())).abs() < 1e-12);
}

#[tokio::test]
async fn a_predict_only_token_predicts_on_its_endpoints_and_nothing_else() {
    let app = spawn().await;
    let team = app.team().await;
    setup(&app, &team).await;
    train_and_register(&app, &team.editor, "linear").await;
    for name in ["cancer", "other"] {
        assert_eq!(app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.editor), Some(json!({ "name": name }))).await.status(), 201);
        let deploy = format!("/v1/projects/churn/endpoints/{name}:deploy");
        assert_eq!(app.send(Method::POST, &deploy, Some(&team.editor), Some(json!({ "model": "cancer", "version": 1 }))).await.status(), 200);
    }
    // Made by an editor in a signed-in session, for endpoints of the project.
    let editor = app.session("editor@example.org").await;
    let viewer = app.session("viewer@example.org").await;
    let body = |endpoints: Value| json!({ "name": "app", "project": "churn", "predict_endpoints": endpoints });
    let res = app.send_as(&Cred::Session(&viewer), Method::POST, "/v1/tokens", Some(body(json!(["cancer"])))).await;
    assert_eq!(res.status(), 403, "viewers cannot predict, so cannot hand it out");
    let res = app.send_as(&Cred::Session(&editor), Method::POST, "/v1/tokens", Some(body(json!(["nope"])))).await;
    assert!(res.text().await.unwrap().contains("no endpoint 'nope'"));
    let res = app.send_as(&Cred::Session(&editor), Method::POST, "/v1/tokens", Some(body(json!([])))).await;
    assert_eq!(res.status(), 400);
    let res = app.send_as(&Cred::Session(&editor), Method::POST, "/v1/tokens", Some(body(json!(["cancer"])))).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["predict_endpoints"], json!(["cancer"]));
    let token = created["secret"].as_str().unwrap().to_string();

    let (_, rows) = rows();
    let one = json!({ "instances": [Value::Object(rows[0].0.clone())] });
    let res = app.send(Method::POST, PREDICT, Some(&token), Some(one.clone())).await;
    assert_eq!(res.status(), 200);
    let res = app.send(Method::POST, "/v1/projects/churn/endpoints/cancer:explain", Some(&token), Some(one.clone())).await;
    assert_eq!(res.status(), 200);
    let res = app.get("/v2/models/churn.cancer", Some(&token)).await;
    assert_eq!(res.status(), 200);
    // Another endpoint, anything else of the project, the MLflow API, other tokens: refused.
    expect_error(app.send(Method::POST, "/v1/projects/churn/endpoints/other:predict", Some(&token), Some(one.clone())).await, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.get("/v2/models/churn.other", Some(&token)).await;
    assert_eq!(res.status(), 403);
    for path in ["/v1/projects/churn/endpoints/cancer", "/v1/projects/churn", "/v1/projects", "/v1/tokens", "/v1/me", "/v1/projects/churn/datasets"] {
        expect_error(app.get(path, Some(&token)).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let res = app.get("/api/2.0/mlflow/experiments/search?max_results=10", Some(&token)).await;
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["error_code"], "PERMISSION_DENIED");
    let undeploy = json!({ "deployed_model_id": "1" });
    expect_error(app.send(Method::POST, "/v1/projects/churn/endpoints/cancer:undeploy", Some(&token), Some(undeploy)).await, StatusCode::FORBIDDEN, "forbidden").await;
    // Core refuses it too, whatever route reaches it.
    let actor = trellis_core::tokens::authenticate(&app.db, &token, None).await.unwrap();
    assert!(matches!(trellis_core::projects::get(&app.db, &actor, "churn").await, Err(trellis_core::Error::Forbidden(_))));
    assert!(matches!(trellis_core::tokens::list(&app.db, &actor).await, Err(trellis_core::Error::Forbidden(_))));
    // When its user may no longer predict there, neither may the token.
    let admin = trellis_core::tokens::authenticate(&app.db, &team.admin, None).await.unwrap();
    trellis_core::projects::set_member(&app.db, &admin, "churn", "editor@example.org", trellis_core::types::Role::Viewer).await.unwrap();
    expect_error(app.send(Method::POST, PREDICT, Some(&token), Some(one)).await, StatusCode::FORBIDDEN, "forbidden").await;
}

/// Polls `request` until it answers `status`; false if it still does not after ten seconds.
async fn becomes<F, Fut>(status: u16, request: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if request().await.status().as_u16() == status {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn access_taken_away_by_another_process_ends_cached_access() {
    let app = spawn().await;
    let team = app.team().await;
    serve_trained(&app, &team, "linear").await;
    let (_, rows) = rows();
    let one = json!({ "instances": [rows[0].0] });
    let send = |token: String| {
        let (app, one) = (&app, one.clone());
        move || {
            let (token, one) = (token.clone(), one.clone());
            async move { app.send(Method::POST, PREDICT, Some(&token), Some(one)).await }
        }
    };
    // Allowed, and so remembered by this process.
    for _ in 0..3 {
        predict(&app, &team.editor, PREDICT, vec![Value::Object(rows[0].0.clone())]).await;
        predict(&app, &team.admin, PREDICT, vec![Value::Object(rows[0].0.clone())]).await;
    }
    // Changes written by something else than this process (another server, psql) reach it
    // through PostgreSQL's notifications.
    sqlx::query("DELETE FROM project_members WHERE user_id = (SELECT id FROM users WHERE email = 'editor@example.org')")
        .execute(&app.db)
        .await
        .unwrap();
    assert!(becomes(404, send(team.editor.clone())).await, "a removed member's cached access ended");
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE user_id = (SELECT id FROM users WHERE email = 'admin@example.org')")
        .execute(&app.db)
        .await
        .unwrap();
    assert!(becomes(401, send(team.admin.clone())).await, "a revoked token's cached identity ended");
    let me = || app.get("/v1/me", Some(&team.viewer));
    assert_eq!(me().await.status(), 200);
    sqlx::query("UPDATE users SET disabled = true WHERE email = 'viewer@example.org'").execute(&app.db).await.unwrap();
    assert!(becomes(401, me).await, "a disabled user's cached token ended");
}

#[tokio::test]
async fn requests_are_counted_per_deployed_model_and_sampled_into_the_log() {
    let app = spawn().await;
    let team = app.team().await;
    setup(&app, &team).await;
    train_and_register(&app, &team.editor, "linear").await;
    assert_eq!(app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.editor), Some(json!({ "name": "cancer" }))).await.status(), 201);
    let res = app.send(Method::POST, "/v1/projects/churn/endpoints/cancer:deploy", Some(&team.editor), Some(json!({ "model": "cancer", "version": 1 }))).await;
    let deployed_id = res.json::<Value>().await.unwrap()["deployed_models"][0]["id"].as_str().unwrap().to_string();
    let endpoint = "/v1/projects/churn/endpoints/cancer";
    expect_error(app.send(Method::PATCH, endpoint, Some(&team.viewer), Some(json!({ "log_sample_rate": 1.0 }))).await, StatusCode::FORBIDDEN, "forbidden").await;
    expect_error(app.send(Method::PATCH, endpoint, Some(&team.editor), Some(json!({ "log_sample_rate": 1.5 }))).await, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = app.send(Method::PATCH, endpoint, Some(&team.editor), Some(json!({ "log_sample_rate": 1.0 }))).await;
    assert_eq!(res.json::<Value>().await.unwrap()["log_sample_rate"], 1.0);

    let (_, rows) = rows();
    for (o, _) in rows.iter().take(8) {
        predict(&app, &team.editor, PREDICT, vec![Value::Object(o.clone())]).await;
    }
    for _ in 0..2 {
        let res = app.send(Method::POST, PREDICT, Some(&team.editor), Some(json!({ "instances": [{ "mean_radius": "wide" }] }))).await;
        assert_eq!(res.status(), 400);
    }
    // Written off the request path: wait for the writer.
    let mut stats = Value::Null;
    for _ in 0..100 {
        stats = app.get(&format!("{endpoint}/stats?minutes=5"), Some(&team.viewer)).await.json().await.unwrap();
        if stats[0]["requests"] == 10 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(stats[0]["requests"], 10, "{stats}");
    assert_eq!(stats[0]["errors"], 2);
    assert_eq!(stats[0]["deployed_model_id"], json!(deployed_id));
    assert_eq!(stats[0]["model_version"], "cancer/1");
    assert!(stats[0]["p50_us"].as_f64().unwrap() > 0.0 && stats[0]["p99_us"].as_f64().unwrap() >= stats[0]["p50_us"].as_f64().unwrap());
    let logs: Value = app.get(&format!("{endpoint}/logs?limit=50"), Some(&team.viewer)).await.json().await.unwrap();
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), 10);
    assert_eq!(logs.iter().filter(|l| l["ok"] == false).count(), 2);
    let good = logs.iter().find(|l| l["ok"] == true).unwrap();
    assert_eq!(good["request"]["instances"].as_array().unwrap().len(), 1);
    assert!(good["response"]["predictions"][0]["label"].is_string());
    let bad = logs.iter().find(|l| l["ok"] == false).unwrap();
    assert!(bad["response"]["error"].as_str().unwrap().contains("mean_radius"));
    expect_error(app.get(&format!("{endpoint}/logs?limit=5000"), Some(&team.viewer)).await, StatusCode::BAD_REQUEST, "bad_request").await;
    expect_error(app.get(&format!("{endpoint}/stats"), Some(&team.outsider)).await, StatusCode::NOT_FOUND, "not_found").await;

    // Not sampled: still counted, not logged.
    app.send(Method::PATCH, endpoint, Some(&team.editor), Some(json!({ "log_sample_rate": 0.0 }))).await;
    for (o, _) in rows.iter().take(5) {
        predict(&app, &team.editor, PREDICT, vec![Value::Object(o.clone())]).await;
    }
    for _ in 0..100 {
        stats = app.get(&format!("{endpoint}/stats?minutes=5"), Some(&team.viewer)).await.json().await.unwrap();
        if stats[0]["requests"] == 15 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(stats[0]["requests"], 15, "{stats}");
    let logs: Value = app.get(&format!("{endpoint}/logs"), Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(logs.as_array().unwrap().len(), 10);

    // This process's counts in /metrics.
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    let line = format!("trellis_predictions_total{{endpoint=\"churn.cancer\",deployed_model=\"{deployed_id}\",model_version=\"cancer/1\"}} 15");
    assert!(metrics.contains(&line), "{metrics}");
    assert!(metrics.contains(&format!("trellis_prediction_errors_total{{endpoint=\"churn.cancer\",deployed_model=\"{deployed_id}\",model_version=\"cancer/1\"}} 2")));
    assert!(metrics.contains("trellis_prediction_latency_seconds_bucket{endpoint=\"churn.cancer\""));
    assert!(metrics.contains("trellis_prediction_logs_dropped_total 0"));
}

#[tokio::test]
async fn a_batch_prediction_writes_the_inputs_with_predictions_and_attributions() {
    let app = spawn().await;
    let team = app.team().await;
    setup(&app, &team).await;
    train_and_register(&app, &team.editor, "random_forest").await;
    let (features, rows) = rows();
    let batches = "/v1/projects/churn/batch-predictions";
    let request = |format: &str, explain: bool| json!({ "model": "cancer", "version": 1, "dataset": "cancer", "dataset_version": 1, "output_format": format, "explain": explain });
    expect_error(app.send(Method::POST, batches, Some(&team.viewer), Some(request("csv", false))).await, StatusCode::FORBIDDEN, "forbidden").await;
    for (body, why) in [
        (request("xlsx", false), "output_format must be 'csv' or 'parquet'"),
        (json!({ "model": "cancer", "version": 7, "dataset": "cancer", "dataset_version": 1 }), "no version 7"),
        (json!({ "model": "cancer", "version": 1, "dataset": "cancer", "dataset_version": 4 }), "no dataset 'cancer' version 4"),
    ] {
        let msg = expect_error(app.send(Method::POST, batches, Some(&team.editor), Some(body)).await, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(msg.contains(why), "{msg}");
    }
    // A version without a column the model needs is refused at submission.
    app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "partial" }))).await;
    upload_version(&app, &team.editor, "partial", "partial.csv", b"mean_radius,other\n1,2\n3,4\n".to_vec(), "text/csv").await;
    run_jobs(&app).await;
    let body = json!({ "model": "cancer", "version": 1, "dataset": "partial", "dataset_version": 1 });
    let msg = expect_error(app.send(Method::POST, batches, Some(&team.editor), Some(body)).await, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(msg.contains("has no column 'mean_texture'"), "{msg}");

    // CSV: every row, the file's columns, then the label and one score per class.
    let res = app.send(Method::POST, batches, Some(&team.editor), Some(request("csv", false))).await;
    assert_eq!(res.status(), 201);
    let batch: Value = res.json().await.unwrap();
    assert_eq!(batch["state"], "queued");
    let id = batch["id"].as_i64().unwrap();
    expect_error(app.get(&format!("{batches}/{id}/output"), Some(&team.viewer)).await, StatusCode::CONFLICT, "conflict").await;
    run_jobs(&app).await;
    let done: Value = app.get(&format!("{batches}/{id}"), Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["rows"], 569);
    let res = app.get(&format!("{batches}/{id}/output"), Some(&team.viewer)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv");
    let csv = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(&header[..30], &features[..]);
    assert_eq!(&header[30..], &["diagnosis", "predicted_label", "score_benign", "score_malignant"]);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 569);
    // The same answers as online prediction.
    assert_eq!(app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.editor), Some(json!({ "name": "cancer" }))).await.status(), 201);
    app.send(Method::POST, "/v1/projects/churn/endpoints/cancer:deploy", Some(&team.editor), Some(json!({ "model": "cancer", "version": 1 }))).await;
    let online = predict(&app, &team.editor, PREDICT, rows.iter().take(40).map(|(o, _)| Value::Object(o.clone())).collect()).await;
    for (r, p) in records.iter().take(40).zip(online["predictions"].as_array().unwrap()) {
        assert_eq!(&r[31], p["label"].as_str().unwrap());
        assert!((r[33].parse::<f64>().unwrap() - p["scores"][1].as_f64().unwrap()).abs() < 1e-12);
    }

    // Parquet with attributions: TreeSHAP per row, summing to the score minus the expected score.
    let res = app.send(Method::POST, batches, Some(&team.editor), Some(request("parquet", true))).await;
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    run_jobs(&app).await;
    let bytes = app.get(&format!("{batches}/{id}/output"), Some(&team.viewer)).await.bytes().await.unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap();
    let mut total = 0;
    for batch in reader {
        let batch = batch.unwrap();
        let schema = batch.schema();
        let col = |name: &str| batch.column(schema.index_of(name).unwrap()).as_any().downcast_ref::<arrow_array::Float64Array>().unwrap().clone();
        let labels = batch.column(schema.index_of("predicted_label").unwrap()).as_any().downcast_ref::<arrow_array::StringArray>().unwrap().clone();
        let attributions: Vec<arrow_array::Float64Array> = features.iter().map(|f| col(&format!("attribution_{f}"))).collect();
        let (benign, malignant) = (col("score_benign"), col("score_malignant"));
        let mut gaps = Vec::new();
        for r in 0..batch.num_rows() {
            let score = if labels.value(r) == "malignant" { malignant.value(r) } else { benign.value(r) };
            gaps.push((labels.value(r).to_string(), score - attributions.iter().map(|a| a.value(r)).sum::<f64>()));
        }
        // score − Σ attributions is the expected score of the explained class: one value per class.
        for class in ["benign", "malignant"] {
            let expected: Vec<f64> = gaps.iter().filter(|g| g.0 == class).map(|g| g.1).collect();
            assert!(expected.windows(2).all(|w| (w[0] - w[1]).abs() < 1e-9), "{class}: {:?}", &expected[..expected.len().min(5)]);
        }
        total += batch.num_rows();
    }
    assert_eq!(total, 569);

    // An uploaded file instead of a dataset version: checked whole at submission, kept as a blob.
    let upload = |token: &str, query: &str, ctype: &str, body: Vec<u8>| {
        app.http.post(app.at(&format!("{batches}{query}"))).bearer_auth(token).header("Content-Type", ctype).body(body).send()
    };
    let query = "?model=cancer&version=1&filename=first%20rows.csv";
    let first_rows: String = CANCER.lines().take(11).map(|l| format!("{l}\n")).collect();
    expect_error(upload(&team.viewer, query, "text/csv", first_rows.clone().into_bytes()).await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    let blobs_before: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs").fetch_one(&app.db).await.unwrap();
    for (query, body, why) in [
        (query, "mean_radius,other\n1,2\n".to_string(), "has no column 'mean_texture'"),
        (query, format!("{}\n1,2\n", CANCER.lines().next().unwrap()), "line 2"),
        (query, String::new(), "empty"),
        ("?version=1", first_rows.clone(), "model"),
        ("?model=cancer&version=1&output_format=xml", first_rows.clone(), "output_format"),
    ] {
        let msg = expect_error(upload(&team.editor, query, "text/csv", body.into_bytes()).await.unwrap(), StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(msg.contains(why), "{msg} does not say {why}");
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs").fetch_one(&app.db).await.unwrap();
    assert_eq!(after, blobs_before, "refused files leave no blob");
    let res = upload(&team.editor, query, "text/csv", first_rows.into_bytes()).await.unwrap();
    assert_eq!(res.status(), 201);
    let batch: Value = res.json().await.unwrap();
    assert_eq!(batch["dataset"], "uploaded first rows.csv");
    run_jobs(&app).await;
    let id = batch["id"].as_i64().unwrap();
    let done: Value = app.get(&format!("{batches}/{id}"), Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["rows"], 10);
    let csv = app.get(&format!("{batches}/{id}/output"), Some(&team.viewer)).await.text().await.unwrap();
    let uploaded: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.as_bytes()).records().map(Result::unwrap).collect();
    assert_eq!(uploaded.len(), 10);
    for (a, b) in uploaded.iter().zip(&records) {
        assert_eq!(a, b, "the same rows get the same answers as from the dataset version");
    }

    // A value the model cannot take fails the job, naming the row of the file and the feature.
    let header = CANCER.lines().next().unwrap();
    let at = header.split(',').position(|c| c.trim() == "mean_radius").unwrap();
    let mut bad: String = format!("{header}\n");
    for (i, line) in CANCER.lines().skip(1).take(5).enumerate() {
        let mut cells: Vec<&str> = line.split(',').collect();
        if i == 3 {
            cells[at] = "big";
        }
        bad.push_str(&cells.join(","));
        bad.push('\n');
    }
    let res = upload(&team.editor, query, "text/csv", bad.into_bytes()).await.unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    run_jobs(&app).await;
    let failed: Value = app.get(&format!("{batches}/{id}"), Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(failed.to_string().contains("row 4, feature 'mean_radius': expected a number, got \\\"big\\\""), "{failed}");

    let listed: Value = app.get(batches, Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 4);
    expect_error(app.get(batches, Some(&team.outsider)).await, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn only_approved_versions_deploy_when_the_model_requires_it() {
    let app = spawn().await;
    let team = app.team().await;
    setup(&app, &team).await;
    train_and_register(&app, &team.editor, "linear").await;
    train_and_register(&app, &team.editor, "linear").await;
    let model = "/v1/projects/churn/models/cancer";
    let g: Value = app.get(model, Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(g["require_approval"], false);
    assert_eq!(g["versions"][0]["approval"], "pending");
    // Editors write the card; only admins require approval and review.
    let res = app.send(Method::PATCH, model, Some(&team.editor), Some(json!({ "card": "## Intended use\nScreening support." }))).await;
    assert_eq!(res.json::<Value>().await.unwrap()["card"], "## Intended use\nScreening support.");
    expect_error(app.send(Method::PATCH, model, Some(&team.viewer), Some(json!({ "card": "x" }))).await, StatusCode::FORBIDDEN, "forbidden").await;
    expect_error(app.send(Method::PATCH, model, Some(&team.editor), Some(json!({ "require_approval": true }))).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.send(Method::PATCH, model, Some(&team.admin), Some(json!({ "require_approval": true }))).await.status(), 200);
    let review = |v: i32| format!("{model}/versions/{v}:review");
    expect_error(app.send(Method::POST, &review(1), Some(&team.editor), Some(json!({ "decision": "approved" }))).await, StatusCode::FORBIDDEN, "forbidden").await;
    expect_error(app.send(Method::POST, &review(1), Some(&team.admin), Some(json!({ "decision": "maybe" }))).await, StatusCode::BAD_REQUEST, "bad_request").await;
    expect_error(app.send(Method::POST, &review(9), Some(&team.admin), Some(json!({ "decision": "approved" }))).await, StatusCode::NOT_FOUND, "not_found").await;

    assert_eq!(app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.editor), Some(json!({ "name": "cancer" }))).await.status(), 201);
    let deploy = "/v1/projects/churn/endpoints/cancer:deploy";
    let msg = expect_error(app.send(Method::POST, deploy, Some(&team.editor), Some(json!({ "model": "cancer", "version": 1 }))).await, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(msg.contains("version 1 of model 'cancer' is pending"), "{msg}");
    let res = app.send(Method::POST, &review(1), Some(&team.admin), Some(json!({ "decision": "approved", "comment": "checked on the holdout" }))).await;
    let g: Value = res.json().await.unwrap();
    let v1 = g["versions"].as_array().unwrap().iter().find(|v| v["version"] == 1).unwrap().clone();
    assert_eq!((v1["approval"].as_str(), v1["comment"].as_str(), v1["reviewed_by"].as_str()), (Some("approved"), Some("checked on the holdout"), Some("admin@example.org")));
    app.send(Method::POST, &review(2), Some(&team.admin), Some(json!({ "decision": "rejected", "comment": "leaks the target" }))).await;
    // An approved version deploys, also through an alias; the alias cannot move to the rejected one.
    let alias = |v: &str| json!({ "name": "churn.cancer", "alias": "champion", "version": v });
    assert_eq!(app.send(Method::POST, "/api/2.0/mlflow/registered-models/alias", Some(&team.editor), Some(alias("1"))).await.status(), 200);
    let res = app.send(Method::POST, deploy, Some(&team.editor), Some(json!({ "model": "cancer", "alias": "champion" }))).await;
    assert_eq!(res.status(), 200);
    let res = app.send(Method::POST, "/api/2.0/mlflow/registered-models/alias", Some(&team.editor), Some(alias("2"))).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("version 2 of model 'cancer' is rejected"));
    let g: Value = app.get(model, Some(&team.viewer)).await.json().await.unwrap();
    let v1 = g["versions"].as_array().unwrap().iter().find(|v| v["version"] == 1).unwrap().clone();
    assert_eq!(v1["endpoints"], json!(["churn/cancer"]), "lineage: the version is served there");
}

const IRIS_ONNX: &[u8] = include_bytes!("../../ml/tests/fixtures/iris_logistic.onnx");
const IRIS_ZIPMAP_ONNX: &[u8] = include_bytes!("../../ml/tests/fixtures/iris_logistic_zipmap.onnx");
const UPLOAD: &str = "/v1/projects/churn/models/iris/versions";

async fn upload_onnx(app: &TestApp, token: &str, query: &str, body: &[u8]) -> reqwest::Response {
    app.http.post(app.at(&format!("{UPLOAD}{query}"))).bearer_auth(token).header("Content-Type", "application/octet-stream").body(body.to_vec()).send().await.unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn an_uploaded_onnx_file_becomes_a_version_that_is_served() {
    let app = spawn().await;
    let team = app.team().await;
    let names = "?feature_names=sepal_length,sepal_width,petal_length,petal_width&description=uploaded&filename=iris.onnx";

    // Only editors upload; outsiders do not learn the project exists.
    expect_error(upload_onnx(&app, &team.viewer, names, IRIS_ONNX).await, StatusCode::FORBIDDEN, "forbidden").await;
    expect_error(upload_onnx(&app, &team.outsider, names, IRIS_ONNX).await, StatusCode::NOT_FOUND, "not_found").await;

    // Bad files and settings are refused, naming the problem, and leave nothing behind.
    let blobs_before = count(&app, "SELECT count(*) FROM blobs").await;
    let cases: [(&str, &[u8], &str); 8] = [
        (names, b"", "empty"),
        (names, b"not a model at all, just text", "not an ONNX model"),
        (names, &IRIS_ONNX[..IRIS_ONNX.len() / 2], ""),
        ("?feature_names=a,b,c", IRIS_ONNX, "names 3 features, but the model takes 4"),
        ("?feature_names=a,b,a,c", IRIS_ONNX, "'a' is named twice"),
        ("?feature_names=a,,b,c", IRIS_ONNX, "name 2 is empty"),
        ("", IRIS_ZIPMAP_ONNX, "without ZipMap"),
        ("?baseline_dataset=flowers&baseline_version=1", IRIS_ONNX, "no dataset 'flowers'"),
    ];
    for (query, body, says) in cases {
        let message = expect_error(upload_onnx(&app, &team.editor, query, body).await, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(message.contains(says), "{query}: {message}");
    }
    let res = upload_onnx(&app, &team.editor, "?baseline_dataset=flowers", IRIS_ONNX).await;
    assert_eq!(res.status(), 400);
    let res = upload_onnx(&app, &team.editor, "?unknown=1", IRIS_ONNX).await;
    assert_eq!(res.status(), 400);
    assert_eq!(count(&app, "SELECT count(*) FROM registered_models").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM logged_models").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM blobs").await, blobs_before);

    // A good file: a new model's version 1, its signature read from the graph.
    let res = upload_onnx(&app, &team.editor, names, IRIS_ONNX).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["version"], "1");
    assert_eq!(v["description"], "uploaded");
    assert!(v["source"].as_str().unwrap().starts_with("models:/m-"), "{v}");
    let res = app.get("/api/2.0/mlflow/registered-models/get?name=churn.iris", Some(&team.viewer)).await;
    assert_eq!(res.status(), 200);
    let logged = v["model_id"].as_str().unwrap();
    let res = app.get(&format!("/api/2.0/mlflow/logged-models/{logged}"), Some(&team.viewer)).await;
    let lm: Value = res.json().await.unwrap();
    assert_eq!(lm["model"]["info"]["status"], "LOGGED_MODEL_READY", "{lm}");
    let res = app.get(&format!("/api/2.0/mlflow-artifacts/artifacts/{}/models/{logged}/artifacts/signature.json", lm["model"]["info"]["experiment_id"].as_str().unwrap()), Some(&team.viewer)).await;
    let signature: Value = res.json().await.unwrap();
    assert_eq!(signature["inputs"][0]["shape"], json!([-1, 4]));
    assert_eq!(signature["source"], "iris.onnx");

    // Deployed and asked: named features, ONNX Runtime's answer.
    assert_eq!(app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.editor), Some(json!({ "name": "flowers" }))).await.status(), 201);
    let res = app.send(Method::POST, "/v1/projects/churn/endpoints/flowers:deploy", Some(&team.editor), Some(json!({ "model": "iris", "version": 1 }))).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let setosa = json!({ "sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2 });
    let virginica = json!([6.7, 3.0, 5.2, 2.3]);
    let answer = predict(&app, &team.editor, "/v1/projects/churn/endpoints/flowers:predict", vec![setosa, virginica]).await;
    let p = &answer["predictions"];
    assert_eq!(p[0]["classes"], json!(["0", "1", "2"]));
    assert_eq!(p[0]["label"], "0");
    assert_eq!(p[1]["label"], "2");
    for row in p.as_array().unwrap() {
        let sum: f64 = row["scores"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-5, "{row}");
    }
    let res = app.send(Method::POST, "/v1/projects/churn/endpoints/flowers:predict", Some(&team.editor), Some(json!({ "instances": [{ "sepal_length": 5.1 }] }))).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("sepal_width"));

    // The next upload is version 2 of the same model.
    let res = upload_onnx(&app, &team.editor, names, IRIS_ONNX).await;
    assert_eq!(res.json::<Value>().await.unwrap()["version"], "2");
}
