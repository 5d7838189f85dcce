//! Test support: each test gets its own fresh database, cloned from a migrated template.
//!
//! The server is `TRELLIS_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! The template's name includes a hash of the migrations, so a schema change makes a new one.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::db::MIGRATOR;

pub fn server_url() -> String {
    std::env::var("TRELLIS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn template_name() -> String {
    let mut h = Sha256::new();
    for m in MIGRATOR.iter() {
        h.update(m.version.to_le_bytes());
        h.update(&*m.checksum);
    }
    format!("trellis_tpl_{}", &hex::encode(h.finalize())[..16])
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, migrated database for one test.
pub struct TestDb {
    pub pool: PgPool,
    pub name: String,
    pub options: PgConnectOptions,
    /// Blob storage in a fresh temporary directory.
    pub blobs: crate::storage::Blobs,
    pub dir: std::path::PathBuf,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let server = PgConnectOptions::from_str(&server_url()).expect("TRELLIS_TEST_DATABASE_URL");
        let mut admin = server.clone().database("postgres").connect().await.expect(
            "cannot reach the test PostgreSQL server; set TRELLIS_TEST_DATABASE_URL",
        );
        let template = template_name();
        // One process creates the template; the others wait on the advisory lock.
        sqlx::query("SELECT pg_advisory_lock(727274)").execute(&mut admin).await.unwrap();
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&template)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        if !exists {
            let building = format!("{template}_build");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {building}")).execute(&mut admin).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {building}")).execute(&mut admin).await.unwrap();
            {
                let mut c: PgConnection = server.clone().database(&building).connect().await.unwrap();
                MIGRATOR.run(&mut c).await.expect("migrations");
                c.close().await.unwrap();
            }
            sqlx::query(&format!("ALTER DATABASE {building} RENAME TO {template}"))
                .execute(&mut admin)
                .await
                .unwrap();
        }
        let name = format!(
            "trellis_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            rand::random::<u32>()
        );
        sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {template}")).execute(&mut admin).await.unwrap();
        sqlx::query("SELECT pg_advisory_unlock(727274)").execute(&mut admin).await.unwrap();
        admin.close().await.unwrap();
        let options = server.database(&name);
        let pool = crate::db::connect(options.clone(), 10).await.unwrap();
        let dir = std::env::temp_dir().join(&name);
        let blobs = crate::storage::Blobs::local(&dir).unwrap();
        TestDb { pool, name, options, blobs, dir }
    }

    pub fn core(&self) -> crate::Core {
        crate::Core::new(self.pool.clone(), self.blobs.clone())
    }
}
