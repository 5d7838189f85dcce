#![allow(dead_code)]

use trellis_core::auth::{self, User};
use trellis_core::projects::{self, NewProject, Project};
use trellis_core::types::Role;
use trellis_core::{Actor, PgPool};

pub use trellis_core::testing::TestDb;

pub async fn user(db: &PgPool, email: &str, admin: bool) -> (User, Actor) {
    let u = auth::create_user(db, &Actor::operator(), email, "", "password 123", admin).await.unwrap();
    let a = auth::session_actor(db, u.id, Some("10.0.0.1".into())).await.unwrap();
    (u, a)
}

pub async fn project(db: &PgPool, owner: &Actor, name: &str) -> Project {
    projects::create(db, owner, NewProject { name, slug: None, description: "" }, None).await.unwrap()
}

/// A project with an admin, an editor and a viewer, plus an outsider and an instance admin.
pub struct Team {
    pub project: Project,
    pub admin: Actor,
    pub editor: Actor,
    pub viewer: Actor,
    pub outsider: Actor,
    pub root: Actor,
}

pub async fn team(db: &PgPool) -> Team {
    let (_, admin) = user(db, "admin@example.org", false).await;
    let (_, editor) = user(db, "editor@example.org", false).await;
    let (_, viewer) = user(db, "viewer@example.org", false).await;
    let (_, outsider) = user(db, "outsider@example.org", false).await;
    let (_, root) = user(db, "root@example.org", true).await;
    let project = project(db, &admin, "Churn model").await;
    projects::set_member(db, &admin, &project.slug, "editor@example.org", Role::Editor).await.unwrap();
    projects::set_member(db, &admin, &project.slug, "viewer@example.org", Role::Viewer).await.unwrap();
    Team { project, admin, editor, viewer, outsider, root }
}
