mod common;

use common::*;
use trellis_core::db;

async fn backend_pid(pool: &trellis_core::PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(pool).await
}

#[tokio::test]
async fn a_connection_closed_by_the_server_while_idle_is_replaced_before_use() {
    let t = TestDb::new().await;
    let pool = db::connect(t.options.clone(), 1).await.unwrap();
    let first = backend_pid(&pool).await.unwrap();
    // Used just now: handed out again untested, the same backend.
    assert_eq!(backend_pid(&pool).await.unwrap(), first);

    // The server ends that backend (a restart, an administrator, an idle timeout).
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(first).fetch_one(&t.pool).await.unwrap();
    assert!(ended);
    tokio::time::sleep(db::TEST_IDLE_AFTER + std::time::Duration::from_millis(300)).await;

    // Idle for longer than the limit: tested, found closed, replaced; the query succeeds.
    let second = backend_pid(&pool).await.expect("a fresh connection after the old one was closed");
    assert_ne!(second, first);
}
