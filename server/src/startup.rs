//! Builds the application in one place: database, sessions, router, workers, shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_core::ExpiredDeletion;
use tower_sessions_sqlx_store::PostgresStore;
use trellis_app::{shell, App};
use trellis_core::local_pg::LocalPostgres;
use trellis_core::worker::{Registry, Worker, WorkerConfig};
use trellis_core::{db, Core};

use crate::config::{DbArgs, ServeArgs};
use crate::metrics::Metrics;

/// What every handler shares, behind one `Arc`: axum clones the state for each request, each
/// extractor and each middleware, and a clone is then one reference count (cloning the fields
/// themselves was a few percent of the server's time under load).
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

pub struct SharedState {
    pub leptos_options: LeptosOptions,
    pub core: Core,
    pub metrics: Metrics,
    /// Set once the first user exists (then the setup page is never needed again).
    pub setup_done: std::sync::atomic::AtomicBool,
    /// Largest dataset upload accepted, in bytes.
    pub max_upload_bytes: u64,
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<AppState> for Core {
    fn from_ref(state: &AppState) -> Self {
        state.core.clone()
    }
}

impl AppState {
    pub fn new(leptos_options: LeptosOptions, core: Core, max_upload_bytes: u64) -> Self {
        AppState(Arc::new(SharedState {
            leptos_options,
            core,
            metrics: Metrics::new(),
            setup_done: std::sync::atomic::AtomicBool::new(false),
            max_upload_bytes,
        }))
    }
}

/// The database this process uses, and the private cluster it started, if any.
pub struct Database {
    pub pool: PgPool,
    local: Option<LocalPostgres>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts the private cluster in the data directory; then migrates.
    pub async fn open(args: &DbArgs) -> anyhow::Result<Database> {
        let (options, local) = match &args.database_url {
            Some(url) => (url.parse::<PgConnectOptions>().context("DATABASE_URL is not a valid PostgreSQL URL")?, None),
            None => {
                let local = LocalPostgres::start(&args.data_dir).await.context("starting the private PostgreSQL cluster")?;
                (local.connect_options(), Some(local))
            }
        };
        let pool = db::connect(options, args.db_max_connections).await.context("connecting to PostgreSQL")?;
        db::migrate(&pool).await.context("applying migrations")?;
        Ok(Database { pool, local })
    }

    pub async fn close(self) {
        self.pool.close().await;
        if let Some(local) = self.local {
            if let Err(e) = local.stop().await {
                tracing::error!(error = %e, "stopping the private PostgreSQL cluster");
            }
        }
    }
}

pub struct RouterSettings {
    pub secure_cookies: bool,
    pub session_idle_minutes: i64,
    pub max_body_bytes: usize,
}

/// Session store in PostgreSQL (creates its table if needed).
pub async fn session_store(pool: &PgPool) -> anyhow::Result<PostgresStore> {
    let store = PostgresStore::new(pool.clone());
    store.migrate().await.context("creating the session table")?;
    Ok(store)
}

/// The whole HTTP application: health, metrics, REST API, web UI with its server functions.
pub fn router(state: AppState, store: PostgresStore, settings: &RouterSettings) -> Router {
    let sessions = SessionManagerLayer::new(store)
        .with_name("trellis_session")
        .with_secure(settings.secure_cookies)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(settings.session_idle_minutes)));
    let routes = generate_route_list(App);
    let core = state.core.clone();
    let options = state.leptos_options.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::metrics::render))
        .merge(crate::api::router())
        .merge(crate::mlflow::router())
        .merge(crate::oip::router())
        .leptos_routes_with_context(&state, routes, move || provide_context(core.clone()), move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::ui_gate::gate))
        .layer(sessions)
        .layer(axum::Extension(state.core.clone()))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match db::is_ready(&state.core.db).await {
        Ok(true) => (StatusCode::OK, Json(serde_json::json!({ "status": "ready" }))),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "not ready", "reason": "migrations not applied" })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "not ready", "reason": "database unreachable" })),
            )
        }
    }
}

pub fn leptos_options(site_root: Option<&std::path::Path>, addr: SocketAddr) -> anyhow::Result<LeptosOptions> {
    let conf = get_configuration(None).context("reading the web UI configuration")?;
    let mut options = conf.leptos_options;
    options.site_addr = addr;
    // A binary built by plain `cargo build` (not cargo-leptos) knows no output name: use the
    // project's (`[[workspace.metadata.leptos]] name`), so its pages still load their scripts.
    if options.output_name.is_empty() {
        options.output_name = "trellis".into();
    }
    if let Some(root) = site_root {
        options.site_root = root.display().to_string().into();
    }
    let pkg = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    if !pkg.exists() {
        tracing::warn!(
            path = %pkg.display(),
            "web assets not found: pages will not become interactive; build with `cargo leptos build --release` \
             and point TRELLIS_SITE_ROOT at its target/site"
        );
    }
    Ok(options)
}

/// The URL of a server listening on `addr`, from the same machine (a wildcard address becomes
/// the loopback one).
pub fn local_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Starts `n` workers sharing one registry; returns their join handles.
pub fn spawn_workers(
    core: &Core,
    n: usize,
    lease: Duration,
    shutdown: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let registry = Arc::new(Registry::builtin(core));
    (0..n)
        .map(|i| {
            let worker = Worker::new(
                core.db.clone(),
                Worker::default_id(i),
                registry.clone(),
                WorkerConfig { lease, ..WorkerConfig::default() },
            );
            tokio::spawn(worker.run(shutdown.clone()))
        })
        .collect()
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown requested");
}

/// Enqueues instance housekeeping every hour (once: skipped while one is pending).
fn spawn_housekeeping(pool: PgPool, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = trellis_core::jobs::enqueue_system(&pool, trellis_core::jobs_builtin::CLEANUP_KIND).await {
                tracing::warn!(error = %e, "could not schedule housekeeping");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    })
}

/// `trellis serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let database = Database::open(&args.db).await?;
    let pool = database.pool.clone();
    let store = session_store(&pool).await?;
    let deletion = tokio::spawn(store.clone().continuously_delete_expired(tokio::time::Duration::from_secs(3600)));
    let mut core = Core::new(pool.clone(), args.db.blobs()?);
    core.public_url = Some(args.public_url.clone().unwrap_or_else(|| local_url(args.addr)));
    core.blobs.check().await.context("the blob store does not answer")?;
    let stale = core.blobs.clear_stale_temp();
    if stale > 0 {
        tracing::info!(files = stale, "removed temporary files of interrupted uploads");
    }
    let state = AppState::new(leptos_options(args.site_root.as_deref(), args.addr)?, core.clone(), args.max_upload_bytes);
    let settings = RouterSettings {
        secure_cookies: args.secure_cookies(),
        session_idle_minutes: args.session_idle_minutes,
        max_body_bytes: args.max_body_bytes,
    };
    let app = router(state, store, &settings);

    let shutdown = CancellationToken::new();
    let workers = spawn_workers(&core, args.workers, Duration::from_secs(args.job_lease_seconds.max(3)), &shutdown);
    let housekeeping = spawn_housekeeping(pool.clone(), shutdown.clone());
    // Other serving processes announce endpoint changes; this one forgets its routing tables then.
    let serving_changes = tokio::spawn(trellis_core::serving::listen(core.clone()));
    let prediction_logs = tokio::spawn(trellis_core::serving::logging::write_forever(core.clone()));

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("listening on {}", args.addr))?;
    let shown = args.public_url.clone().unwrap_or_else(|| format!("http://{}", args.addr));
    tracing::info!(url = %shown, workers = args.workers, "Trellis is ready");
    eprintln!("Trellis is running at {shown}  (Ctrl-C to stop)");

    let stop = shutdown.clone();
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            stop.cancel();
        })
        .await
        .context("serving HTTP")?;

    shutdown.cancel();
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
    housekeeping.abort();
    serving_changes.abort();
    prediction_logs.abort();
    deletion.abort();
    database.close().await;
    tracing::info!("Trellis stopped");
    Ok(())
}

/// `trellis worker`: job workers only, against the same database.
pub async fn worker(args: crate::config::WorkerArgs) -> anyhow::Result<()> {
    let database = Database::open(&args.db).await?;
    let shutdown = CancellationToken::new();
    let mut core = Core::new(database.pool.clone(), args.db.blobs()?);
    core.public_url = args.public_url.clone();
    if core.public_url.is_none() {
        tracing::warn!("TRELLIS_PUBLIC_URL is not set: custom training jobs on this worker will fail, as their MLflow client needs the URL of Trellis");
    }
    let workers = spawn_workers(&core, args.concurrency.max(1), Duration::from_secs(args.job_lease_seconds.max(3)), &shutdown);
    eprintln!("Trellis worker running {} job slot(s)  (Ctrl-C to stop)", args.concurrency.max(1));
    shutdown_signal().await;
    shutdown.cancel();
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
    database.close().await;
    Ok(())
}
