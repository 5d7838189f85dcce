//! Connection pool and migrations.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Connection;
pub use sqlx::PgPool;

use crate::Result;

/// The schema, embedded in the binary from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A pooled connection idle for longer than this is tested (a round trip) before it is handed
/// out; one used more recently is not. Under load every statement would otherwise wait for an
/// extra round trip first, while a connection the server closed (a restart, an idle timeout)
/// has in all likelihood been idle for a while.
pub const TEST_IDLE_AFTER: Duration = Duration::from_secs(1);

pub async fn connect(options: PgConnectOptions, max_connections: u32) -> Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            async move {
                if meta.idle_for > TEST_IDLE_AFTER {
                    // A failed test closes the connection and the pool takes another.
                    conn.ping().await?;
                }
                Ok(true)
            }
            .boxed()
        })
        .connect_with(options)
        .await?;
    Ok(pool)
}

pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// True when the database answers and every embedded migration has been applied.
pub async fn is_ready(pool: &PgPool) -> Result<bool> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?;
    Ok(MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()).all(|m| applied.contains(&m.version)))
}

/// A maintenance statement (`VACUUM`, `ANALYZE`) run in the background, beside further work,
/// one at a time. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Maintenance {
    sql: &'static str,
    /// Whether the statement is under way.
    running: Arc<AtomicBool>,
}

impl Maintenance {
    pub fn new(sql: &'static str) -> Self {
        Self { sql, running: Default::default() }
    }

    /// Starts the statement unless it is under way; answers whether it started. A failure is
    /// logged (autovacuum does the same work later).
    pub fn start(&self, db: &PgPool) -> bool {
        if self.running.swap(true, Ordering::AcqRel) {
            return false;
        }
        let (this, db) = (self.clone(), db.clone());
        tokio::spawn(async move {
            if let Err(e) = sqlx::raw_sql(this.sql).execute(&db).await {
                tracing::warn!(statement = this.sql, error = %e, "maintenance failed; autovacuum will do it");
            }
            this.running.store(false, Ordering::Release);
        });
        true
    }
}
