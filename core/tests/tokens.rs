mod common;

use common::*;
use trellis_core::{tokens, Error};

#[tokio::test]
async fn a_token_acts_as_its_user_until_revoked() {
    let t = TestDb::new().await;
    let (ada, actor) = user(&t.pool, "ada@example.org", false).await;
    let (token, secret) = tokens::create(&t.pool, &actor, "laptop", None).await.unwrap();
    assert!(secret.starts_with("trl_") && secret.len() == 68);
    assert!(secret.starts_with(&token.prefix));
    assert!(token.last_used_at.is_none());

    // Only a hash is stored.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM api_tokens WHERE id = $1").bind(token.id).fetch_one(&t.pool).await.unwrap();
    assert_eq!(stored, tokens::hash_secret(&secret));
    assert_ne!(stored, secret.as_bytes());

    let via = tokens::authenticate(&t.pool, &secret, Some("10.1.1.1".into())).await.unwrap();
    assert_eq!(via.user_id, Some(ada.id));
    assert_eq!(via.token.unwrap().token_id, token.id);
    let listed = tokens::list(&t.pool, &actor).await.unwrap();
    assert!(listed[0].last_used_at.is_some(), "last-used time is recorded");

    // Tokens cannot mint tokens.
    assert!(matches!(tokens::create(&t.pool, &via, "more", None).await, Err(Error::Forbidden(_))));

    tokens::revoke(&t.pool, &actor, token.id).await.unwrap();
    assert!(matches!(tokens::authenticate(&t.pool, &secret, None).await, Err(Error::Unauthenticated)));
    assert!(matches!(tokens::revoke(&t.pool, &actor, token.id).await, Err(Error::NotFound(_))));
}

#[tokio::test]
async fn bogus_tokens_and_other_peoples_tokens() {
    let t = TestDb::new().await;
    let (_, ada) = user(&t.pool, "ada@example.org", false).await;
    let (_, bob) = user(&t.pool, "bob@example.org", false).await;
    for bogus in ["", "trl_", "trl_00", "Bearer x", &"trl_a".repeat(100)] {
        assert!(matches!(tokens::authenticate(&t.pool, bogus, None).await, Err(Error::Unauthenticated)));
    }
    let (token, _) = tokens::create(&t.pool, &ada, "laptop", None).await.unwrap();
    assert!(matches!(tokens::revoke(&t.pool, &bob, token.id).await, Err(Error::NotFound(_))));
    assert!(tokens::list(&t.pool, &bob).await.unwrap().is_empty());
    assert!(matches!(tokens::create(&t.pool, &ada, "", None).await, Err(Error::BadRequest(_))));
    // A project token needs access to the project.
    let p = project(&t.pool, &bob, "Bob's").await;
    assert!(matches!(tokens::create(&t.pool, &ada, "x", Some(&p.slug)).await, Err(Error::NotFound(_))));
}
