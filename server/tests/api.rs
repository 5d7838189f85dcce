mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn().await;
    let res = app.get("/healthz", None).await;
    assert_eq!(res.status(), 200);
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ready");
    app.get("/v1/projects", None).await;
    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert!(text.contains("trellis_http_requests_total{method=\"GET\",route=\"/v1/projects\",status=\"401\"} 1"), "{text}");
    assert!(text.contains("trellis_http_request_duration_seconds_bucket"));
    assert!(text.contains("trellis_jobs{state=\"queued\"}"));
    assert!(text.contains("trellis_db_pool_connections{state=\"open\"}"));
}

#[tokio::test]
async fn readiness_fails_without_migrations() {
    let app = spawn().await;
    sqlx::query("DELETE FROM _sqlx_migrations").execute(&app.db).await.unwrap();
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status(), 503);
}

#[tokio::test]
async fn no_credentials_or_bad_ones_get_401() {
    let app = spawn().await;
    expect_error(app.get("/v1/projects", None).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    expect_error(app.get("/v1/projects", Some("trl_nope")).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let res = app.http.get(app.at("/v1/projects")).header("Authorization", "Basic Zm9vOmJhcg==").send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let (_, token) = app.user("ada@example.org", false).await;
    let me: Value = app.get("/v1/me", Some(&token)).await.json().await.unwrap();
    assert_eq!(me["email"], "ada@example.org");
}

/// Each role × action, by token and by session: allowed (2xx) or refused with the designed status.
#[tokio::test]
async fn role_by_action_matrix() {
    let app = spawn().await;
    let team = app.team().await;
    let job: i64 = sqlx::query_scalar(
        "INSERT INTO jobs (project_id, kind) SELECT id, 'x.y' FROM projects WHERE slug = 'churn' RETURNING id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let tokens = [&team.outsider, &team.viewer, &team.editor, &team.admin, &team.root];
    let mut sessions = Vec::new();
    for email in TEAM_EMAILS {
        sessions.push(app.session(email).await);
    }
    // (action, method, path, body, minimum role: 0 viewer, 1 editor, 2 admin, 3 instance admin only)
    let cases: Vec<(&str, Method, String, Option<Value>, usize)> = vec![
        ("read project", Method::GET, "/v1/projects/churn".into(), None, 0),
        ("list members", Method::GET, "/v1/projects/churn/members".into(), None, 0),
        ("list jobs", Method::GET, "/v1/projects/churn/jobs".into(), None, 0),
        ("read job", Method::GET, format!("/v1/jobs/{job}"), None, 0),
        ("read job logs", Method::GET, format!("/v1/jobs/{job}/logs"), None, 0),
        ("rename project", Method::PATCH, "/v1/projects/churn".into(), Some(json!({ "description": "x" })), 2),
        ("set a member's role", Method::POST, "/v1/projects/churn/members".into(), Some(json!({ "email": "viewer@example.org", "role": "viewer" })), 2),
        ("project audit", Method::GET, "/v1/projects/churn/audit".into(), None, 2),
        ("list users", Method::GET, "/v1/users".into(), None, 3),
        ("invite", Method::GET, "/v1/invites".into(), None, 3),
        ("instance audit", Method::GET, "/v1/audit".into(), None, 3),
        ("instance jobs", Method::GET, "/v1/jobs".into(), None, 3),
    ];
    for mode in ["token", "session"] {
        for level in 0..5 {
            let who = TEAM_EMAILS[level];
            let cred = if mode == "token" { Cred::Token(tokens[level]) } else { Cred::Session(&sessions[level]) };
            for (action, method, path, body, min) in &cases {
                let status = app.send_as(&cred, method.clone(), path, body.clone()).await.status();
                let allowed = level == 4 || (*min < 3 && level >= 1 && level - 1 >= *min);
                if allowed {
                    assert!(status.is_success(), "{who} ({mode}) should be allowed to {action}: got {status}");
                } else if level == 0 && *min < 3 {
                    assert_eq!(status, StatusCode::NOT_FOUND, "{who} ({mode}) must not see the project ({action})");
                } else {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{who} ({mode}) must be refused to {action}");
                }
            }
        }
    }
    // Cancel is a write: viewer refused, editor allowed, then the job is over.
    expect_error(app.send(Method::POST, &format!("/v1/jobs/{job}:cancel"), Some(&team.viewer), None).await, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.send(Method::POST, &format!("/v1/jobs/{job}:cancel"), Some(&team.editor), None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "cancelled");
    expect_error(app.send(Method::POST, &format!("/v1/jobs/{job}:cancel"), Some(&team.editor), None).await, StatusCode::CONFLICT, "conflict").await;
    // Removing a member: admin only.
    expect_error(app.send(Method::DELETE, "/v1/projects/churn/members?email=viewer@example.org", Some(&team.editor), None).await, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.send(Method::DELETE, "/v1/projects/churn/members?email=viewer@example.org", Some(&team.admin), None).await;
    assert_eq!(res.status(), 204);
    // The former viewer no longer sees the project.
    expect_error(app.get("/v1/projects/churn", Some(&team.viewer)).await, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn projects_members_tokens_and_audit_round_trip() {
    let app = spawn().await;
    let (_, ada) = app.user("ada@example.org", false).await;
    app.user("bob@example.org", false).await;
    let res = app.send(Method::POST, "/v1/projects", Some(&ada), Some(json!({ "name": "Fraud detection", "description": "cards" }))).await;
    assert_eq!(res.status(), 201);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["slug"], "fraud-detection");
    let list: Value = app.get("/v1/projects", Some(&ada)).await.json().await.unwrap();
    assert_eq!(list[0]["role"], "admin");
    assert_eq!(list[0]["member_count"], 1);

    let res = app.send(Method::POST, "/v1/projects/fraud-detection/members", Some(&ada), Some(json!({ "email": "bob@example.org", "role": "editor" }))).await;
    assert_eq!(res.status(), 200);
    let members: Value = app.get("/v1/projects/fraud-detection/members", Some(&ada)).await.json().await.unwrap();
    assert_eq!(members.as_array().unwrap().len(), 2);

    // A project-scoped token.
    let res = app.send(Method::POST, "/v1/tokens", Some(&ada), Some(json!({ "name": "x" }))).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await; // tokens cannot mint tokens
    let audit: Value = app.get("/v1/projects/fraud-detection/audit?action=member.", Some(&ada)).await.json().await.unwrap();
    assert_eq!(audit.as_array().unwrap().len(), 1);
    assert_eq!(audit[0]["action"], "member.add");
    assert_eq!(audit[0]["target_id"], "bob@example.org");
    assert_eq!(audit[0]["ip"], "127.0.0.1");
    let tokens: Value = app.get("/v1/tokens", Some(&ada)).await.json().await.unwrap();
    let id = tokens[0]["id"].as_i64().unwrap();
    assert!(tokens[0]["last_used_at"].is_string());
    assert_eq!(app.send(Method::DELETE, &format!("/v1/tokens/{id}"), Some(&ada), None).await.status(), 204);
    expect_error(app.get("/v1/projects", Some(&ada)).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_writes_nothing() {
    let app = spawn().await;
    let team = app.team().await;
    let count = || async { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM projects").fetch_one(&app.db).await.unwrap() };
    let before = count().await;
    let raw = |body: &'static str, ctype: Option<&'static str>| {
        let mut r = app.http.post(app.at("/v1/projects")).bearer_auth(&team.admin).body(body);
        if let Some(c) = ctype {
            r = r.header("Content-Type", c);
        }
        r.send()
    };
    let m = expect_error(raw("{\"name\": ", Some("application/json")).await.unwrap(), StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(m.contains("EOF") || m.contains("parse"), "{m}");
    let m = expect_error(raw("{\"name\": 5}", Some("application/json")).await.unwrap(), StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(m.contains("name"), "{m}");
    let m = expect_error(raw("{\"name\": \"x\", \"colour\": 1}", Some("application/json")).await.unwrap(), StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(m.contains("colour"), "{m}");
    expect_error(raw("{\"name\": \"x\"}", None).await.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let huge = format!("{{\"name\": \"big\", \"description\": \"{}\"}}", "a".repeat(100_000));
    let res = app.http.post(app.at("/v1/projects")).bearer_auth(&team.admin).header("Content-Type", "application/json").body(huge).send().await.unwrap();
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let m = expect_error(app.send(Method::POST, "/v1/projects", Some(&team.admin), Some(json!({ "name": "x", "slug": "Not A Slug" }))).await, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(m.starts_with("slug:"), "{m}");
    let m = expect_error(app.send(Method::POST, "/v1/projects/churn/members", Some(&team.admin), Some(json!({ "email": "viewer@example.org", "role": "owner" }))).await, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(m.contains("owner"), "{m}");
    expect_error(app.send(Method::POST, "/v1/projects", Some(&team.admin), Some(json!({ "name": "Churn", "slug": "churn" }))).await, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(count().await, before, "nothing was written");

    // Unknown ids, bad ids, unknown routes and actions.
    expect_error(app.get("/v1/projects/nope", Some(&team.admin)).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(app.get("/v1/jobs/424242", Some(&team.admin)).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(app.get("/v1/jobs/abc", Some(&team.admin)).await, StatusCode::BAD_REQUEST, "bad_request").await;
    expect_error(app.send(Method::POST, "/v1/jobs/1:explode", Some(&team.admin), None).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(app.get("/v1/nothing/here", Some(&team.admin)).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(app.get("/v1/projects/churn/audit?since=yesterday", Some(&team.admin)).await, StatusCode::BAD_REQUEST, "bad_request").await;
    expect_error(app.get("/v1/projects/churn/jobs?limit=100000", Some(&team.admin)).await, StatusCode::BAD_REQUEST, "bad_request").await;
    expect_error(app.get("/v1/projects/churn/jobs?state=done", Some(&team.admin)).await, StatusCode::BAD_REQUEST, "bad_request").await;
    expect_error(app.send(Method::DELETE, "/v1/projects/churn/members", Some(&team.admin), None).await, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[tokio::test]
async fn pages_redirect_to_setup_then_to_sign_in() {
    let app = spawn().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.get(app.at("/p/x/members")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/setup");
    let res = http.get(app.at("/setup")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Create administrator"));
    app.user("ada@example.org", true).await;
    let res = http.get(app.at("/p/x/members?tab=1")).send().await.unwrap();
    assert_eq!(res.headers()["location"], "/login?next=/p/x/members%3Ftab%3D1");
    let res = http.get(app.at("/setup")).send().await.unwrap();
    assert_eq!(res.headers()["location"], "/login");
    assert_eq!(http.get(app.at("/login")).send().await.unwrap().status(), 200);
}

/// Every documented operation is routed, and every /v1 route in the router is documented.
#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let app = spawn().await;
    let (_, token) = app.user("root@example.org", true).await;
    let doc: Value = app.get("/v1/openapi.json", None).await.json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            documented.insert(path.clone());
            let concrete = path.replace("{project}", "nope").replace("{dataset}", "d").replace("{version}", "1").replace("{job}", "1").replace("{token}", "1").replace("{endpoint}", "e").replace("{batch}", "1").replace("{model}", "m");
            let res = app.send(method.to_uppercase().parse().unwrap(), &concrete, Some(&token), None).await;
            let status = res.status();
            let body = res.text().await.unwrap();
            assert!(status != StatusCode::METHOD_NOT_ALLOWED && !body.contains("no API route"), "{method} {path} is documented but not routed: {status} {body}");
        }
    }
    let source = include_str!("../src/api/mod.rs");
    let routed: std::collections::BTreeSet<String> = source
        .split(".route(")
        .skip(1)
        .filter_map(|chunk| chunk.split('"').nth(1).map(str::to_string))
        .filter(|p| p != "/v1" && p != "/v1/{*rest}" && p != "/v1/openapi.json")
        .collect();
    let documented_plain: std::collections::BTreeSet<String> =
        documented.iter().map(|p| p.split(':').next().unwrap_or(p).to_string()).collect();
    assert_eq!(routed, documented_plain);
}

#[tokio::test]
async fn session_sign_in_through_the_server_function() {
    use leptos::server_fn::ServerFn;
    let app = spawn().await;
    app.user("ada@example.org", false).await;
    let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let path = <trellis_app::api::session::SignIn as ServerFn>::PATH;
    let res = http
        .post(app.at(path))
        .form(&[("email", "ada@example.org"), ("password", "wrong password")])
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = http
        .post(app.at(path))
        .form(&[("email", "ada@example.org"), ("password", "password 123")])
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("trellis_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag");
    // The session authenticates REST calls too.
    let me: Value = http.get(app.at("/v1/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["email"], "ada@example.org");
    assert!(me["token_id"].is_null());
    let sign_out = <trellis_app::api::session::SignOut as ServerFn>::PATH;
    http.post(app.at(sign_out)).header("Accept", "application/json").send().await.unwrap();
    assert_eq!(http.get(app.at("/v1/me")).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn session_cookies_are_secure_behind_https_and_cycled_at_sign_in() {
    use leptos::server_fn::ServerFn;
    let app = spawn_with(trellis_server::startup::RouterSettings {
        secure_cookies: true,
        session_idle_minutes: 60,
        max_body_bytes: 64 * 1024,
    })
    .await;
    app.user("ada@example.org", false).await;
    let path = <trellis_app::api::session::SignIn as ServerFn>::PATH;
    let sign_in = |cookie: Option<String>| {
        let mut r = app
            .http
            .post(app.at(path))
            .form(&[("email", "ada@example.org"), ("password", "password 123")])
            .header("Accept", "application/json");
        if let Some(c) = cookie {
            r = r.header("Cookie", c);
        }
        r.send()
    };
    let first = sign_in(None).await.unwrap();
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("Secure"), "{cookie}");
    let id = cookie.split(';').next().unwrap().to_string();
    // Signing in again with that session gives a new session id (no fixation).
    let second = sign_in(Some(id.clone())).await.unwrap();
    let renewed = second.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    assert_ne!(id, renewed);
}
