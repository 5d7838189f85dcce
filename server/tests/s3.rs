//! Datasets stored in an S3-compatible object store (`TRELLIS_BLOB_URL=s3://…`): a real S3 API
//! server (moto's, started here) holds the files; uploads, profiling, previews, downloads and
//! deletes go through it, and a refused file leaves nothing in the bucket.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trellis_core::storage::Blobs;

const BUCKET: &str = "trellis-test";

/// An S3 API server on a free port, stopped on drop.
struct S3Server {
    child: Child,
    url: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_s3() -> S3Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // scripts/test.sh points TRELLIS_TEST_PYTHON at the virtualenv bootstrap.sh fills.
    let python = std::env::var("TRELLIS_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let child = Command::new(&python)
        .args(["-c", "from moto.server import main; main()", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 is needed to run the S3 test server");
    let server = S3Server { child, url: format!("http://127.0.0.1:{port}") };
    let http = reqwest::Client::new();
    for _ in 0..150 {
        if http.get(&server.url).send().await.is_ok() {
            let res = http.put(format!("{}/{BUCKET}", server.url)).send().await.unwrap();
            assert!(res.status().is_success(), "creating the bucket: {}", res.status());
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the S3 test server did not start: install it with `pip install 'moto[server]'` (scripts/bootstrap.sh does)");
}

/// The keys in the bucket under `blobs/`.
async fn keys(s3: &S3Server) -> Vec<String> {
    let xml = reqwest::get(format!("{}/{BUCKET}?list-type=2&prefix=blobs/", s3.url)).await.unwrap().text().await.unwrap();
    xml.split("<Key>").skip(1).map(|k| k.split("</Key>").next().unwrap().to_string()).collect()
}

#[tokio::test]
async fn datasets_live_in_an_s3_compatible_store() {
    let s3 = start_s3().await;
    let tmp = std::env::temp_dir().join(format!("trellis-s3-{}", std::process::id()));
    let options = [
        ("AWS_ENDPOINT", s3.url.as_str()),
        ("AWS_ACCESS_KEY_ID", "trellis"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let blobs = Blobs::from_url_with(&format!("s3://{BUCKET}/blobs"), &tmp, options).unwrap();
    blobs.check().await.unwrap();
    let app = spawn_with_blobs(blobs).await;
    let team = app.team().await;
    app.send(Method::POST, "/v1/projects/churn/datasets", Some(&team.editor), Some(json!({ "name": "customers" }))).await;
    let post = |body: Vec<u8>, ctype: &'static str| {
        app.http
            .post(app.at("/v1/projects/churn/datasets/customers/versions"))
            .bearer_auth(&team.editor)
            .header("Content-Type", ctype)
            .body(body)
            .send()
    };
    assert_eq!(post(CUSTOMERS_CSV.as_bytes().to_vec(), "text/csv").await.unwrap().status(), 201);
    let parquet = customers_parquet();
    assert_eq!(post(parquet.clone(), "application/vnd.apache.parquet").await.unwrap().status(), 201);
    // A refused file never reaches the bucket.
    assert_eq!(post(b"a,b\n1\n".to_vec(), "text/csv").await.unwrap().status(), StatusCode::BAD_REQUEST);
    let stored = keys(&s3).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    let v1: Value = app.get("/v1/projects/churn/datasets/customers/versions/1", Some(&team.viewer)).await.json().await.unwrap();
    assert!(stored.iter().any(|k| k.ends_with(v1["sha256"].as_str().unwrap())), "{stored:?}");

    run_jobs(&app).await;
    let csv: Value = app.get("/v1/projects/churn/datasets/customers/versions/1", Some(&team.viewer)).await.json().await.unwrap();
    let pq: Value = app.get("/v1/projects/churn/datasets/customers/versions/2", Some(&team.viewer)).await.json().await.unwrap();
    assert_eq!((csv["status"].as_str(), pq["status"].as_str()), (Some("ready"), Some("ready")), "{csv} {pq}");
    let (a, b) = (csv["statistics"][0]["mean"].as_f64().unwrap(), pq["statistics"][0]["mean"].as_f64().unwrap());
    assert!((a - b).abs() < 1e-9, "{a} vs {b}");

    for n in [1, 2] {
        let page: Value = app
            .get(&format!("/v1/projects/churn/datasets/customers/versions/{n}/preview?offset=100&limit=3"), Some(&team.viewer))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["rows"][0][0], CUSTOMERS_CSV.lines().nth(101).unwrap().split(',').next().unwrap(), "version {n}");
    }
    let back = app.get("/v1/projects/churn/datasets/customers/versions/1/download", Some(&team.viewer)).await.text().await.unwrap();
    assert_eq!(back, CUSTOMERS_CSV);
    let back = app.get("/v1/projects/churn/datasets/customers/versions/2/download", Some(&team.viewer)).await.bytes().await.unwrap();
    assert_eq!(back.to_vec(), parquet);

    let d: Value = app.send(Method::DELETE, "/v1/projects/churn/datasets/customers", Some(&team.editor), None).await.json().await.unwrap();
    assert_eq!(d["blobs_removed"], 2);
    assert_eq!(keys(&s3).await, Vec::<String>::new(), "deleting frees the space in the bucket");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[tokio::test]
async fn an_unknown_blob_url_is_refused() {
    let tmp = std::env::temp_dir();
    for url in ["ftp://host/x", "s3://", "gs://bucket"] {
        let e = Blobs::from_url_with(url, &tmp, []).unwrap_err().to_string();
        assert!(e.contains(url), "{url}: {e}");
    }
}
