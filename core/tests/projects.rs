mod common;

use common::*;
use trellis_core::audit::{self, AuditFilter};
use trellis_core::projects::{self, Access, NewProject};
use trellis_core::types::Role;
use trellis_core::{tokens, Error};

#[tokio::test]
async fn the_creator_becomes_admin_and_slugs_are_unique() {
    let t = TestDb::new().await;
    let (_, ada) = user(&t.pool, "ada@example.org", false).await;
    let p = project(&t.pool, &ada, "Churn Model (v2)").await;
    assert_eq!(p.slug, "churn-model-v2");
    let view = projects::get(&t.pool, &ada, &p.slug).await.unwrap();
    assert_eq!(view.role, Role::Admin);
    assert_eq!(view.member_count, 1);
    let dup = projects::create(&t.pool, &ada, NewProject { name: "Churn model v2", slug: None, description: "" }, None).await;
    assert!(matches!(dup, Err(Error::Conflict(_))), "{dup:?}");
    let bad = projects::create(&t.pool, &ada, NewProject { name: "x", slug: Some("Bad Slug"), description: "" }, None).await;
    assert!(matches!(bad, Err(Error::BadRequest(_))), "{bad:?}");
    let empty = projects::create(&t.pool, &ada, NewProject { name: "  ", slug: None, description: "" }, None).await;
    assert!(matches!(empty, Err(Error::BadRequest(_))), "{empty:?}");
}

#[tokio::test]
async fn roles_decide_who_reads_writes_and_manages() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let slug = team.project.slug.as_str();
    let cases = [
        (&team.outsider, None),
        (&team.viewer, Some(Role::Viewer)),
        (&team.editor, Some(Role::Editor)),
        (&team.admin, Some(Role::Admin)),
        (&team.root, Some(Role::Admin)),
    ];
    for (actor, role) in cases {
        for access in [Access::Read, Access::Write, Access::Manage] {
            let got = projects::authorize(&t.pool, actor, slug, access).await;
            let need = match access {
                Access::Read => Role::Viewer,
                Access::Write => Role::Editor,
                Access::Manage => Role::Admin,
            };
            match role {
                None => assert!(matches!(got, Err(Error::NotFound(_))), "{} {access:?}: {got:?}", actor.email),
                Some(r) if r >= need => assert_eq!(got.unwrap().1, r, "{} {access:?}", actor.email),
                Some(_) => assert!(matches!(got, Err(Error::Forbidden(_))), "{} {access:?}: {got:?}", actor.email),
            }
        }
    }
}

#[tokio::test]
async fn outsiders_do_not_see_projects_and_instance_admins_see_all() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    assert!(projects::list(&t.pool, &team.outsider).await.unwrap().is_empty());
    assert_eq!(projects::list(&t.pool, &team.viewer).await.unwrap().len(), 1);
    assert_eq!(projects::list(&t.pool, &team.root).await.unwrap().len(), 1);
    assert!(matches!(projects::members(&t.pool, &team.outsider, &team.project.slug).await, Err(Error::NotFound(_))));
}

#[tokio::test]
async fn only_project_admins_change_members_and_settings() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let slug = team.project.slug.as_str();
    user(&t.pool, "new@example.org", false).await;
    for actor in [&team.viewer, &team.editor] {
        let e = projects::set_member(&t.pool, actor, slug, "new@example.org", Role::Viewer).await.unwrap_err();
        assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
        let e = projects::update(&t.pool, actor, slug, Some("Renamed"), None).await.unwrap_err();
        assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
        let e = projects::remove_member(&t.pool, actor, slug, "viewer@example.org").await.unwrap_err();
        assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    }
    let m = projects::set_member(&t.pool, &team.admin, slug, "NEW@example.org", Role::Editor).await.unwrap();
    assert_eq!(m.role.0, Role::Editor);
    let m = projects::set_member(&t.pool, &team.admin, slug, "new@example.org", Role::Viewer).await.unwrap();
    assert_eq!(m.role.0, Role::Viewer);
    projects::remove_member(&t.pool, &team.admin, slug, "new@example.org").await.unwrap();
    assert_eq!(projects::members(&t.pool, &team.viewer, slug).await.unwrap().len(), 3);
    let e = projects::set_member(&t.pool, &team.admin, slug, "ghost@example.org", Role::Viewer).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    let p = projects::update(&t.pool, &team.admin, slug, Some("Renamed"), Some("New text")).await.unwrap();
    assert_eq!((p.name.as_str(), p.description.as_str(), p.slug.as_str()), ("Renamed", "New text", slug));
}

#[tokio::test]
async fn a_project_keeps_at_least_one_admin() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let slug = team.project.slug.as_str();
    let e = projects::remove_member(&t.pool, &team.admin, slug, "admin@example.org").await.unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");
    let e = projects::set_member(&t.pool, &team.admin, slug, "admin@example.org", Role::Editor).await.unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");
    projects::set_member(&t.pool, &team.admin, slug, "editor@example.org", Role::Admin).await.unwrap();
    projects::set_member(&t.pool, &team.admin, slug, "admin@example.org", Role::Viewer).await.unwrap();
}

#[tokio::test]
async fn a_token_scoped_to_one_project_reaches_no_other() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let other = project(&t.pool, &team.admin, "Fraud").await;
    let (_, secret) = tokens::create(&t.pool, &team.admin, "ci", Some(&team.project.slug)).await.unwrap();
    let actor = tokens::authenticate(&t.pool, &secret, None).await.unwrap();
    assert!(projects::get(&t.pool, &actor, &team.project.slug).await.is_ok());
    assert!(matches!(projects::get(&t.pool, &actor, &other.slug).await, Err(Error::NotFound(_))));
    let listed: Vec<String> = projects::list(&t.pool, &actor).await.unwrap().into_iter().map(|p| p.project.slug).collect();
    assert_eq!(listed, vec![team.project.slug.clone()]);
    let e = projects::create(&t.pool, &actor, NewProject { name: "Sneaky", slug: None, description: "" }, None).await;
    assert!(matches!(e, Err(Error::Forbidden(_))), "{e:?}");
}

#[tokio::test]
async fn the_audit_log_records_changes_and_filters() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let slug = team.project.slug.clone();
    projects::update(&t.pool, &team.admin, &slug, None, Some("about churn")).await.unwrap();
    let all = audit::list(&t.pool, &team.admin, &AuditFilter { project: Some(slug.clone()), ..Default::default() }).await.unwrap();
    let actions: Vec<&str> = all.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, vec!["project.update", "member.add", "member.add", "project.create"]);
    assert!(all.iter().all(|a| a.user_email == "admin@example.org" && a.ip.as_deref() == Some("10.0.0.1")));

    let members = audit::list(&t.pool, &team.admin, &AuditFilter { project: Some(slug.clone()), action: Some("member.".into()), ..Default::default() }).await.unwrap();
    assert_eq!(members.len(), 2);
    assert!(members.iter().all(|a| a.action == "member.add"));
    let page = audit::list(&t.pool, &team.admin, &AuditFilter { project: Some(slug.clone()), before_id: Some(all[1].id), limit: Some(1), ..Default::default() }).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, all[2].id);
    let nobody = audit::list(&t.pool, &team.admin, &AuditFilter { project: Some(slug.clone()), user: Some("viewer".into()), ..Default::default() }).await.unwrap();
    assert!(nobody.is_empty());

    // Project audit is for project admins; the instance log for instance admins.
    assert!(matches!(audit::list(&t.pool, &team.editor, &AuditFilter { project: Some(slug.clone()), ..Default::default() }).await, Err(Error::Forbidden(_))));
    assert!(matches!(audit::list(&t.pool, &team.admin, &AuditFilter::default()).await, Err(Error::Forbidden(_))));
    assert!(audit::list(&t.pool, &team.root, &AuditFilter::default()).await.unwrap().len() >= 4);
    assert!(matches!(audit::list(&t.pool, &team.root, &AuditFilter { limit: Some(0), ..Default::default() }).await, Err(Error::BadRequest(_))));
}
