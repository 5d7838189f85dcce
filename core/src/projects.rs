//! Projects (team workspaces), their members and roles, and the permission check every
//! project-scoped operation goes through.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{FromRow, PgPool};

use crate::audit;
use crate::error::on_unique;
use crate::types::{parse_name, parse_text, Email, Role, Slug};
use crate::{Actor, Error, Result};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Project {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

/// A project as seen by one caller: with the caller's effective role.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProjectView {
    #[serde(flatten)]
    pub project: Project,
    pub role: Role,
    pub member_count: i64,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub role: RoleColumn,
    pub added_at: DateTime<Utc>,
}

/// A role read from a text column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct RoleColumn(pub Role);

impl TryFrom<String> for RoleColumn {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Ok(RoleColumn(s.parse()?))
    }
}

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read anything in the project (viewers and up).
    Read,
    /// Create and change things inside the project (editors and up).
    Write,
    /// Members and settings (project admins).
    Manage,
}

impl Access {
    fn min_role(self) -> Role {
        match self {
            Access::Read => Role::Viewer,
            Access::Write => Role::Editor,
            Access::Manage => Role::Admin,
        }
    }
}

/// Resolves a project by slug and checks the caller may do `access` in it.
///
/// Non-members get `NotFound` (a project's existence is not disclosed); members whose role is too
/// low get `Forbidden`. A token scoped to another project sees nothing here.
pub async fn authorize(db: &PgPool, actor: &Actor, slug: &str, access: Access) -> Result<(Project, Role)> {
    actor.require_full_token()?;
    authorize_any_token(db, actor, slug, access).await
}

/// [`authorize`] that also lets predict-only tokens through (prediction checks their endpoints).
pub(crate) async fn authorize_any_token(db: &PgPool, actor: &Actor, slug: &str, access: Access) -> Result<(Project, Role)> {
    let not_found = || Error::not_found(format!("project '{slug}' not found"));
    let project = sqlx::query_as::<_, Project>(
        "SELECT id, slug, name, description, created_at FROM projects WHERE slug = $1",
    )
    .bind(slug)
    .fetch_optional(db)
    .await?
    .ok_or_else(not_found)?;
    let member = if actor.is_instance_admin { None } else { member_role(db, actor, project.id).await? };
    let role = decide(actor, project.id, member, access, not_found, slug)?;
    Ok((project, role))
}

/// The caller's role in project `project_id` (`slug`), given its membership there
/// (`member`, looked up by the caller), checked against `access`: a token scoped to another
/// project and non-members get `not_found`, members below the needed role a 403.
pub(crate) fn decide(
    actor: &Actor,
    project_id: i64,
    member: Option<Role>,
    access: Access,
    not_found: impl Fn() -> Error,
    slug: &str,
) -> Result<Role> {
    if actor.token_project().is_some_and(|scope| scope != project_id) {
        return Err(not_found());
    }
    let role = if actor.is_instance_admin { Some(Role::Admin) } else { member };
    let role = role.ok_or_else(not_found)?;
    if role < access.min_role() {
        return Err(Error::forbidden(format!("your role in '{slug}' is {role}; this needs {}", access.min_role())));
    }
    Ok(role)
}

/// The roles whose members may do `access`, for a statement that checks the caller's membership
/// itself as [`decide`] does (with the token's project scope and instance administration).
pub(crate) fn roles_allowing(access: Access) -> Vec<&'static str> {
    [Role::Viewer, Role::Editor, Role::Admin].into_iter().filter(|r| *r >= access.min_role()).map(Role::as_str).collect()
}

/// The caller's membership role in a project, if any.
async fn member_role(db: &PgPool, actor: &Actor, project_id: i64) -> Result<Option<Role>> {
    let Some(user_id) = actor.user_id else { return Ok(None) };
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2")
            .bind(project_id)
            .bind(user_id)
            .fetch_optional(db)
            .await?;
    role.map(|r| r.parse()).transpose()
}

pub struct NewProject<'a> {
    pub name: &'a str,
    pub slug: Option<&'a str>,
    pub description: &'a str,
}

/// Any signed-in user may create a project and becomes its admin. `owner` names another user to
/// be its admin instead (instance administrators only).
pub async fn create(db: &PgPool, actor: &Actor, input: NewProject<'_>, owner: Option<&str>) -> Result<Project> {
    if actor.token_project().is_some() {
        return Err(Error::forbidden("a token scoped to one project cannot create projects"));
    }
    let name = parse_name("name", input.name, 100)?;
    let slug = match input.slug.filter(|s| !s.trim().is_empty()) {
        Some(s) => Slug::parse(s)?,
        None => Slug::from_name(&name)?,
    };
    let description = parse_text("description", input.description, 5000)?;
    let owner_id = match owner {
        Some(email) => {
            actor.require_instance_admin()?;
            let email = Email::parse(email)?;
            crate::auth::user_id_by_email(db, &email)
                .await?
                .ok_or_else(|| Error::not_found(format!("user '{email}' not found")))?
        }
        None => actor.require_user()?,
    };

    let mut tx = db.begin().await?;
    let project = sqlx::query_as::<_, Project>(
        "INSERT INTO projects (slug, name, description, created_by) VALUES ($1, $2, $3, $4)
         RETURNING id, slug, name, description, created_at",
    )
    .bind(slug.as_str())
    .bind(&name)
    .bind(&description)
    .bind(actor.user_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| on_unique(e, || format!("slug: a project '{slug}' already exists")))?;
    sqlx::query("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'admin')")
        .bind(project.id)
        .bind(owner_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        Some(project.id),
        "project.create",
        "project",
        &project.slug,
        json!({ "name": name, "owner_user_id": owner_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(project)
}

/// Projects the caller can see: memberships, or all for instance admins.
pub async fn list(db: &PgPool, actor: &Actor) -> Result<Vec<ProjectView>> {
    actor.require_full_token()?;
    #[derive(FromRow)]
    struct Row {
        id: i64,
        slug: String,
        name: String,
        description: String,
        created_at: DateTime<Utc>,
        role: Option<String>,
        member_count: i64,
    }
    let rows = sqlx::query_as::<_, Row>(
        "SELECT p.id, p.slug, p.name, p.description, p.created_at, m.role,
                (SELECT count(*) FROM project_members c WHERE c.project_id = p.id) AS member_count
           FROM projects p
           LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = $1
          WHERE ($2 OR m.user_id IS NOT NULL) AND ($3::bigint IS NULL OR p.id = $3)
          ORDER BY lower(p.name), p.id",
    )
    .bind(actor.user_id)
    .bind(actor.is_instance_admin)
    .bind(actor.token_project())
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            let role = match r.role {
                _ if actor.is_instance_admin => Role::Admin,
                Some(role) => role.parse()?,
                None => Role::Viewer,
            };
            Ok(ProjectView {
                project: Project {
                    id: r.id,
                    slug: r.slug,
                    name: r.name,
                    description: r.description,
                    created_at: r.created_at,
                },
                role,
                member_count: r.member_count,
            })
        })
        .collect()
}

pub async fn get(db: &PgPool, actor: &Actor, slug: &str) -> Result<ProjectView> {
    let (project, role) = authorize(db, actor, slug, Access::Read).await?;
    let member_count: i64 = sqlx::query_scalar("SELECT count(*) FROM project_members WHERE project_id = $1")
        .bind(project.id)
        .fetch_one(db)
        .await?;
    Ok(ProjectView { project, role, member_count })
}

/// Project admins change the name and description (the slug is permanent: URLs and clients use it).
pub async fn update(db: &PgPool, actor: &Actor, slug: &str, name: Option<&str>, description: Option<&str>) -> Result<Project> {
    let (project, _) = authorize(db, actor, slug, Access::Manage).await?;
    let name = name.map(|n| parse_name("name", n, 100)).transpose()?;
    let description = description.map(|d| parse_text("description", d, 5000)).transpose()?;
    let mut tx = db.begin().await?;
    let updated = sqlx::query_as::<_, Project>(
        "UPDATE projects SET name = coalesce($2, name), description = coalesce($3, description), updated_at = now()
          WHERE id = $1 RETURNING id, slug, name, description, created_at",
    )
    .bind(project.id)
    .bind(&name)
    .bind(&description)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(&mut tx, actor, Some(project.id), "project.update", "project", slug,
        json!({ "name": name, "description_changed": description.is_some() })).await?;
    tx.commit().await?;
    Ok(updated)
}

pub async fn members(db: &PgPool, actor: &Actor, slug: &str) -> Result<Vec<Member>> {
    let (project, _) = authorize(db, actor, slug, Access::Read).await?;
    let rows = sqlx::query_as::<_, Member>(
        "SELECT u.id AS user_id, u.email, u.display_name, m.role, m.added_at
           FROM project_members m JOIN users u ON u.id = m.user_id
          WHERE m.project_id = $1 ORDER BY u.email",
    )
    .bind(project.id)
    .fetch_all(db)
    .await?;
    Ok(rows)
}

/// Adds a user to the project or changes their role. Project admins only; a project always keeps
/// at least one admin.
pub async fn set_member(db: &PgPool, actor: &Actor, slug: &str, email: &str, role: Role) -> Result<Member> {
    let (project, _) = authorize(db, actor, slug, Access::Manage).await?;
    let email = Email::parse(email)?;
    let user_id = crate::auth::user_id_by_email(db, &email)
        .await?
        .ok_or_else(|| Error::not_found(format!("email: no user '{email}' exists; invite them first")))?;
    let mut tx = db.begin().await?;
    lock_members(&mut tx, project.id).await?;
    let previous: Option<String> =
        sqlx::query_scalar("SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2")
            .bind(project.id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    if previous.as_deref() == Some("admin") && role != Role::Admin {
        ensure_other_admin(&mut tx, project.id, user_id).await?;
    }
    sqlx::query(
        "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (project_id, user_id) DO UPDATE SET role = EXCLUDED.role",
    )
    .bind(project.id)
    .bind(user_id)
    .bind(role.as_str())
    .execute(&mut *tx)
    .await?;
    let action = if previous.is_some() { "member.update" } else { "member.add" };
    audit::record(&mut tx, actor, Some(project.id), action, "user", email.as_str(),
        json!({ "role": role, "previous_role": previous })).await?;
    let member = sqlx::query_as::<_, Member>(
        "SELECT u.id AS user_id, u.email, u.display_name, m.role, m.added_at
           FROM project_members m JOIN users u ON u.id = m.user_id
          WHERE m.project_id = $1 AND m.user_id = $2",
    )
    .bind(project.id)
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    crate::access_cache::access_changed();
    Ok(member)
}

pub async fn remove_member(db: &PgPool, actor: &Actor, slug: &str, email: &str) -> Result<()> {
    let (project, _) = authorize(db, actor, slug, Access::Manage).await?;
    let email = Email::parse(email)?;
    let mut tx = db.begin().await?;
    lock_members(&mut tx, project.id).await?;
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT m.user_id, m.role FROM project_members m JOIN users u ON u.id = m.user_id
          WHERE m.project_id = $1 AND lower(u.email) = $2",
    )
    .bind(project.id)
    .bind(email.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, role)) = row else {
        return Err(Error::not_found(format!("email: '{email}' is not a member of '{slug}'")));
    };
    if role == "admin" {
        ensure_other_admin(&mut tx, project.id, user_id).await?;
    }
    sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
        .bind(project.id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, actor, Some(project.id), "member.remove", "user", email.as_str(),
        json!({ "role": role })).await?;
    tx.commit().await?;
    crate::access_cache::access_changed();
    Ok(())
}

/// Serialises membership changes of one project, so two admins cannot demote each other at once.
async fn lock_members(tx: &mut sqlx::PgConnection, project_id: i64) -> Result<()> {
    sqlx::query("SELECT id FROM projects WHERE id = $1 FOR UPDATE")
        .bind(project_id)
        .execute(tx)
        .await?;
    Ok(())
}

async fn ensure_other_admin(tx: &mut sqlx::PgConnection, project_id: i64, user_id: i64) -> Result<()> {
    let others: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM project_members WHERE project_id = $1 AND role = 'admin' AND user_id <> $2",
    )
    .bind(project_id)
    .bind(user_id)
    .fetch_one(tx)
    .await?;
    if others == 0 {
        return Err(Error::conflict("a project must keep at least one admin; make someone else admin first"));
    }
    Ok(())
}
