mod common;

use common::*;
use trellis_core::auth;
use trellis_core::{Actor, Error};

#[tokio::test]
async fn first_admin_setup_happens_once() {
    let t = TestDb::new().await;
    assert!(auth::needs_setup(&t.pool).await.unwrap());
    let admin = auth::setup_first_admin(&t.pool, "Ada@Example.org", "Ada", "long password", None).await.unwrap();
    assert!(admin.is_instance_admin);
    assert_eq!(admin.email, "ada@example.org");
    assert!(!auth::needs_setup(&t.pool).await.unwrap());
    let again = auth::setup_first_admin(&t.pool, "eve@example.org", "", "long password", None).await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&t.pool).await.unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn setup_validates_input_and_writes_nothing_on_error() {
    let t = TestDb::new().await;
    for (email, pw) in [("not-an-email", "long password"), ("a@b.org", "short")] {
        let r = auth::setup_first_admin(&t.pool, email, "", pw, None).await;
        assert!(matches!(r, Err(Error::BadRequest(_))), "{r:?}");
    }
    assert!(auth::needs_setup(&t.pool).await.unwrap());
}

#[tokio::test]
async fn sign_in_gives_one_error_for_unknown_user_and_wrong_password() {
    let t = TestDb::new().await;
    user(&t.pool, "ada@example.org", false).await;
    let ok = auth::sign_in(&t.pool, "ADA@example.org", "password 123", "10.0.0.1").await.unwrap();
    assert_eq!(ok.email, "ada@example.org");
    let wrong = auth::sign_in(&t.pool, "ada@example.org", "nope nope", "10.0.0.1").await.unwrap_err();
    let unknown = auth::sign_in(&t.pool, "bob@example.org", "password 123", "10.0.0.1").await.unwrap_err();
    assert!(matches!(wrong, Error::InvalidCredentials));
    assert!(matches!(unknown, Error::InvalidCredentials));
    assert_eq!(wrong.to_string(), unknown.to_string());
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_account_and_per_address() {
    let t = TestDb::new().await;
    user(&t.pool, "ada@example.org", false).await;
    user(&t.pool, "bob@example.org", false).await;
    for _ in 0..auth::MAX_FAILURES_PER_ACCOUNT {
        let e = auth::sign_in(&t.pool, "ada@example.org", "wrong password", "10.0.0.1").await.unwrap_err();
        assert!(matches!(e, Error::InvalidCredentials));
    }
    // Now even the right password is refused for this account, from any address...
    let e = auth::sign_in(&t.pool, "ada@example.org", "password 123", "10.9.9.9").await.unwrap_err();
    assert!(matches!(e, Error::RateLimited(_)), "{e:?}");
    // ...while another account still signs in.
    auth::sign_in(&t.pool, "bob@example.org", "password 123", "10.9.9.9").await.unwrap();

    // Per address: many accounts tried from one address.
    for i in 0..auth::MAX_FAILURES_PER_ADDRESS {
        let _ = auth::sign_in(&t.pool, &format!("nobody{i}@example.org"), "x", "10.6.6.6").await;
    }
    let e = auth::sign_in(&t.pool, "bob@example.org", "password 123", "10.6.6.6").await.unwrap_err();
    assert!(matches!(e, Error::RateLimited(_)), "{e:?}");
}

#[tokio::test]
async fn change_password_needs_the_current_one() {
    let t = TestDb::new().await;
    let (_, ada) = user(&t.pool, "ada@example.org", false).await;
    let e = auth::change_password(&t.pool, &ada, "wrong", "new password 1").await.unwrap_err();
    assert!(matches!(e, Error::BadRequest(_)));
    auth::change_password(&t.pool, &ada, "password 123", "new password 1").await.unwrap();
    assert!(auth::sign_in(&t.pool, "ada@example.org", "password 123", "1.1.1.1").await.is_err());
    auth::sign_in(&t.pool, "ada@example.org", "new password 1", "1.1.1.1").await.unwrap();
}

#[tokio::test]
async fn only_instance_admins_create_users_and_invites() {
    let t = TestDb::new().await;
    let (_, ada) = user(&t.pool, "ada@example.org", false).await;
    let e = auth::create_user(&t.pool, &ada, "x@example.org", "", "password 123", false).await.unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)));
    let e = auth::create_invite(&t.pool, &ada, "x@example.org", false).await.unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)));
    let dup = auth::create_user(&t.pool, &Actor::operator(), "ADA@example.org", "", "password 123", false).await;
    assert!(matches!(dup, Err(Error::Conflict(_))), "{dup:?}");
}

#[tokio::test]
async fn an_invitation_works_once() {
    let t = TestDb::new().await;
    let (_, root) = user(&t.pool, "root@example.org", true).await;
    let (invite, secret) = auth::create_invite(&t.pool, &root, "Carol@Example.org", false).await.unwrap();
    assert_eq!(invite.email, "carol@example.org");
    assert_eq!(auth::open_invite(&t.pool, &secret).await.unwrap().id, invite.id);
    let carol = auth::accept_invite(&t.pool, &secret, "Carol", "carol password", None).await.unwrap();
    assert_eq!(carol.email, "carol@example.org");
    assert!(!carol.is_instance_admin);
    assert!(matches!(auth::open_invite(&t.pool, &secret).await, Err(Error::NotFound(_))));
    let again = auth::accept_invite(&t.pool, &secret, "Eve", "eve password 1", None).await;
    assert!(matches!(again, Err(Error::NotFound(_))));
    assert!(matches!(auth::open_invite(&t.pool, "inv_bogus").await, Err(Error::NotFound(_))));
}

#[tokio::test]
async fn changes_write_audit_rows() {
    let t = TestDb::new().await;
    let (_, root) = user(&t.pool, "root@example.org", true).await;
    auth::create_invite(&t.pool, &root, "carol@example.org", true).await.unwrap();
    let (action, email, ip): (String, String, Option<String>) =
        sqlx::query_as("SELECT action, user_email, ip FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(action, "user.invite");
    assert_eq!(email, "root@example.org");
    assert_eq!(ip.as_deref(), Some("10.0.0.1"));
}
