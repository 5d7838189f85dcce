mod common;

use std::io::Write;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const CSV: &str = include_str!("../../ml/tests/fixtures/customers.csv");
async fn upload(app: &TestApp, token: &str, dataset: &str, body: Vec<u8>, ctype: &str) -> reqwest::Response {
    upload_version(app, token, dataset, "customers.csv", body, ctype).await
}

const EXPECTED: &str = include_str!("../../ml/tests/fixtures/customers.expected.json");




#[tokio::test]
async fn upload_profile_preview_and_download() {
    let app = spawn().await;
    let team = app.team().await;
    let res = app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "customers", "description": "CRM export" }))).await;
    assert_eq!(res.status(), 201);
    expect_error(app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.viewer), Some(json!({ "name": "other" }))).await, StatusCode::FORBIDDEN, "forbidden").await;
    expect_error(app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "customers" }))).await, StatusCode::CONFLICT, "conflict").await;
    expect_error(app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "Bad Name" }))).await, StatusCode::BAD_REQUEST, "bad_request").await;

    let res = upload(&app, &team.editor, "customers", CSV.as_bytes().to_vec(), "text/csv").await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["status"], "profiling");
    assert_eq!(v["row_count"], 250);
    assert_eq!(v["filename"], "customers.csv");

    run_jobs(&app).await;
    let detail: Value = app.get("/v1/projects/churn/datasets/customers/versions/1", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(detail["status"], "ready", "{detail}");
    let types: Vec<&str> = detail["schema"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["integer", "float", "float", "string", "boolean"]);
    let expected: Value = serde_json::from_str(EXPECTED).unwrap();
    let age = &detail["statistics"][0];
    assert_eq!(age["name"], "age");
    assert!((age["mean"].as_f64().unwrap() - expected["columns"]["age"]["mean"].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(age["histogram"]["counts"], expected["columns"]["age"]["histogram_counts"]);
    let job_id = detail["profile_job_id"].as_i64().unwrap();
    let job: Value = app.get(&format!("/v1/jobs/{job_id}"), Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["progress"], 1.0);

    // The same content again: a new version, one stored blob.
    let res = upload(&app, &team.editor, "customers", CSV.as_bytes().to_vec(), "text/csv").await;
    let v2: Value = res.json().await.unwrap();
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["sha256"], v["sha256"]);
    // Gzip, by magic bytes.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(CSV.as_bytes()).unwrap();
    let res = upload(&app, &team.editor, "customers", gz.finish().unwrap(), "text/csv").await;
    let v3: Value = res.json().await.unwrap();
    assert_eq!((v3["version"].as_i64(), v3["compression"].as_str(), v3["row_count"].as_i64()), (Some(3), Some("gzip"), Some(250)));
    run_jobs(&app).await;
    let d3: Value = app.get("/v1/projects/churn/datasets/customers/versions/3", Some(&team.viewer)).await.json().await.unwrap();
    // The same statistics (v3 also holds counts on v2's bins, for validation).
    let mut s3 = d3["statistics"].clone();
    for c in s3.as_array_mut().unwrap() {
        c.as_object_mut().unwrap().remove("reference");
    }
    assert_eq!(s3, detail["statistics"]);
    let blobs: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs").fetch_one(&app.db).await.unwrap();
    assert_eq!(blobs, 2);

    let ds: Value = app.get("/v1/projects/churn/datasets/customers", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(ds["versions"].as_array().unwrap().len(), 3);
    assert_eq!(ds["latest_version"], 3);
    expect_error(app.get("/v1/projects/churn/datasets/customers/versions/3/anomalies", Some(&team.outsider)).await, StatusCode::NOT_FOUND, "not_found").await;

    let p: Value = app.get("/v1/projects/churn/datasets/customers/versions/3/preview?offset=10&limit=5", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(p["columns"], json!(["age", "income", "score", "plan", "churned"]));
    assert_eq!(p["rows"].as_array().unwrap().len(), 5);
    let line11: Vec<&str> = CSV.lines().nth(11).unwrap().split(',').collect();
    assert_eq!(p["rows"][0], json!(line11));
    expect_error(app.get("/v1/projects/churn/datasets/customers/versions/1/preview?limit=0", Some(&team.viewer)).await, StatusCode::BAD_REQUEST, "bad_request").await;

    let res = app.get("/v1/projects/churn/datasets/customers/versions/1/download", Some(&team.viewer)).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("customers.csv"));
    assert_eq!(res.text().await.unwrap(), CSV);

    // Validation: v1 has nothing to compare with; v3 (same content as v2) has no anomalies.
    let a1: Value = app.get("/v1/projects/churn/datasets/customers/versions/1/anomalies", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(a1["compared_to"], Value::Null);
    let a3: Value = app.get("/v1/projects/churn/datasets/customers/versions/3/anomalies", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(a3["compared_to"], 2);
    assert_eq!(a3["anomalies"], json!([]), "{a3}");
    assert!(a3["distances"].as_array().unwrap().iter().all(|d| d["value"].as_f64().unwrap() < 1e-12));
    // A version with a dropped column, a new one, shifted ages and a new plan.
    let changed: String = std::iter::once("age,income,score,region,churned".to_string())
        .chain(CSV.lines().skip(1).map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let age: i64 = f[0].parse().unwrap();
            format!("{},{},{},north,{}", age + 40, f[1], f[2], f[4])
        }))
        .collect::<Vec<_>>()
        .join("\n");
    let res = upload(&app, &team.editor, "customers", changed.into_bytes(), "text/csv").await;
    assert_eq!(res.status(), 201);
    let pending = app.get("/v1/projects/churn/datasets/customers/versions/4/anomalies", Some(&team.viewer)).await;
    expect_error(pending, StatusCode::CONFLICT, "conflict").await;
    run_jobs(&app).await;
    let a4: Value = app.get("/v1/projects/churn/datasets/customers/versions/4/anomalies", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(a4["compared_to"], 3);
    let found: Vec<(String, String, String)> = a4["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["column"].as_str().unwrap().into(), a["kind"].as_str().unwrap().into(), a["severity"].as_str().unwrap().into()))
        .collect();
    assert!(found.contains(&("plan".into(), "missing_column".into(), "error".into())), "{found:?}");
    assert!(found.contains(&("region".into(), "new_column".into(), "warning".into())), "{found:?}");
    assert!(found.contains(&("age".into(), "out_of_range".into(), "warning".into())), "{found:?}");
    assert!(found.contains(&("age".into(), "distribution".into(), "warning".into())), "{found:?}");
    assert!(!found.iter().any(|(c, _, _)| c == "income" || c == "score"), "unchanged columns: {found:?}");

    // Outsiders see nothing; unknown versions are 404; bad version numbers 400.
    expect_error(app.get("/v1/projects/churn/datasets/customers/versions/1", Some(&team.outsider)).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(app.get("/v1/projects/churn/datasets/customers/versions/9", Some(&team.viewer)).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(app.get("/v1/projects/churn/datasets/customers/versions/zero", Some(&team.viewer)).await, StatusCode::BAD_REQUEST, "bad_request").await;
    expect_error(app.get("/v1/projects/churn/datasets/nope", Some(&team.viewer)).await, StatusCode::NOT_FOUND, "not_found").await;

    // Deleting: v1 and v2 share content, so the file stays until both are gone.
    let blob_files = || {
        let base = std::env::temp_dir().join(app.db.connect_options().get_database().unwrap_or_default());
        count_files(&base.join("blobs"))
    };
    let before = blob_files();
    expect_error(app.send(Method::DELETE, "/v1/projects/churn/datasets/customers/versions/1", Some(&team.viewer), None).await, StatusCode::FORBIDDEN, "forbidden").await;
    let d: Value = app.send(Method::DELETE, "/v1/projects/churn/datasets/customers/versions/1", Some(&team.editor), None).await.json().await.unwrap();
    assert_eq!(d["blobs_removed"], 0);
    assert_eq!(blob_files(), before);
    let d: Value = app.send(Method::DELETE, "/v1/projects/churn/datasets/customers/versions/2", Some(&team.editor), None).await.json().await.unwrap();
    assert_eq!(d["blobs_removed"], 1, "the last version holding the file frees it");
    assert_eq!(blob_files(), before - 1);
    expect_error(app.send(Method::DELETE, "/v1/projects/churn/datasets/customers/versions/2", Some(&team.editor), None).await, StatusCode::NOT_FOUND, "not_found").await;
    // v3 was validated against the deleted v2: nothing to compare with any more.
    let a3: Value = app.get("/v1/projects/churn/datasets/customers/versions/3/anomalies", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(a3["compared_to"], Value::Null);
    let d: Value = app.send(Method::DELETE, "/v1/projects/churn/datasets/customers", Some(&team.editor), None).await.json().await.unwrap();
    assert_eq!(d["blobs_removed"], 2);
    assert_eq!(blob_files(), 0);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
    expect_error(app.get("/v1/projects/churn/datasets/customers", Some(&team.viewer)).await, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn bad_files_are_refused_and_leave_nothing_behind() {
    let app = spawn().await;
    let team = app.team().await;
    app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "raw" }))).await;
    let cases: Vec<(&str, Vec<u8>, &str, StatusCode, &str)> = vec![
        ("ragged", b"a,b,c\n1,2,3\n4,5\n".to_vec(), "text/csv", StatusCode::BAD_REQUEST, "line 3: expected 3 fields"),
        ("broken quoting", b"a,b\n\"1,2\n3,4\n".to_vec(), "text/csv", StatusCode::BAD_REQUEST, "expected 2 fields"),
        ("empty", Vec::new(), "text/csv", StatusCode::BAD_REQUEST, "empty"),
        ("header only", b"a,b,c\n".to_vec(), "text/csv", StatusCode::BAD_REQUEST, "no rows"),
        ("duplicate columns", b"a,b,a\n1,2,3\n".to_vec(), "text/csv", StatusCode::BAD_REQUEST, "duplicate column name 'a'"),
        ("unnamed column", b"a,,c\n1,2,3\n".to_vec(), "text/csv", StatusCode::BAD_REQUEST, "column 2: the column has no name"),
        ("invalid utf-8", b"a,b\n1,\xff\xfe\n".to_vec(), "text/csv", StatusCode::BAD_REQUEST, "line 2, column 2: invalid UTF-8"),
        ("corrupt gzip", vec![0x1f, 0x8b, 8, 0, 1, 2, 3], "text/csv", StatusCode::BAD_REQUEST, "could not be read"),
        ("parquet type", b"PAR1....".to_vec(), "application/vnd.apache.parquet", StatusCode::BAD_REQUEST, "not a readable Parquet file"),
        ("parquet magic", b"PAR1\x00\x00".to_vec(), "text/csv", StatusCode::BAD_REQUEST, "not a readable Parquet file"),
        ("wrong type", b"{}".to_vec(), "application/json", StatusCode::UNSUPPORTED_MEDIA_TYPE, "application/json"),
        ("too large", vec![b'a'; (1 << 20) + 10], "text/csv", StatusCode::PAYLOAD_TOO_LARGE, "limit"),
    ];
    for (what, body, ctype, status, needle) in cases {
        let res = upload(&app, &team.editor, "raw", body, ctype).await;
        assert_eq!(res.status(), status, "{what}");
        let msg = res.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains(needle), "{what}: {msg}");
    }
    expect_error(upload(&app, &team.viewer, "raw", CSV.as_bytes().to_vec(), "text/csv").await, StatusCode::FORBIDDEN, "forbidden").await;
    expect_error(upload(&app, &team.outsider, "raw", CSV.as_bytes().to_vec(), "text/csv").await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(upload(&app, &team.editor, "nope", CSV.as_bytes().to_vec(), "text/csv").await, StatusCode::NOT_FOUND, "not_found").await;

    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM dataset_versions").fetch_one(&app.db).await.unwrap();
    let blobs: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs").fetch_one(&app.db).await.unwrap();
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(&app.db).await.unwrap();
    assert_eq!((versions, blobs, jobs), (0, 0, 0), "no version, blob or job is left behind");
    let base = std::env::temp_dir().join(
        sqlx::query_scalar::<_, String>("SELECT current_database()").fetch_one(&app.db).await.unwrap(),
    );
    assert_eq!(count_files(&base.join("blobs")), 0, "no orphan blob in storage");
    assert_eq!(count_files(&base.join("tmp")), 0, "no temporary file left");
}

#[tokio::test]
async fn splits_by_fraction_and_by_column() {
    let app = spawn().await;
    let team = app.team().await;
    app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "customers" }))).await;
    upload(&app, &team.editor, "customers", CSV.as_bytes().to_vec(), "text/csv").await;
    let path = "/v1/projects/churn/datasets/customers/versions/1/split";
    expect_error(app.get(path, Some(&team.viewer)).await, StatusCode::NOT_FOUND, "not_found").await;
    let spec = json!({ "method": "random", "fractions": { "train": 0.8, "validation": 0.1, "test": 0.1 }, "seed": 42 });
    expect_error(app.send(Method::PUT, path, Some(&team.viewer), Some(spec.clone())).await, StatusCode::FORBIDDEN, "forbidden").await;
    let a: Value = app.send(Method::PUT, path, Some(&team.editor), Some(spec.clone())).await.json().await.unwrap();
    let counts = |v: &Value| ["train", "validation", "test"].map(|k| v["counts"][k].as_u64().unwrap());
    let c = counts(&a);
    assert_eq!(c.iter().sum::<u64>(), 250);
    assert!((170..=230).contains(&c[0]), "{c:?}");
    // Same seed, same split; another seed, another.
    let b: Value = app.send(Method::PUT, path, Some(&team.editor), Some(spec)).await.json().await.unwrap();
    assert_eq!(counts(&b), c);
    let other = json!({ "method": "random", "fractions": { "train": 0.8, "validation": 0.1, "test": 0.1 }, "seed": 7 });
    let o: Value = app.send(Method::PUT, path, Some(&team.editor), Some(other)).await.json().await.unwrap();
    assert_eq!(counts(&o).iter().sum::<u64>(), 250);
    let got: Value = app.get(path, Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(got["seed"], 7);

    for (spec, needle) in [
        (json!({ "method": "random", "fractions": { "train": 0.8, "test": 0.3 } }), "sum to 1"),
        (json!({ "method": "random", "fractions": { "train": 0.5, "holdout": 0.5 } }), "holdout"),
        (json!({ "method": "random", "fractions": { "train": 1.5, "test": -0.5 } }), "between 0 and 1"),
        (json!({ "method": "column", "column": "nope" }), "'nope' is not a column"),
        (json!({ "method": "column", "column": "plan" }), "line 2, column 'plan'"),
        (json!({ "method": "stratified" }), "stratified"),
    ] {
        let m = expect_error(app.send(Method::PUT, path, Some(&team.editor), Some(spec)).await, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(m.contains(needle), "{m}");
    }

    // A predefined split column.
    let labelled: String = std::iter::once("x,split".to_string())
        .chain((0..30).map(|i| format!("{i},{}", ["train", "TRAIN", "validation", "test", "Train"][i % 5])))
        .collect::<Vec<_>>()
        .join("\n");
    app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "labelled" }))).await;
    assert_eq!(upload(&app, &team.editor, "labelled", labelled.into_bytes(), "text/csv").await.status(), 201);
    let s: Value = app
        .send(Method::PUT, "/v1/projects/churn/datasets/labelled/versions/1/split", Some(&team.editor), Some(json!({ "method": "column", "column": "split" })))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(counts(&s), [18, 6, 6]);
}

#[tokio::test]
async fn an_interrupted_upload_leaves_nothing() {
    let app = spawn().await;
    let team = app.team().await;
    app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "raw" }))).await;
    // The client sends half a file, then its connection breaks.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(CSV.as_bytes()[..3000].to_vec()),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cable pulled")),
    ];
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let res = app
        .http
        .post(app.at("/v1/projects/churn/datasets/raw/versions"))
        .bearer_auth(&team.editor)
        .header("Content-Type", "text/csv")
        .body(body)
        .send()
        .await;
    assert!(res.is_err() || res.unwrap().status().is_client_error());
    let base = std::env::temp_dir().join(app.db.connect_options().get_database().unwrap_or_default());
    let mut settled = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if count_files(&base.join("tmp")) == 0 {
            settled = true;
            break;
        }
    }
    assert!(settled, "the partial temporary file is removed");
    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM dataset_versions").fetch_one(&app.db).await.unwrap();
    assert_eq!(versions, 0);
    assert_eq!(count_files(&base.join("blobs")), 0);
}

#[tokio::test]
async fn archived_datasets_are_hidden_and_closed_to_uploads() {
    let app = spawn().await;
    let team = app.team().await;
    app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "old" }))).await;
    upload(&app, &team.editor, "old", CSV.as_bytes().to_vec(), "text/csv").await;
    expect_error(app.send(Method::POST, "/v1/projects/churn/datasets/old:archive", Some(&team.viewer), None).await, StatusCode::FORBIDDEN, "forbidden").await;
    let d: Value = app.send(Method::POST, "/v1/projects/churn/datasets/old:archive", Some(&team.editor), None).await.json().await.unwrap();
    assert!(d["archived_at"].is_string());
    let listed: Value = app.get("/v1/projects/churn/datasets", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(listed, json!([]));
    let all: Value = app.get("/v1/projects/churn/datasets?archived=true", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    // Still readable; closed to uploads.
    assert_eq!(app.get("/v1/projects/churn/datasets/old/versions/1", Some(&team.viewer)).await.status(), 200);
    let m = expect_error(upload(&app, &team.editor, "old", CSV.as_bytes().to_vec(), "text/csv").await, StatusCode::CONFLICT, "conflict").await;
    assert!(m.contains("archived"), "{m}");
    expect_error(app.send(Method::POST, "/v1/projects/churn/datasets/old:explode", Some(&team.editor), None).await, StatusCode::NOT_FOUND, "not_found").await;
    let d: Value = app.send(Method::POST, "/v1/projects/churn/datasets/old:unarchive", Some(&team.editor), None).await.json().await.unwrap();
    assert!(d["archived_at"].is_null());
    assert_eq!(upload(&app, &team.editor, "old", CSV.as_bytes().to_vec(), "text/csv").await.status(), 201);
}
