//! The demo project a first run offers, so a newcomer sees a living platform.
//! Each capability adds its part here.

use serde_json::json;

use crate::datasets::{self, NewVersion};
use crate::projects::{self, NewProject, Project};
use crate::{audit, Actor, Core, Error, Result};

/// A small customer table (250 rows) for the demo's first dataset.
const CUSTOMERS_CSV: &[u8] = include_bytes!("../../ml/tests/fixtures/customers.csv");

pub const DEMO_SLUG: &str = "demo";

const DESCRIPTION: &str = "A sample workspace to explore Trellis. Invite a colleague as a viewer \
to see what business analysts get, create an API token to script against the REST API, and \
watch the audit log record every change.";

/// Creates the demo project with the caller as its admin, and a dataset with one version (its
/// profiling job is queued). Refused if the project already exists.
pub async fn create(core: &Core, actor: &Actor) -> Result<Project> {
    let db = &core.db;
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
    {
        let mut conn = db.acquire().await?;
        audit::record(&mut conn, actor, Some(project.id), "demo.create", "project", DEMO_SLUG, json!({})).await?;
    }
    datasets::create(db, actor, DEMO_SLUG, "customers", "Customers of a subscription service: age, income, a score, their plan, and whether they churned.").await?;
    let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(CUSTOMERS_CSV))]);
    let received = core.blobs.receive(body, u64::MAX).await?;
    let input = NewVersion { project: DEMO_SLUG, dataset: "customers", filename: "customers.csv", content_type: Some("text/csv"), content_encoding: None };
    datasets::add_version(core, actor, input, received).await?;
    Ok(project)
}
