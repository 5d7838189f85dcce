//! The `trellis` binary: commands against a database, and `serve` with its private PostgreSQL.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use trellis_core::testing::TestDb;
use trellis_core::{auth, projects, tokens};

const BIN: &str = env!("CARGO_BIN_EXE_trellis");

fn db_url(t: &TestDb) -> String {
    let base = trellis_core::testing::server_url();
    let (head, _) = base.rsplit_once('/').unwrap();
    format!("{head}/{}", t.name)
}

fn trellis(url: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn user_project_and_token_commands() {
    let t = TestDb::new().await;
    let url = db_url(&t);
    let out = trellis(&url, &["user", "create", "--email", "ops@example.org", "--password-stdin", "--admin"], Some("a long password\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    auth::sign_in(&t.pool, "ops@example.org", "a long password", "cli-test").await.unwrap();

    let out = trellis(&url, &["user", "create", "--email", "ops@example.org", "--password-stdin"], Some("another password"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = trellis(&url, &["user", "create", "--email", "short@example.org", "--password-stdin"], Some("short"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));

    let out = trellis(&url, &["project", "create", "--name", "Churn model", "--owner", "ops@example.org"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "churn-model");

    let out = trellis(&url, &["token", "create", "--email", "ops@example.org", "--project", "churn-model", "--name", "ci"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap();
    let token = token.trim();
    assert!(token.starts_with("trl_") && !token.contains(' '), "only the token is printed: {token:?}");
    let actor = tokens::authenticate(&t.pool, token, None).await.unwrap();
    assert!(actor.token_project().is_some());
    assert_eq!(projects::list(&t.pool, &actor).await.unwrap().len(), 1);

    let out = trellis(&url, &["token", "create", "--email", "ghost@example.org"], None);
    assert!(!out.status.success());
    let out = trellis(&url, &["migrate"], None);
    assert!(out.status.success());
}

/// Zero configuration: no DATABASE_URL, a private cluster in the data directory; commands work
/// while it runs; SIGTERM stops the server and the cluster cleanly.
#[tokio::test]
async fn serve_runs_its_own_postgres_and_stops_cleanly() {
    let dir = std::env::temp_dir().join(format!("trellis-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let data = dir.to_str().unwrap();
    let mut serve = Command::new(BIN)
        .args(["serve", "--data-dir", data, "--addr", &addr])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..120 {
        if let Ok(r) = client.get(format!("http://{addr}/readyz")).send().await {
            if r.status() == 200 {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ready, "trellis serve did not become ready");
    assert!(dir.join("postgres/PG_VERSION").exists());
    assert!(dir.join("run/.s.PGSQL.5432").exists(), "listens on a socket in the data dir");

    // A command while serve runs uses the same cluster.
    let out = Command::new(BIN)
        .args(["user", "create", "--email", "a@example.org", "--password-stdin", "--data-dir", data])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"a long password").unwrap();
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The web UI now wants a sign-in rather than the setup page.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(res.headers()["location"], "/login");

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(serve.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::task::spawn_blocking(move || serve.wait()).await.unwrap().unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
    assert!(!dir.join("postgres/postmaster.pid").exists(), "the private cluster was stopped");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn wait_ready(addr: &str) {
    let client = reqwest::Client::new();
    for _ in 0..120 {
        if let Ok(r) = client.get(format!("http://{addr}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("trellis serve did not become ready");
}


/// A server killed (SIGKILL) in the middle of receiving an upload leaves no version and no stored
/// file; its partial temporary file is removed when the server starts again.
#[tokio::test]
async fn a_server_killed_mid_upload_leaves_no_partial_version() {
    let t = TestDb::new().await;
    let url = db_url(&t);
    let owner = auth::create_user(&t.pool, &trellis_core::Actor::operator(), "owner@example.org", "", "a long password", false).await.unwrap();
    let actor = auth::session_actor(&t.pool, owner.id, None).await.unwrap();
    projects::create(&t.pool, &actor, projects::NewProject { name: "Churn", slug: Some("churn"), description: "" }, None).await.unwrap();
    trellis_core::datasets::create(&t.pool, &actor, "churn", "customers", "").await.unwrap();
    let (_, token) = tokens::create(&t.pool, &actor, "upload", None).await.unwrap();
    let dir = std::env::temp_dir().join(format!("trellis-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let start = || {
        Command::new(BIN)
            .args(["serve", "--data-dir", dir.to_str().unwrap(), "--addr", &addr])
            .env("DATABASE_URL", &url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut serve = start();
    wait_ready(&addr).await;

    // Half a file arrives; then the server dies.
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    let row = "42,1234.5,0.5,basic,true\n";
    tx.unbounded_send(Ok(format!("age,income,score,plan,churned\n{}", row.repeat(4000)).into_bytes())).unwrap();
    let upload = reqwest::Client::new()
        .post(format!("http://{addr}/v1/projects/churn/datasets/customers/versions"))
        .bearer_auth(&token)
        .header("Content-Type", "text/csv")
        .body(reqwest::Body::wrap_stream(rx))
        .send();
    let upload = tokio::spawn(upload);
    let tmp = dir.join("tmp");
    let mut receiving = false;
    for _ in 0..100 {
        if std::fs::read_dir(&tmp).map(|rd| rd.flatten().any(|e| e.metadata().map(|m| m.len() > 0).unwrap_or(false))).unwrap_or(false) {
            receiving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(receiving, "the upload is being received into a temporary file");
    serve.kill().unwrap();
    serve.wait().unwrap();
    drop(tx);
    let answer = upload.await.unwrap();
    assert!(answer.is_err() || !answer.unwrap().status().is_success());

    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM dataset_versions").fetch_one(&t.pool).await.unwrap();
    let blobs: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs").fetch_one(&t.pool).await.unwrap();
    assert_eq!((versions, blobs), (0, 0), "no partial version or blob row");
    assert_eq!(common::count_files(&dir.join("blobs")), 0, "nothing reached storage");
    assert_eq!(common::count_files(&tmp), 1, "the partial temporary file is still there after the kill");

    // Started again: the dead process's temporary file is removed, and uploads work.
    let mut serve = start();
    wait_ready(&addr).await;
    assert_eq!(common::count_files(&tmp), 0, "the partial file is removed at start");
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/v1/projects/churn/datasets/customers/versions"))
        .bearer_auth(&token)
        .header("Content-Type", "text/csv")
        .body(format!("age,income,score,plan,churned\n{}", row.repeat(10)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["version"], 1, "the killed upload did not take a version number");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(serve.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    tokio::task::spawn_blocking(move || serve.wait()).await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
