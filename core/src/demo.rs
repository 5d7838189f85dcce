//! The demo project a first run offers, so a newcomer sees a living platform.
//! Each capability adds its part here.

use serde_json::json;
use sqlx::PgPool;

use crate::projects::{self, NewProject, Project};
use crate::{audit, Actor, Error, Result};

pub const DEMO_SLUG: &str = "demo";

const DESCRIPTION: &str = "A sample workspace to explore Trellis. Invite a colleague as a viewer \
to see what business analysts get, create an API token to script against the REST API, and \
watch the audit log record every change.";

/// Creates the demo project with the caller as its admin. Refused if it already exists.
pub async fn create(db: &PgPool, actor: &Actor) -> Result<Project> {
    actor.require_user()?;
    let project = projects::create(
        db,
        actor,
        NewProject { name: "Demo project", slug: Some(DEMO_SLUG), description: DESCRIPTION },
        None,
    )
    .await
    .map_err(|e| match e {
        Error::Conflict(_) => Error::conflict("the demo project already exists"),
        other => other,
    })?;
    let mut conn = db.acquire().await?;
    audit::record(&mut conn, actor, Some(project.id), "demo.create", "project", DEMO_SLUG, json!({})).await?;
    Ok(project)
}
