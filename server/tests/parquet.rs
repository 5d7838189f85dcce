//! Parquet datasets over HTTP: upload, profile (checked against the numpy reference values and the
//! same data as CSV), preview, split, download, and refused files.

mod common;


use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, ListArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema};
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const CSV: &str = include_str!("../../ml/tests/fixtures/customers.csv");
const EXPECTED: &str = include_str!("../../ml/tests/fixtures/customers.expected.json");
async fn upload(app: &TestApp, token: &str, dataset: &str, body: Vec<u8>, ctype: &str) -> reqwest::Response {
    upload_version(app, token, dataset, "customers.parquet", body, ctype).await
}

const PARQUET: &str = "application/vnd.apache.parquet";



fn close(a: &Value, b: &Value) -> bool {
    (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() <= 1e-9 * b.as_f64().unwrap().abs().max(1.0)
}

/// Equal JSON, numbers within a relative 1e-9 (a Parquet file is profiled in parallel parts whose
/// moments are merged, so the last bits of a mean may differ from one sequential pass).
fn assert_same_numbers(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0), "{at}: {x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                assert_same_numbers(p, q, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>(), "{at}");
            for (k, p) in x {
                assert_same_numbers(p, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

#[tokio::test]
async fn parquet_versions_are_profiled_previewed_split_and_downloaded() {
    let app = spawn().await;
    let team = app.team().await;
    app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "customers" }))).await;
    let file = customers_parquet();
    expect_error(upload(&app, &team.viewer, "customers", file.clone(), PARQUET).await, StatusCode::FORBIDDEN, "forbidden").await;
    let res = upload(&app, &team.editor, "customers", file.clone(), PARQUET).await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    assert_eq!((v["format"].as_str(), v["row_count"].as_i64(), v["column_count"].as_i64()), (Some("parquet"), Some(250), Some(5)));
    // The same data as CSV, for comparison.
    app.http
        .post(app.at("/v1/projects/churn/datasets/customers/versions?filename=customers.csv"))
        .bearer_auth(&team.editor)
        .header("Content-Type", "text/csv")
        .body(CSV)
        .send()
        .await
        .unwrap();
    run_jobs(&app).await;

    let p: Value = app.get("/v1/projects/churn/datasets/customers/versions/1", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(p["status"], "ready", "{p}");
    let types: Vec<&str> = p["schema"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["integer", "float", "float", "string", "boolean"]);
    // Against the values numpy computed (ml/tests/fixtures/make_customers.py).
    let expected: Value = serde_json::from_str(EXPECTED).unwrap();
    for (i, name) in ["age", "income", "score"].iter().enumerate() {
        let (got, want) = (&p["statistics"][i], &expected["columns"][name]);
        assert_eq!(got["name"], *name);
        assert_eq!((got["count"].as_u64(), got["missing"].as_u64()), (want["count"].as_u64(), want["missing"].as_u64()), "{name}");
        for k in ["mean", "std", "min", "max"] {
            assert!(close(&got[k], &want[k]), "{name}.{k}: {} vs {}", got[k], want[k]);
        }
        let q: Vec<Value> = got["quantiles"].as_array().unwrap().iter().map(|p| p[1].clone()).collect();
        for (a, b) in q.iter().zip(want["quantiles"].as_array().unwrap()) {
            assert!(close(a, b), "{name} quantile {a} vs {b}");
        }
        assert_eq!(got["histogram"]["counts"], want["histogram_counts"], "{name}");
        assert_eq!(got["distinct"], want["distinct"], "{name}");
    }
    // Identical statistics to the CSV version (v2 also carries counts on v1's bins).
    let c: Value = app.get("/v1/projects/churn/datasets/customers/versions/2", Some(&team.viewer)).await.json().await.unwrap();
    let mut cs = c["statistics"].clone();
    for col in cs.as_array_mut().unwrap() {
        col.as_object_mut().unwrap().remove("reference");
    }
    assert_same_numbers(&cs, &p["statistics"], "statistics");
    let a: Value = app.get("/v1/projects/churn/datasets/customers/versions/2/anomalies", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!((a["compared_to"].as_i64(), a["anomalies"].clone()), (Some(1), json!([])), "CSV and Parquet of one table agree");
    // Strings written plainly (no dictionary pages) are profiled the same as dictionary-encoded ones.
    let plain = write_parquet_encoded(&customers_batch(), 64, false);
    assert_ne!(plain, file);
    assert_eq!(upload_version(&app, &team.editor, "customers", "plain.parquet", plain, PARQUET).await.status(), 201);
    run_jobs(&app).await;
    let v3: Value = app.get("/v1/projects/churn/datasets/customers/versions/3", Some(&team.viewer)).await.json().await.unwrap();
    let mut s3 = v3["statistics"].clone();
    for col in s3.as_array_mut().unwrap() {
        col.as_object_mut().unwrap().remove("reference");
    }
    assert_same_numbers(&s3, &p["statistics"], "plain statistics");

    // Preview pages cross row-group boundaries (64 rows per group).
    let page: Value = app.get("/v1/projects/churn/datasets/customers/versions/1/preview?offset=60&limit=10", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(page["columns"], json!(["age", "income", "score", "plan", "churned"]));
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    for (k, row) in rows.iter().enumerate() {
        let line: Vec<&str> = CSV.lines().nth(61 + k).unwrap().split(',').collect();
        assert_eq!(row[0], line[0]);
        assert_eq!(row[3], line[3]);
        assert_eq!(row[4], line[4]);
        let income = row[1].as_str().unwrap();
        assert_eq!(income.parse::<f64>().ok(), line[1].parse::<f64>().ok(), "row {}", 60 + k);
    }
    let tail: Value = app.get("/v1/projects/churn/datasets/customers/versions/1/preview?offset=245&limit=50", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(tail["rows"].as_array().unwrap().len(), 5);

    // A random split assigns the same rows as for the CSV of the same table.
    let spec = json!({ "method": "random", "fractions": { "train": 0.7, "validation": 0.15, "test": 0.15 }, "seed": 3 });
    let sp: Value = app.send(Method::PUT, "/v1/projects/churn/datasets/customers/versions/1/split", Some(&team.editor), Some(spec.clone())).await.json().await.unwrap();
    let sc: Value = app.send(Method::PUT, "/v1/projects/churn/datasets/customers/versions/2/split", Some(&team.editor), Some(spec)).await.json().await.unwrap();
    assert_eq!(sp["counts"], sc["counts"]);
    let m = expect_error(
        app.send(Method::PUT, "/v1/projects/churn/datasets/customers/versions/1/split", Some(&team.editor), Some(json!({ "method": "column", "column": "plan" }))).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(m.contains("row 1, column 'plan'"), "{m}");

    // The original bytes come back.
    let res = app.get("/v1/projects/churn/datasets/customers/versions/1/download", Some(&team.viewer)).await;
    assert_eq!(res.headers()["content-type"], PARQUET);
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("customers.parquet"));
    assert_eq!(res.bytes().await.unwrap().to_vec(), file);
    expect_error(app.get("/v1/projects/churn/datasets/customers/versions/1/download", Some(&team.outsider)).await, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn timestamps_nulls_and_split_columns_in_parquet() {
    let app = spawn().await;
    let team = app.team().await;
    app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "events" }))).await;
    let n = 30;
    let day = 86_400_000_000i64;
    let batch = RecordBatch::try_from_iter([
        ("at", Arc::new(TimestampMicrosecondArray::from((0..n).map(|i| (i % 7 != 0).then_some(1_700_000_000_000_000 + i * day)).collect::<Vec<_>>())) as ArrayRef),
        ("fold", Arc::new(StringArray::from((0..n).map(|i| ["train", "TRAIN", "validation", "test", "Train"][i as usize % 5]).collect::<Vec<_>>())) as ArrayRef),
        ("x", Arc::new(Float64Array::from((0..n).map(|i| if i == 3 { f64::NAN } else { i as f64 }).collect::<Vec<_>>())) as ArrayRef),
    ])
    .unwrap();
    // Any content type with the Parquet magic bytes is read as Parquet.
    assert_eq!(upload(&app, &team.editor, "events", write_parquet(&batch, 8), "application/octet-stream").await.status(), 201);
    run_jobs(&app).await;
    let d: Value = app.get("/v1/projects/churn/datasets/events/versions/1", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(d["status"], "ready", "{d}");
    let at = &d["statistics"][0];
    assert_eq!((at["type"].as_str(), at["count"].as_u64(), at["missing"].as_u64()), (Some("timestamp"), Some(25), Some(5)));
    assert_eq!(at["min_text"], "2023-11-15T22:13:20");
    let x = &d["statistics"][2];
    assert_eq!((x["count"].as_u64(), x["missing"].as_u64()), (Some(29), Some(1)), "NaN counts as missing");
    let s: Value = app
        .send(Method::PUT, "/v1/projects/churn/datasets/events/versions/1/split", Some(&team.editor), Some(json!({ "method": "column", "column": "fold" })))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["counts"], json!({ "train": 18, "validation": 6, "test": 6 }));
    let p: Value = app.get("/v1/projects/churn/datasets/events/versions/1/preview?limit=2", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!(p["rows"][0][0], "", "a null shows as an empty cell");
    assert_eq!(p["rows"][1][0], "2023-11-15T22:13:20");
}

#[tokio::test]
async fn bad_parquet_files_are_refused_and_leave_nothing_behind() {
    let app = spawn().await;
    let team = app.team().await;
    app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "raw" }))).await;
    let good = customers_parquet();
    let mut flipped = good.clone();
    // Damage the data pages of the first row group (after the magic bytes), keeping the footer.
    for b in &mut flipped[4..400] {
        *b ^= 0x5a;
    }
    let list = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("tags", DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))), true)])),
        vec![Arc::new(ListArray::from_iter_primitive::<arrow_array::types::Int64Type, _, _>(vec![Some(vec![Some(1)])]))],
    )
    .unwrap();
    let empty = RecordBatch::new_empty(Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)])));
    let dup = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true), Field::new("a", DataType::Int64, true)])),
        vec![Arc::new(Int64Array::from(vec![1])), Arc::new(Int64Array::from(vec![2]))],
    )
    .unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not parquet", b"a,b\n1,2\n".to_vec(), "does not start with the bytes PAR1"),
        ("garbage after the magic", b"PAR1 this is not a parquet file".to_vec(), "not a readable Parquet file"),
        ("truncated", good[..good.len() / 2].to_vec(), "not a readable Parquet file"),
        ("corrupt pages", flipped, "could not be decoded"),
        ("nested column", write_parquet(&list, 10), "column 'tags': type List"),
        ("no rows", write_parquet(&empty, 10), "no rows"),
        ("duplicate names", write_parquet(&dup, 10), "duplicate column name 'a'"),
    ];
    for (what, body, needle) in cases {
        let res = upload(&app, &team.editor, "raw", body, PARQUET).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
        let msg = res.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains(needle), "{what}: {msg}");
    }
    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM dataset_versions").fetch_one(&app.db).await.unwrap();
    let blobs: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs").fetch_one(&app.db).await.unwrap();
    assert_eq!((versions, blobs), (0, 0));
}
