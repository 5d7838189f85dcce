//! Custom training jobs: a real Python script (scikit-learn, skl2onnx, mlflow) run by a worker
//! against this Trellis, and the job's limits: exit codes, wall-clock limit, cancellation.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const CANCER: &str = include_str!("../../ml/tests/fixtures/breast_cancer.csv");

fn python() -> String {
    std::env::var("TRELLIS_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `train.py` and its `helpers` package as a .tar.gz.
fn training_archive() -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/custom");
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for f in ["train.py", "helpers/__init__.py", "helpers/data.py"] {
        b.append_path_with_name(dir.join(f), f).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

async fn submit(app: &TestApp, token: &str, spec: Value, filename: &str, code: Vec<u8>) -> reqwest::Response {
    let form = Form::new().text("spec", spec.to_string()).part("code", Part::bytes(code).file_name(filename.to_string()));
    app.http.post(app.at("/v1/projects/churn/custom-jobs")).bearer_auth(token).multipart(form).send().await.unwrap()
}

async fn job(app: &TestApp, token: &str, id: i64) -> Value {
    app.get(&format!("/v1/jobs/{id}"), Some(token)).await.json().await.unwrap()
}

async fn log_lines(app: &TestApp, token: &str, id: i64) -> Vec<(String, String)> {
    let lines: Vec<Value> = app.get(&format!("/v1/jobs/{id}/logs?limit=10000"), Some(token)).await.json().await.unwrap();
    lines.iter().map(|l| (l["stream"].as_str().unwrap().to_string(), l["line"].as_str().unwrap().to_string())).collect()
}

fn tag(run: &Value, key: &str) -> Option<String> {
    run["data"]["tags"].as_array().unwrap().iter().find(|t| t["key"] == key).map(|t| t["value"].as_str().unwrap().to_string())
}

async fn counts(app: &TestApp) -> (i64, i64, i64) {
    let q = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).fetch_one(&app.db);
    (q("SELECT count(*) FROM runs").await.unwrap(), q("SELECT count(*) FROM jobs WHERE kind = 'training.custom'").await.unwrap(), q("SELECT count(*) FROM blobs").await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_script_trains_logs_to_its_run_and_leaves_an_onnx_model() {
    let app = spawn().await;
    let team = app.team().await;
    let res = app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "cancer" }))).await;
    assert_eq!(res.status(), 201);
    assert_eq!(upload_version(&app, &team.editor, "cancer", "cancer.csv", CANCER.as_bytes().to_vec(), "text/csv").await.status(), 201);
    run_jobs(&app).await;

    let spec = json!({ "experiment": "custom", "command": format!("{} train.py --C 0.5", python()), "dataset": "cancer", "version": 1,
                       "env": { "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0" } });
    // Only editors start code on the workers.
    expect_error(submit(&app, &team.viewer, spec.clone(), "code.tar.gz", training_archive()).await, StatusCode::FORBIDDEN, "forbidden").await;
    expect_error(submit(&app, &team.outsider, spec.clone(), "code.tar.gz", training_archive()).await, StatusCode::NOT_FOUND, "not_found").await;
    let res = submit(&app, &team.editor, spec, "code.tar.gz", training_archive()).await;
    assert_eq!(res.status(), 201);
    let submitted: Value = res.json().await.unwrap();
    let (run_id, job_id) = (submitted["run_id"].as_str().unwrap().to_string(), submitted["job_id"].as_i64().unwrap());
    let scheduled = get_run(&app, &team.viewer, &run_id).await;
    assert_eq!(scheduled["info"]["status"], "SCHEDULED");
    assert_eq!(tag(&scheduled, "mlflow.runName").as_deref(), Some("custom-train.py"));
    assert_eq!(scheduled["inputs"]["dataset_inputs"][0]["dataset"]["name"], "cancer@v1");

    run_jobs(&app).await;
    let lines = log_lines(&app, &team.viewer, job_id).await;
    let done = job(&app, &team.viewer, job_id).await;
    assert_eq!(done["state"], "succeeded", "{done}\n{lines:#?}");
    // The process's output is in the job's log, stream by stream.
    // The script read the splits Trellis wrote (569 rows, 80/10/10 by row).
    let wrote = lines.iter().find(|(s, l)| s == "info" && l.starts_with("wrote cancer@v1")).expect("the data line").1.clone();
    let rows: Vec<u64> = wrote.split(".csv ").skip(1).map(|p| p.split(' ').next().unwrap().parse().unwrap()).collect();
    assert_eq!(rows.iter().sum::<u64>(), 569, "{wrote}");
    let expected = format!("training on {} rows, validating on {}", rows[0], rows[1]);
    assert!(lines.contains(&("stdout".to_string(), expected)), "{lines:#?}");
    assert!(lines.iter().any(|(s, l)| s == "stdout" && l.starts_with("validation accuracy 0.9")), "{lines:#?}");
    // The worker's own environment (database URL, storage settings) does not reach the code.
    assert!(lines.contains(&("stderr".to_string(), "secret visible: False".to_string())), "{lines:#?}");

    let finished = get_run(&app, &team.viewer, &run_id).await;
    assert_eq!(finished["info"]["status"], "FINISHED");
    assert_eq!(tag(&finished, "trellis.exit_code").as_deref(), Some("0"));
    assert_eq!(tag(&finished, "trellis.model_format").as_deref(), Some("onnx"));
    let params = finished["data"]["params"].as_array().unwrap();
    assert_eq!(params, &vec![json!({ "key": "C", "value": "0.5" })]);
    let history: Value = app
        .get(&format!("/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=validation_accuracy"), Some(&team.viewer))
        .await
        .json()
        .await
        .unwrap();
    let points = history["metrics"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    assert!(points[2]["value"].as_f64().unwrap() > 0.9, "{points:?}");

    // The code, the outputs and the model are the run's artifacts.
    let root = format!("{}/{run_id}/artifacts", finished["info"]["experiment_id"].as_str().unwrap());
    let list = |dir: &'static str| {
        let (app, root, viewer) = (&app, root.clone(), team.viewer.clone());
        async move {
            let listed: Value = app.get(&format!("/api/2.0/mlflow-artifacts/artifacts?path={root}/{dir}"), Some(&viewer)).await.json().await.unwrap();
            listed["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(list("code").await, vec!["code.tar.gz"]);
    assert_eq!(list("output").await, vec!["expected.json", "model.onnx", "report.txt"]);
    assert_eq!(list("model").await, vec!["baseline.json", "model.onnx", "signature.json"]);
    let signature: Value = app
        .get(&format!("/api/2.0/mlflow-artifacts/artifacts/{root}/model/signature.json"), Some(&team.viewer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(signature["format"], "onnx");
    assert!(signature["producer"].as_str().unwrap().starts_with("skl2onnx"), "{signature}");
    assert_eq!(signature["inputs"], json!([{ "name": "input", "type": "tensor", "dtype": "float32", "shape": [-1, 30] }]));
    let outputs: Vec<(&str, &str)> =
        signature["outputs"].as_array().unwrap().iter().map(|o| (o["name"].as_str().unwrap(), o["dtype"].as_str().unwrap())).collect();
    assert_eq!(outputs, vec![("label", "int64"), ("probabilities", "float32")]);
    assert_eq!(signature["outputs"][1]["shape"], json!([-1, 2]));
    let model = app.get(&format!("/api/2.0/mlflow-artifacts/artifacts/{root}/model/model.onnx"), Some(&team.viewer)).await.bytes().await.unwrap();
    let output = app.get(&format!("/api/2.0/mlflow-artifacts/artifacts/{root}/output/model.onnx"), Some(&team.viewer)).await.bytes().await.unwrap();
    assert!(model.len() > 100);
    assert_eq!(model, output);

    // The ONNX model is registered, deployed and served on ONNX Runtime: it answers as
    // scikit-learn did, by the feature names the script tagged.
    let res = app.send(Method::POST, "/api/2.0/mlflow/registered-models/create", Some(&team.editor), Some(json!({ "name": "churn.sk-cancer" }))).await;
    assert_eq!(res.status(), 200);
    let res = app
        .send(Method::POST, "/api/2.0/mlflow/model-versions/create", Some(&team.editor), Some(json!({ "name": "churn.sk-cancer", "source": format!("runs:/{run_id}/model"), "run_id": run_id })))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.send(Method::POST, "/v1/projects/churn/endpoints", Some(&team.editor), Some(json!({ "name": "sk" }))).await.status(), 201);
    let deploy = "/v1/projects/churn/endpoints/sk:deploy";
    let res = app.send(Method::POST, deploy, Some(&team.editor), Some(json!({ "model": "sk-cancer", "version": 1, "explanation": { "method": "tree_shap" } }))).await;
    assert_eq!(res.status(), 400, "an ONNX model is explained by sampled Shapley only");
    let res = app.send(Method::POST, deploy, Some(&team.editor), Some(json!({ "model": "sk-cancer", "version": 1 }))).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let expected: Value = app.get(&format!("/api/2.0/mlflow-artifacts/artifacts/{root}/output/expected.json"), Some(&team.viewer)).await.json().await.unwrap();
    let res = app.send(Method::POST, "/v1/projects/churn/endpoints/sk:predict", Some(&team.editor), Some(json!({ "instances": expected["rows"] }))).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let served: Value = res.json().await.unwrap();
    for (p, want) in served["predictions"].as_array().unwrap().iter().zip(expected["probabilities"].as_array().unwrap()) {
        assert_eq!(p["classes"], json!(["0", "1"]));
        for k in 0..2 {
            let (got, want) = (p["scores"][k].as_f64().unwrap(), want[k].as_f64().unwrap());
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }
    let res = app.send(Method::POST, "/v1/projects/churn/endpoints/sk:explain", Some(&team.editor), Some(json!({ "instances": [expected["rows"][0]] }))).await;
    assert_eq!(res.status(), 200);
    let explained: Value = res.json().await.unwrap();
    let a = &explained["explanations"][0]["attributions"][0];
    let sum: f64 = a["featureAttributions"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - (a["instanceOutputValue"].as_f64().unwrap() - a["baselineOutputValue"].as_f64().unwrap())).abs() < 1e-9);
    let msg = expect_error(
        app.send(Method::POST, "/v1/projects/churn/endpoints/sk:predict", Some(&team.editor), Some(json!({ "instances": [{ "mean_radius": 1 }] }))).await,
        reqwest::StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(msg.contains("feature 'mean_texture': missing"), "{msg}");

    // The job's token worked for the job only: it is revoked now, and not among the user's tokens.
    let revoked: Vec<bool> = sqlx::query_scalar("SELECT revoked_at IS NOT NULL FROM api_tokens WHERE job_id = $1").bind(job_id).fetch_all(&app.db).await.unwrap();
    assert_eq!(revoked, vec![true]);
    let mine: Vec<Value> = app.get("/v1/tokens", Some(&team.editor)).await.json().await.unwrap();
    assert!(mine.iter().all(|t| !t["name"].as_str().unwrap().starts_with("job ")), "{mine:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_fails_its_job_and_keeps_its_log() {
    let app = spawn().await;
    let team = app.team().await;
    let script = b"import sys\nprint('loading')\nprint('bad things', file=sys.stderr)\nsys.exit(3)\n".to_vec();
    let spec = json!({ "experiment": "custom", "command": format!("{} fail.py", python()) });
    let res = submit(&app, &team.editor, spec, "fail.py", script).await;
    assert_eq!(res.status(), 201);
    let submitted: Value = res.json().await.unwrap();
    let (run_id, job_id) = (submitted["run_id"].as_str().unwrap().to_string(), submitted["job_id"].as_i64().unwrap());
    run_jobs(&app).await;
    let done = job(&app, &team.viewer, job_id).await;
    assert_eq!(done["state"], "failed");
    assert_eq!(done["error"], "the command exited with code 3");
    let lines = log_lines(&app, &team.viewer, job_id).await;
    assert!(lines.contains(&("stdout".into(), "loading".into())), "{lines:?}");
    assert!(lines.contains(&("stderr".into(), "bad things".into())), "{lines:?}");
    let failed = get_run(&app, &team.viewer, &run_id).await;
    assert_eq!(failed["info"]["status"], "FAILED");
    assert_eq!(tag(&failed, "trellis.exit_code").as_deref(), Some("3"));

    // A command past its wall-clock limit is stopped.
    let spec = json!({ "experiment": "custom", "command": "echo started; sleep 60", "timeout_seconds": 1 });
    let res = submit(&app, &team.editor, spec, "noop.sh", b"true\n".to_vec()).await;
    let job_id = res.json::<Value>().await.unwrap()["job_id"].as_i64().unwrap();
    run_jobs(&app).await;
    let done = job(&app, &team.viewer, job_id).await;
    assert_eq!(done["state"], "failed");
    assert_eq!(done["error"], "the command ran past its wall-clock limit of 1 s and was stopped");
    let lines = log_lines(&app, &team.viewer, job_id).await;
    assert!(lines.contains(&("stdout".into(), "started".into())), "{lines:?}");

    // An ONNX file that is not a model fails the job, naming the file.
    let spec = json!({ "experiment": "custom", "command": "echo not a model > \"$TRELLIS_OUTPUT_DIR/model.onnx\"" });
    let res = submit(&app, &team.editor, spec, "noop.sh", b"true\n".to_vec()).await;
    let job_id = res.json::<Value>().await.unwrap()["job_id"].as_i64().unwrap();
    run_jobs(&app).await;
    let done = job(&app, &team.viewer, job_id).await;
    assert_eq!(done["state"], "failed");
    assert!(done["error"].as_str().unwrap().starts_with("output/model.onnx: not an ONNX model"), "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_job_kills_its_whole_process_group() {
    let app = spawn().await;
    let team = app.team().await;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    // A background process and a foreground one: both must end.
    let spec = json!({ "experiment": "custom", "command": "sleep 300 & echo $! > \"$PIDFILE.tmp\"; echo $$ >> \"$PIDFILE.tmp\"; mv \"$PIDFILE.tmp\" \"$PIDFILE\"; sleep 300",
                       "env": { "PIDFILE": pidfile.display().to_string() } });
    let res = submit(&app, &team.editor, spec, "noop.sh", b"true\n".to_vec()).await;
    assert_eq!(res.status(), 201);
    let submitted: Value = res.json().await.unwrap();
    let (run_id, job_id) = (submitted["run_id"].as_str().unwrap().to_string(), submitted["job_id"].as_i64().unwrap());

    let shutdown = tokio_util::sync::CancellationToken::new();
    let worker = trellis_core::worker::Worker::new(
        app.db.clone(),
        "w1",
        std::sync::Arc::new(trellis_core::worker::Registry::builtin(&app.core)),
        trellis_core::worker::WorkerConfig { lease: Duration::from_secs(3), poll: Duration::from_millis(100) },
    );
    let handle = tokio::spawn(worker.run(shutdown.clone()));
    let pids: Vec<i32> = wait_for(|| std::fs::read_to_string(&pidfile).ok().map(|s| s.lines().map(|l| l.trim().parse().unwrap()).collect())).await;
    assert_eq!(pids.len(), 2);
    let alive = |pid: i32| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    assert!(pids.iter().all(|p| alive(*p)));
    assert_eq!(get_run(&app, &team.viewer, &run_id).await["info"]["status"], "RUNNING");

    expect_error(app.send(Method::POST, &format!("/v1/jobs/{job_id}:cancel"), Some(&team.viewer), None).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.send(Method::POST, &format!("/v1/jobs/{job_id}:cancel"), Some(&team.editor), None).await.status(), 200);
    let _: () = wait_for(|| pids.iter().all(|p| !alive(*p) || zombie(*p)).then_some(())).await;
    let state: String = wait_for_async(&app, job_id).await;
    assert_eq!(state, "cancelled");
    let status: String = wait_for_status(&app, &team.viewer, &run_id).await;
    assert_eq!(status, "KILLED");
    let revoked: bool = sqlx::query_scalar("SELECT bool_and(revoked_at IS NOT NULL) FROM api_tokens WHERE job_id = $1").bind(job_id).fetch_one(&app.db).await.unwrap();
    assert!(revoked);
    shutdown.cancel();
    handle.await.unwrap();
}

/// A process that has exited but not been reaped by its parent.
fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.split(") ").nth(1).is_some_and(|rest| rest.starts_with('Z'))).unwrap_or(true)
}

async fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..600 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the condition did not come true within a minute");
}

async fn wait_for_async(app: &TestApp, job_id: i64) -> String {
    for _ in 0..600 {
        let state: String = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1").bind(job_id).fetch_one(&app.db).await.unwrap();
        if state != "running" {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the job did not end within a minute");
}

async fn wait_for_status(app: &TestApp, token: &str, run_id: &str) -> String {
    for _ in 0..600 {
        let status = get_run(app, token, run_id).await["info"]["status"].as_str().unwrap().to_string();
        if status != "RUNNING" {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the run did not end within a minute");
}

#[tokio::test]
async fn bad_submissions_are_refused_whole() {
    let app = spawn().await;
    let team = app.team().await;
    let before = counts(&app).await;
    let ok = json!({ "experiment": "custom", "command": "python train.py" });
    let cases: Vec<(Value, &str, Vec<u8>, &str)> = vec![
        (json!({ "experiment": "custom", "command": " " }), "train.py", b"print(1)".to_vec(), "command: the command to run is missing"),
        (json!({ "experiment": "custom", "command": "x", "bogus": 1 }), "train.py", b"print(1)".to_vec(), "unknown field `bogus`"),
        (json!({ "experiment": "custom", "command": "x", "env": { "MLFLOW_TRACKING_TOKEN": "t" } }), "train.py", b"print(1)".to_vec(), "MLFLOW_TRACKING_TOKEN is set by Trellis"),
        (json!({ "experiment": "custom", "command": "x", "timeout_seconds": 0 }), "train.py", b"print(1)".to_vec(), "timeout_seconds"),
        (json!({ "experiment": "custom", "command": "x", "dataset": "nope", "version": 1 }), "train.py", b"print(1)".to_vec(), "dataset 'nope' not found"),
        (json!({ "experiment": "custom", "command": "x", "dataset": "nope" }), "train.py", b"print(1)".to_vec(), "give both, or neither"),
        (ok.clone(), "train.py", Vec::new(), "'train.py' is empty"),
        (ok.clone(), "code.zip", b"print(1)".to_vec(), "named like a zip archive"),
        (ok.clone(), "code.tar.gz", evil_archive(), "leaves the archive"),
    ];
    for (spec, filename, code, expected) in cases {
        let res = submit(&app, &team.editor, spec.clone(), filename, code).await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap_or_default().to_string();
        assert!(status == 400 || status == 404, "{spec} {filename}: {status} {body}");
        assert!(message.contains(expected), "{spec} {filename}: {message}");
    }
    // Missing parts, and a body that is not a form.
    let only_spec = Form::new().text("spec", ok.to_string());
    let res = app.http.post(app.at("/v1/projects/churn/custom-jobs")).bearer_auth(&team.editor).multipart(only_spec).send().await.unwrap();
    assert!(expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await.contains("no 'code' file part"));
    let only_code = Form::new().part("code", Part::bytes(b"print(1)".to_vec()).file_name("train.py"));
    let res = app.http.post(app.at("/v1/projects/churn/custom-jobs")).bearer_auth(&team.editor).multipart(only_code).send().await.unwrap();
    assert!(expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await.contains("no 'spec' part"));
    let res = app.send(Method::POST, "/v1/projects/churn/custom-jobs", Some(&team.editor), Some(ok)).await;
    assert!(expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await.contains("multipart/form-data"));
    // Nothing was written: no run, no job, no stored code.
    assert_eq!(counts(&app).await, before);
    assert_eq!(count_files(&app_blob_dir(&app)), 0);
}

/// A .tar.gz whose entry climbs out of the directory it is unpacked into.
fn evil_archive() -> Vec<u8> {
    let mut raw = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    let name = b"../../outside.py";
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    h.set_size(2);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    raw.append(&h, &b"x\n"[..]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn app_blob_dir(app: &TestApp) -> std::path::PathBuf {
    std::env::temp_dir().join(app.db.connect_options().get_database().unwrap_or_default()).join("blobs")
}
