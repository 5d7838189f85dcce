#![allow(dead_code)]

use std::net::SocketAddr;

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use trellis_core::projects::{self, NewProject};
use trellis_core::testing::TestDb;
use trellis_core::types::Role;
use trellis_core::{auth, tokens, Actor, Core, PgPool};
use trellis_server::startup::{self, AppState, RouterSettings};

/// A running Trellis on a random port, with its own fresh database.
pub struct TestApp {
    pub url: String,
    pub db: PgPool,
    pub http: Client,
    pub core: Core,
}

pub async fn spawn() -> TestApp {
    spawn_with(RouterSettings { secure_cookies: false, session_idle_minutes: 60, max_body_bytes: 64 * 1024 }).await
}

pub async fn spawn_with(settings: RouterSettings) -> TestApp {
    let t = TestDb::new().await;
    serve(t.core(), settings).await
}

/// A running Trellis whose files go to the given blob store.
pub async fn spawn_with_blobs(blobs: trellis_core::storage::Blobs) -> TestApp {
    let t = TestDb::new().await;
    let core = Core::new(t.pool.clone(), blobs);
    serve(core, RouterSettings { secure_cookies: false, session_idle_minutes: 60, max_body_bytes: 64 * 1024 }).await
}

async fn serve(mut core: Core, settings: RouterSettings) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    core.public_url = Some(startup::local_url(addr));
    let options = startup::leptos_options(None, addr).unwrap();
    let pool = core.db.clone();
    let state = AppState::new(options, core.clone(), 1 << 20);
    let store = startup::session_store(&pool).await.unwrap();
    let app = startup::router(state, store, &settings);
    tokio::spawn(trellis_core::serving::logging::write_forever(core.clone()));
    tokio::spawn(trellis_core::serving::listen(core.clone()));
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    TestApp { url: format!("http://{addr}"), db: pool, http: Client::new(), core }
}

impl TestApp {
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut r = self.http.get(self.at(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
        let mut r = self.http.request(method, self.at(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    /// A user with a personal token; returns (actor, token).
    pub async fn user(&self, email: &str, admin: bool) -> (Actor, String) {
        let u = auth::create_user(&self.db, &Actor::operator(), email, "", "password 123", admin).await.unwrap();
        let actor = auth::session_actor(&self.db, u.id, None).await.unwrap();
        let (_, secret) = tokens::create(&self.db, &actor, "test", None).await.unwrap();
        (actor, secret)
    }

    /// A project "churn" with admin, editor and viewer members; tokens for them, an outsider
    /// and an instance admin.
    pub async fn team(&self) -> Team {
        let (admin_actor, admin) = self.user("admin@example.org", false).await;
        let (_, editor) = self.user("editor@example.org", false).await;
        let (_, viewer) = self.user("viewer@example.org", false).await;
        let (_, outsider) = self.user("outsider@example.org", false).await;
        let (_, root) = self.user("root@example.org", true).await;
        projects::create(&self.db, &admin_actor, NewProject { name: "Churn", slug: Some("churn"), description: "" }, None)
            .await
            .unwrap();
        projects::set_member(&self.db, &admin_actor, "churn", "editor@example.org", Role::Editor).await.unwrap();
        projects::set_member(&self.db, &admin_actor, "churn", "viewer@example.org", Role::Viewer).await.unwrap();
        Team { admin, editor, viewer, outsider, root }
    }
}

/// How a request authenticates: an API token or a signed-in session (cookie).
pub enum Cred<'a> {
    Token(&'a str),
    Session(&'a Client),
}

impl TestApp {
    /// Signs in through the web UI's server function; the client keeps the session cookie.
    pub async fn session(&self, email: &str) -> Client {
        use leptos::server_fn::ServerFn;
        let client = Client::builder().cookie_store(true).build().unwrap();
        let path = <trellis_app::api::session::SignIn as ServerFn>::PATH;
        let res = client
            .post(self.at(path))
            .form(&[("email", email), ("password", "password 123")])
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "sign-in of {email}: {}", res.status());
        client
    }

    pub async fn send_as(&self, cred: &Cred<'_>, method: reqwest::Method, path: &str, body: Option<Value>) -> Response {
        match cred {
            Cred::Token(t) => self.send(method, path, Some(t), body).await,
            Cred::Session(c) => {
                let mut r = c.request(method, self.at(path));
                if let Some(b) = body {
                    r = r.json(&b);
                }
                r.send().await.unwrap()
            }
        }
    }
}

pub const TEAM_EMAILS: [&str; 5] =
    ["outsider@example.org", "viewer@example.org", "editor@example.org", "admin@example.org", "root@example.org"];

pub struct Team {
    pub admin: String,
    pub editor: String,
    pub viewer: String,
    pub outsider: String,
    pub root: String,
}

/// Asserts the status and the error code of a JSON error answer.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(res.status(), status, "{}", res.url());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    body["error"]["message"].as_str().unwrap().to_string()
}

/// The committed customers table (250 rows; numpy's statistics of it are in the same folder).
pub const CUSTOMERS_CSV: &str = include_str!("../../../ml/tests/fixtures/customers.csv");

pub fn write_parquet(batch: &arrow_array::RecordBatch, rows_per_group: usize) -> Vec<u8> {
    write_parquet_encoded(batch, rows_per_group, true)
}

/// Like [`write_parquet`]; `dictionary: false` writes every value plainly (no dictionary pages).
pub fn write_parquet_encoded(batch: &arrow_array::RecordBatch, rows_per_group: usize, dictionary: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows_per_group))
        .set_dictionary_enabled(dictionary)
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    out
}

/// The customers fixture as typed columns (empty cells as nulls), in row groups of 64 rows.
pub fn customers_parquet() -> Vec<u8> {
    write_parquet(&customers_batch(), 64)
}

/// The customers fixture as a record batch.
pub fn customers_batch() -> arrow_array::RecordBatch {
    let rows: Vec<Vec<&str>> = CUSTOMERS_CSV.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let opt_f64 = |i: usize| -> arrow_array::ArrayRef {
        std::sync::Arc::new(arrow_array::Float64Array::from(rows.iter().map(|r| r[i].parse::<f64>().ok()).collect::<Vec<_>>()))
    };
    let batch = arrow_array::RecordBatch::try_from_iter([
        ("age", std::sync::Arc::new(arrow_array::Int64Array::from(rows.iter().map(|r| r[0].parse::<i64>().ok()).collect::<Vec<_>>())) as arrow_array::ArrayRef),
        ("income", opt_f64(1)),
        ("score", opt_f64(2)),
        ("plan", std::sync::Arc::new(arrow_array::StringArray::from(rows.iter().map(|r| (!r[3].is_empty()).then_some(r[3])).collect::<Vec<_>>())) as arrow_array::ArrayRef),
        ("churned", std::sync::Arc::new(arrow_array::BooleanArray::from(rows.iter().map(|r| r[4].parse::<bool>().ok()).collect::<Vec<_>>())) as arrow_array::ArrayRef),
    ])
    .unwrap();
    batch
}


/// Uploads a dataset version to project "churn" as `filename`.
pub async fn upload_version(app: &TestApp, token: &str, dataset: &str, filename: &str, body: Vec<u8>, ctype: &str) -> Response {
    app.http
        .post(app.at(&format!("/v1/projects/churn/datasets/{dataset}/versions?filename={filename}")))
        .bearer_auth(token)
        .header("Content-Type", ctype)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Runs queued jobs (profiling) until none is left.
pub async fn run_jobs(app: &TestApp) {
    use trellis_core::worker::{Registry, Worker, WorkerConfig};
    let w = Worker::new(app.db.clone(), "test", std::sync::Arc::new(Registry::builtin(&app.core)), WorkerConfig::default());
    while w.run_once(&tokio_util::sync::CancellationToken::new()).await.unwrap() {}
}

/// Files under a directory, recursively.
pub fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| if e.path().is_dir() { count_files(&e.path()) } else { 1 }).sum())
        .unwrap_or(0)
}

/// A run through the MLflow API (`runs/get`), as the `run` object.
pub async fn get_run(app: &TestApp, token: &str, run_id: &str) -> Value {
    let res = app.get(&format!("/api/2.0/mlflow/runs/get?run_id={run_id}"), Some(token)).await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["run"].clone()
}
