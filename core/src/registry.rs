//! The model registry, in MLflow's model: registered models belong to projects and hold numbered
//! versions made from a run's or a logged model's files; tags on both; aliases (`champion`) that
//! name one version and move in one statement; MLflow's legacy stages. Every function authorises
//! the caller against the model's project.
//!
//! Names seen through the MLflow API: with a token scoped to a project, the plain name within
//! that project; otherwise `<project-slug>.<name>` (a dot, because `/` separates the version in
//! `models:/<name>/<version>` URIs).

use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::projects::{self, Access};
use crate::search_filter::{self, Attribute, Target};
use crate::tracking::{check_tags, now_ms, pairs_of, upsert_pairs};
use crate::{audit, Actor, Error, Result};

pub const MAX_NAME_LENGTH: usize = 256;
pub const MAX_DESCRIPTION_LENGTH: usize = 100_000;
pub const STAGES: [&str; 4] = ["None", "Staging", "Production", "Archived"];

#[derive(Debug, Clone, Serialize)]
pub struct ModelVersion {
    pub project_id: i64,
    pub project_slug: String,
    pub model_name: String,
    pub version: i32,
    pub creation_time: i64,
    pub last_updated_time: i64,
    pub user_name: String,
    pub current_stage: String,
    pub description: String,
    pub source: String,
    pub storage_location: String,
    pub run_id: Option<String>,
    pub logged_model_id: Option<String>,
    pub run_link: String,
    pub status: String,
    pub status_message: String,
    pub tags: Vec<(String, String)>,
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegisteredModel {
    pub project_id: i64,
    pub project_slug: String,
    pub name: String,
    pub description: String,
    pub creation_time: i64,
    pub last_updated_time: i64,
    pub user_name: String,
    pub tags: Vec<(String, String)>,
    /// (alias, version)
    pub aliases: Vec<(String, i32)>,
    /// The latest version in each stage.
    pub latest_versions: Vec<ModelVersion>,
}

fn qualified(actor: &Actor, project_id: i64, slug: &str, name: &str) -> String {
    if actor.token_project() == Some(project_id) {
        name.to_string()
    } else {
        format!("{slug}.{name}")
    }
}

impl RegisteredModel {
    /// The name as the caller addresses it (see the module documentation).
    pub fn display_name(&self, actor: &Actor) -> String {
        qualified(actor, self.project_id, &self.project_slug, &self.name)
    }
}

impl ModelVersion {
    pub fn display_name(&self, actor: &Actor) -> String {
        qualified(actor, self.project_id, &self.project_slug, &self.model_name)
    }
}

pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > MAX_NAME_LENGTH {
        return Err(Error::bad_request(format!("Registered model name must be 1 to {MAX_NAME_LENGTH} characters")));
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '/' | ':' | '@' | '%' | '\\') || c.is_control()) {
        return Err(Error::bad_request(format!(
            "Invalid registered model name '{name}': it must not contain '{}' (names appear in models:/<name>/<version> URIs)",
            c.escape_debug()
        )));
    }
    Ok(())
}

pub(crate) fn check_description(d: &str) -> Result<()> {
    if d.len() > MAX_DESCRIPTION_LENGTH {
        return Err(Error::bad_request(format!("description is longer than {MAX_DESCRIPTION_LENGTH} bytes")));
    }
    Ok(())
}

/// Splits a registered model name given through the API into (project slug, name).
async fn resolve_name(db: &PgPool, actor: &Actor, raw: &str) -> Result<(String, String)> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Error::bad_request("Missing value for required parameter 'name'."));
    }
    let (slug, name) = if let Some(pid) = actor.token_project() {
        let slug: String = sqlx::query_scalar("SELECT slug FROM projects WHERE id = $1").bind(pid).fetch_one(db).await?;
        let name = raw.strip_prefix(&format!("{slug}.")).unwrap_or(raw).to_string();
        (slug, name)
    } else {
        match raw.split_once('.') {
            Some((slug, name)) if !slug.is_empty() && !name.is_empty() => (slug.to_string(), name.to_string()),
            _ => {
                return Err(Error::bad_request(format!(
                    "registered model name '{raw}' must be '<project>.<name>' (or use a token scoped to a project)"
                )))
            }
        }
    };
    check_name(&name)?;
    Ok((slug, name))
}

/// A registered model's row, after checking access.
pub(crate) struct ModelRef {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
}

fn model_missing(raw: &str) -> Error {
    Error::not_found(format!("Registered Model with name={raw} not found"))
}

async fn model_ref(db: &PgPool, actor: &Actor, raw: &str, access: Access) -> Result<ModelRef> {
    let (slug, name) = resolve_name(db, actor, raw).await?;
    let (project, _) = projects::authorize(db, actor, &slug, access).await.map_err(|e| match e {
        Error::NotFound(_) => model_missing(raw),
        other => other,
    })?;
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM registered_models WHERE project_id = $1 AND name = $2")
        .bind(project.id)
        .bind(&name)
        .fetch_optional(db)
        .await?;
    Ok(ModelRef { id: id.ok_or_else(|| model_missing(raw))?, project_id: project.id, name })
}

fn version_number(v: &str) -> Result<i32> {
    v.trim()
        .parse::<i32>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| Error::bad_request(format!("Parameter 'version' must be a positive integer, got '{v}'")))
}

/// A version's row id, after checking access to its model.
async fn version_ref(db: &PgPool, actor: &Actor, raw: &str, version: &str, access: Access) -> Result<(ModelRef, i64)> {
    let n = version_number(version)?;
    let m = model_ref(db, actor, raw, access).await?;
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM model_versions WHERE model_id = $1 AND version = $2")
        .bind(m.id)
        .bind(n)
        .fetch_optional(db)
        .await?;
    let id = id.ok_or_else(|| Error::not_found(format!("Model Version (name={raw}, version={n}) not found")))?;
    Ok((m, id))
}

// ---- registered models ----

pub async fn create_model(db: &PgPool, actor: &Actor, raw: &str, description: &str, tags: &[(String, String)]) -> Result<RegisteredModel> {
    let (slug, name) = resolve_name(db, actor, raw).await?;
    check_description(description)?;
    check_tags(tags)?;
    let (project, _) = projects::authorize(db, actor, &slug, Access::Write).await?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO registered_models (project_id, name, description, created_by, creation_time, last_updated_time)
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(project.id)
    .bind(&name)
    .bind(description)
    .bind(actor.user_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| crate::error::on_unique(e, || format!("Registered Model (name={raw}) already exists.")))?;
    upsert_pairs(&mut tx, "registered_model_tags", "model_id", id, tags, true).await?;
    audit::record(&mut tx, actor, Some(project.id), "registered_model.create", "registered_model", &name, serde_json::json!({})).await?;
    tx.commit().await?;
    load_models(db, &[id]).await?.pop().ok_or_else(|| model_missing(raw))
}

pub async fn get_model(db: &PgPool, actor: &Actor, raw: &str) -> Result<RegisteredModel> {
    let m = model_ref(db, actor, raw, Access::Read).await?;
    load_models(db, &[m.id]).await?.pop().ok_or_else(|| model_missing(raw))
}

/// Renames a model within its project (editors).
pub async fn rename_model(db: &PgPool, actor: &Actor, raw: &str, new_raw: &str) -> Result<RegisteredModel> {
    let m = model_ref(db, actor, raw, Access::Write).await?;
    let (slug, new_name) = resolve_name(db, actor, new_raw).await?;
    let (project, _) = projects::authorize(db, actor, &slug, Access::Write).await?;
    if project.id != m.project_id {
        return Err(Error::bad_request("a registered model cannot be renamed into another project"));
    }
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE registered_models SET name = $2, last_updated_time = $3 WHERE id = $1")
        .bind(m.id)
        .bind(&new_name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(|e| crate::error::on_unique(e, || format!("Registered Model (name={new_raw}) already exists.")))?;
    audit::record(&mut tx, actor, Some(m.project_id), "registered_model.rename", "registered_model", &new_name, serde_json::json!({ "from": m.name })).await?;
    tx.commit().await?;
    load_models(db, &[m.id]).await?.pop().ok_or_else(|| model_missing(new_raw))
}

pub async fn update_model(db: &PgPool, actor: &Actor, raw: &str, description: &str) -> Result<RegisteredModel> {
    check_description(description)?;
    let m = model_ref(db, actor, raw, Access::Write).await?;
    sqlx::query("UPDATE registered_models SET description = $2, last_updated_time = $3 WHERE id = $1")
        .bind(m.id)
        .bind(description)
        .bind(now_ms())
        .execute(db)
        .await?;
    load_models(db, &[m.id]).await?.pop().ok_or_else(|| model_missing(raw))
}

/// Deletes a registered model with its versions, tags and aliases (editors). The runs' and
/// logged models' files stay: the versions only pointed at them.
pub async fn delete_model(db: &PgPool, actor: &Actor, raw: &str) -> Result<()> {
    let m = model_ref(db, actor, raw, Access::Write).await?;
    let mut tx = db.begin().await?;
    if let Some(at) = crate::serving::serving_endpoint(&mut tx, m.id, None, None).await? {
        return Err(Error::conflict(format!("Registered model {raw} is deployed on endpoint {at}: undeploy it first")));
    }
    sqlx::query("DELETE FROM registered_models WHERE id = $1").bind(m.id).execute(&mut *tx).await?;
    audit::record(&mut tx, actor, Some(m.project_id), "registered_model.delete", "registered_model", &m.name, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_model_tag(db: &PgPool, actor: &Actor, raw: &str, key: &str, value: &str) -> Result<()> {
    let tag = [(key.to_string(), value.to_string())];
    check_tags(&tag)?;
    let m = model_ref(db, actor, raw, Access::Write).await?;
    let mut tx = db.begin().await?;
    upsert_pairs(&mut tx, "registered_model_tags", "model_id", m.id, &tag, true).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn delete_model_tag(db: &PgPool, actor: &Actor, raw: &str, key: &str) -> Result<()> {
    let m = model_ref(db, actor, raw, Access::Write).await?;
    let gone = sqlx::query("DELETE FROM registered_model_tags WHERE model_id = $1 AND key = $2").bind(m.id).bind(key).execute(db).await?;
    if gone.rows_affected() == 0 {
        return Err(Error::not_found(format!("No tag with key '{key}' on registered model {raw}")));
    }
    Ok(())
}

/// Registered models (the table is `rm`).
pub const REGISTERED_MODELS: Target = Target {
    id: "rm.id",
    metrics: None,
    params: None,
    tags: Some(("registered_model_tags", "model_id")),
    derived_tags: &[],
    attributes: &[
        Attribute { name: "name", sql: "rm.name", numeric: false, in_list: true },
        Attribute { name: "creation_timestamp", sql: "rm.creation_time", numeric: true, in_list: false },
        Attribute { name: "last_updated_timestamp", sql: "rm.last_updated_time", numeric: true, in_list: false },
        Attribute { name: "description", sql: "rm.description", numeric: false, in_list: false },
    ],
    synonyms: &[("timestamp", "creation_timestamp"), ("creation_time", "creation_timestamp"), ("last_updated_time", "last_updated_timestamp")],
    default_order: "rm.name ASC, rm.id ASC",
    missing_tag_is_not_equal: true,
    unique_keys: false,
    metrics_scope: None,
};

/// Model names in filters are the plain names (the project comes from the caller's access):
/// a `<project>.` prefix the caller can see is removed from `name` values.
fn plain_name_values(clauses: &mut [search_filter::Clause], slugs: &[String]) {
    let strip = |s: &mut String| {
        for slug in slugs {
            if let Some(rest) = s.strip_prefix(&format!("{slug}.")) {
                *s = rest.to_string();
                return;
            }
        }
    };
    for c in clauses {
        if c.entity == search_filter::Entity::Attribute("name".into()) {
            match &mut c.value {
                search_filter::Value::Text(t) if c.op == "=" || c.op == "!=" => strip(t),
                search_filter::Value::List(l) => l.iter_mut().for_each(strip),
                _ => {}
            }
        }
    }
}

/// Slugs of the projects the caller may read, or only the token's project.
async fn readable_projects(db: &PgPool, actor: &Actor) -> Result<Vec<(i64, String)>> {
    let rows: Vec<(i64, String)> = if actor.is_instance_admin {
        sqlx::query_as("SELECT id, slug FROM projects ORDER BY slug").fetch_all(db).await?
    } else {
        sqlx::query_as("SELECT p.id, p.slug FROM projects p JOIN project_members m ON m.project_id = p.id WHERE m.user_id = $1 ORDER BY p.slug")
            .bind(actor.user_id.unwrap_or(-1))
            .fetch_all(db)
            .await?
    };
    Ok(rows.into_iter().filter(|(id, _)| actor.token_project().is_none_or(|p| p == *id)).collect())
}

/// Registered models the caller can read, matching MLflow's filter grammar (`name`, `tags.`),
/// in `order_by` order then by name; paged by offset. `project` narrows to one project.
pub async fn search_models(
    db: &PgPool,
    actor: &Actor,
    project: Option<&str>,
    filter: &str,
    order_by: &[String],
    max_results: i64,
    offset: i64,
) -> Result<Vec<RegisteredModel>> {
    let from = "SELECT rm.id FROM registered_models rm";
    let found = search_ids(db, actor, &REGISTERED_MODELS, from, project, filter, order_by, max_results, offset).await?;
    load_models(db, &found).await
}

/// Ids of the rows of `target` (selected by `from`, whose registered model is `rm`) in the
/// projects the caller can read (or `project` only) that match a filter, in order; paged.
#[allow(clippy::too_many_arguments)]
async fn search_ids(
    db: &PgPool,
    actor: &Actor,
    target: &Target,
    from: &str,
    project: Option<&str>,
    filter: &str,
    order_by: &[String],
    max_results: i64,
    offset: i64,
) -> Result<Vec<i64>> {
    let mut clauses = search_filter::parse_filter_for(target, filter)?;
    let orders = search_filter::parse_order_for(target, order_by)?;
    let projects = match project {
        Some(slug) => {
            let (p, _) = projects::authorize(db, actor, slug, Access::Read).await?;
            vec![(p.id, p.slug)]
        }
        None => readable_projects(db, actor).await?,
    };
    let (ids, slugs): (Vec<i64>, Vec<String>) = projects.into_iter().unzip();
    plain_name_values(&mut clauses, &slugs);
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(from);
    q.push(" WHERE rm.project_id = ANY(").push_bind(ids).push(")");
    search_filter::push_where(&mut q, target, &clauses);
    search_filter::push_order(&mut q, target, &orders, &clauses);
    q.push(" LIMIT ").push_bind(max_results).push(" OFFSET ").push_bind(offset);
    Ok(q.build_query_scalar().fetch_all(db).await?)
}

/// The latest version of a model in each of `stages` (all stages when empty).
pub async fn latest_versions(db: &PgPool, actor: &Actor, raw: &str, stages: &[String]) -> Result<Vec<ModelVersion>> {
    let wanted: Vec<&str> = stages.iter().map(|s| canonical_stage(s)).collect::<Result<_>>()?;
    let m = model_ref(db, actor, raw, Access::Read).await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT ON (current_stage) id FROM model_versions WHERE model_id = $1 AND (cardinality($2::text[]) = 0 OR current_stage = ANY($2))
          ORDER BY current_stage, version DESC",
    )
    .bind(m.id)
    .bind(&wanted)
    .fetch_all(db)
    .await?;
    let mut versions = load_versions(db, &ids).await?;
    versions.sort_by_key(|v| v.version);
    Ok(versions)
}

// ---- versions ----

/// Where a new version's files are, from the `source` (and `model_id`) the client gives:
/// `models:/<logged model id>`, `runs:/<run id>/<path>` or `mlflow-artifacts:/…` inside a run
/// or a logged model of the same project. Other locations (local paths, other stores) are
/// refused: Trellis serves versions from its own storage.
/// Where a new version's files are, and the run or logged model it comes from.
pub(crate) struct Source {
    pub storage_location: String,
    pub run_id: Option<i64>,
    pub run_uuid: String,
    pub logged_model_id: Option<i64>,
    pub logged_model_uuid: String,
}

async fn resolve_source(db: &PgPool, actor: &Actor, project_id: i64, source: &str, run_id: Option<&str>, model_id: Option<&str>) -> Result<Source> {
    let bad = |why: &str| Error::bad_request(format!("Invalid model version source '{source}': {why}"));
    if source.contains('\0') || source.len() > 4096 {
        return Err(bad("not a valid URI"));
    }
    let logged = |id: String| async move {
        let m = crate::logged_models::model_ref(db, actor, &id, Access::Read).await?;
        if m.project_id != project_id {
            return Err(Error::bad_request(format!("logged model {id} belongs to another project")));
        }
        let (run_id, run_uuid) = m.source_run.unzip();
        Ok::<Source, Error>(Source {
            storage_location: crate::logged_models::artifact_uri(m.experiment_id, &id),
            run_id,
            run_uuid: run_uuid.unwrap_or_default(),
            logged_model_id: Some(m.id),
            logged_model_uuid: id,
        })
    };
    let run_in_project = |uuid: String| async move {
        let r = crate::tracking::run_ref(db, actor, &uuid, Access::Read).await?;
        if r.project_id != project_id {
            return Err(Error::bad_request(format!("run {uuid} belongs to another project")));
        }
        Ok::<(i64, i64, String), Error>((r.id, r.experiment_id, uuid))
    };
    let mut out = if let Some(rest) = source.strip_prefix("models:/") {
        let id = rest.trim_matches('/');
        if !id.starts_with("m-") || id.contains('/') {
            return Err(bad("a models:/ source must name a logged model, models:/<model id>"));
        }
        logged(id.to_string()).await?
    } else if let Some(rest) = source.strip_prefix("runs:/") {
        let (uuid, path) = rest.trim_start_matches('/').split_once('/').unwrap_or((rest, ""));
        let path = crate::artifacts::check_relative(path)?;
        let (id, experiment, uuid) = run_in_project(uuid.to_string()).await?;
        let mut location = format!("mlflow-artifacts:/{experiment}/{uuid}/artifacts");
        if !path.is_empty() {
            location = format!("{location}/{path}");
        }
        Source { storage_location: location, run_id: Some(id), run_uuid: uuid, logged_model_id: None, logged_model_uuid: String::new() }
    } else if let Some(rest) = source.strip_prefix("mlflow-artifacts:") {
        let at = crate::artifacts::ArtifactPath::parse(rest.trim_start_matches('/'))?;
        match at.owner {
            crate::artifacts::Owner::Run(uuid) => {
                let (id, experiment, uuid) = run_in_project(uuid).await?;
                if experiment.to_string() != at.experiment_id {
                    return Err(bad("the run is not in that experiment"));
                }
                Source { storage_location: source.to_string(), run_id: Some(id), run_uuid: uuid, logged_model_id: None, logged_model_uuid: String::new() }
            }
            crate::artifacts::Owner::LoggedModel(id) => {
                let mut s = logged(id).await?;
                s.storage_location = source.to_string();
                s
            }
        }
    } else {
        return Err(bad("Trellis registers models from its own storage: use models:/<model id>, runs:/<run id>/<path> or mlflow-artifacts:/…"));
    };
    if let Some(id) = model_id.filter(|m| !m.is_empty()) {
        if out.logged_model_uuid.is_empty() {
            let s = logged(id.to_string()).await?;
            out.logged_model_id = s.logged_model_id;
            out.logged_model_uuid = s.logged_model_uuid;
        } else if out.logged_model_uuid != id {
            return Err(bad(&format!("it names logged model {}, but model_id is {id}", out.logged_model_uuid)));
        }
    }
    if let Some(run) = run_id.filter(|r| !r.is_empty()) {
        if out.run_uuid.is_empty() {
            let (id, _, uuid) = run_in_project(run.to_string()).await?;
            out.run_id = Some(id);
            out.run_uuid = uuid;
        } else if out.run_uuid != run {
            return Err(bad(&format!("it belongs to run {}, but run_id is {run}", out.run_uuid)));
        }
    }
    Ok(out)
}

/// What a new version is made from.
#[derive(Debug, Default)]
pub struct NewVersion<'a> {
    pub source: &'a str,
    pub run_id: Option<&'a str>,
    pub model_id: Option<&'a str>,
    pub run_link: Option<&'a str>,
    pub description: Option<&'a str>,
    pub tags: &'a [(String, String)],
}

/// Registers the next version of a model (editors). Versions count from 1 per model; the new
/// number is taken under a lock on the model's row, so concurrent registrations never collide.
pub async fn create_version(db: &PgPool, actor: &Actor, raw: &str, new: NewVersion<'_>) -> Result<ModelVersion> {
    if new.source.trim().is_empty() {
        return Err(Error::bad_request("Missing value for required parameter 'source'."));
    }
    check_tags(new.tags)?;
    check_description(new.description.unwrap_or(""))?;
    let m = model_ref(db, actor, raw, Access::Write).await?;
    let src = resolve_source(db, actor, m.project_id, new.source.trim(), new.run_id, new.model_id).await?;
    let mut tx = db.begin().await?;
    let id = insert_version(&mut tx, actor, &m, &new, &src).await?;
    tx.commit().await?;
    load_versions(db, &[id]).await?.pop().ok_or_else(|| Error::not_found("model version vanished"))
}

/// The rows of a new version of model `m` from a resolved source, in the caller's transaction;
/// returns the version's row id.
pub(crate) async fn insert_version(tx: &mut sqlx::PgConnection, actor: &Actor, m: &ModelRef, new: &NewVersion<'_>, src: &Source) -> Result<i64> {
    let now = now_ms();
    sqlx::query("SELECT id FROM registered_models WHERE id = $1 FOR UPDATE").bind(m.id).execute(&mut *tx).await?;
    let version: i32 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model_id = $1")
        .bind(m.id)
        .fetch_one(&mut *tx)
        .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO model_versions (model_id, version, description, source, storage_location, run_id, run_uuid, logged_model_id,
                                     logged_model_uuid, run_link, created_by, user_name, creation_time, last_updated_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id",
    )
    .bind(m.id)
    .bind(version)
    .bind(new.description.unwrap_or(""))
    .bind(new.source.trim())
    .bind(&src.storage_location)
    .bind(src.run_id)
    .bind(&src.run_uuid)
    .bind(src.logged_model_id)
    .bind(&src.logged_model_uuid)
    .bind(new.run_link.unwrap_or(""))
    .bind(actor.user_id)
    .bind(&actor.email)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    upsert_pairs(&mut *tx, "model_version_tags", "version_id", id, new.tags, true).await?;
    sqlx::query("UPDATE registered_models SET last_updated_time = $2 WHERE id = $1").bind(m.id).bind(now).execute(&mut *tx).await?;
    if let Some(lm) = src.logged_model_id {
        // As MLflow does: the logged model lists the versions made from it in a tag.
        let current: Option<String> = sqlx::query_scalar("SELECT value FROM logged_model_tags WHERE model_id = $1 AND key = 'mlflow.modelVersions'")
            .bind(lm)
            .fetch_optional(&mut *tx)
            .await?;
        let mut list: Vec<serde_json::Value> = current.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_default();
        list.push(serde_json::json!({ "name": m.name, "version": version.to_string() }));
        sqlx::query(
            "INSERT INTO logged_model_tags (model_id, key, value) VALUES ($1, 'mlflow.modelVersions', $2)
             ON CONFLICT (model_id, key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(lm)
        .bind(serde_json::Value::Array(list).to_string())
        .execute(&mut *tx)
        .await?;
    }
    audit::record(&mut *tx, actor, Some(m.project_id), "model_version.create", "registered_model", &m.name, serde_json::json!({ "version": version, "source": new.source })).await?;
    Ok(id)
}

pub async fn get_version(db: &PgPool, actor: &Actor, raw: &str, version: &str) -> Result<ModelVersion> {
    let (_, id) = version_ref(db, actor, raw, version, Access::Read).await?;
    load_versions(db, &[id]).await?.pop().ok_or_else(|| Error::not_found("model version vanished"))
}

pub async fn update_version(db: &PgPool, actor: &Actor, raw: &str, version: &str, description: &str) -> Result<ModelVersion> {
    check_description(description)?;
    let (_, id) = version_ref(db, actor, raw, version, Access::Write).await?;
    sqlx::query("UPDATE model_versions SET description = $2, last_updated_time = $3 WHERE id = $1")
        .bind(id)
        .bind(description)
        .bind(now_ms())
        .execute(db)
        .await?;
    load_versions(db, &[id]).await?.pop().ok_or_else(|| Error::not_found("model version vanished"))
}

pub async fn delete_version(db: &PgPool, actor: &Actor, raw: &str, version: &str) -> Result<()> {
    let (m, id) = version_ref(db, actor, raw, version, Access::Write).await?;
    let mut tx = db.begin().await?;
    if let Some(at) = crate::serving::serving_endpoint(&mut tx, m.id, Some(id), None).await? {
        return Err(Error::conflict(format!("Model version {raw} {version} is deployed on endpoint {at}: undeploy it first")));
    }
    sqlx::query("DELETE FROM model_versions WHERE id = $1").bind(id).execute(&mut *tx).await?;
    audit::record(&mut tx, actor, Some(m.project_id), "model_version.delete", "registered_model", &m.name, serde_json::json!({ "version": version })).await?;
    tx.commit().await?;
    Ok(())
}

/// The artifact URI a version's files are downloaded from.
pub async fn download_uri(db: &PgPool, actor: &Actor, raw: &str, version: &str) -> Result<String> {
    let (_, id) = version_ref(db, actor, raw, version, Access::Read).await?;
    Ok(sqlx::query_scalar("SELECT storage_location FROM model_versions WHERE id = $1").bind(id).fetch_one(db).await?)
}

pub async fn set_version_tag(db: &PgPool, actor: &Actor, raw: &str, version: &str, key: &str, value: &str) -> Result<()> {
    let tag = [(key.to_string(), value.to_string())];
    check_tags(&tag)?;
    let (_, id) = version_ref(db, actor, raw, version, Access::Write).await?;
    let mut tx = db.begin().await?;
    upsert_pairs(&mut tx, "model_version_tags", "version_id", id, &tag, true).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn delete_version_tag(db: &PgPool, actor: &Actor, raw: &str, version: &str, key: &str) -> Result<()> {
    let (_, id) = version_ref(db, actor, raw, version, Access::Write).await?;
    let gone = sqlx::query("DELETE FROM model_version_tags WHERE version_id = $1 AND key = $2").bind(id).bind(key).execute(db).await?;
    if gone.rows_affected() == 0 {
        return Err(Error::not_found(format!("No tag with key '{key}' on model version {raw} {version}")));
    }
    Ok(())
}

fn canonical_stage(s: &str) -> Result<&'static str> {
    STAGES
        .iter()
        .find(|x| x.eq_ignore_ascii_case(s.trim()))
        .copied()
        .ok_or_else(|| Error::bad_request(format!("Invalid Model Version stage: {s}. Value must be one of None, Staging, Production, Archived.")))
}

/// MLflow's legacy stages: moves a version to a stage, optionally archiving the others there.
pub async fn transition_stage(db: &PgPool, actor: &Actor, raw: &str, version: &str, stage: &str, archive_existing: bool) -> Result<ModelVersion> {
    let stage = canonical_stage(stage)?;
    let (m, id) = version_ref(db, actor, raw, version, Access::Write).await?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    if archive_existing && (stage == "Staging" || stage == "Production") {
        sqlx::query("UPDATE model_versions SET current_stage = 'Archived', last_updated_time = $3 WHERE model_id = $1 AND current_stage = $2 AND id <> $4")
            .bind(m.id)
            .bind(stage)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("UPDATE model_versions SET current_stage = $2, last_updated_time = $3 WHERE id = $1").bind(id).bind(stage).bind(now).execute(&mut *tx).await?;
    audit::record(&mut tx, actor, Some(m.project_id), "model_version.stage", "registered_model", &m.name, serde_json::json!({ "version": version, "stage": stage })).await?;
    tx.commit().await?;
    load_versions(db, &[id]).await?.pop().ok_or_else(|| Error::not_found("model version vanished"))
}

/// Model versions (the table is `v`, its model `rm`).
pub const MODEL_VERSIONS: Target = Target {
    id: "v.id",
    metrics: None,
    params: None,
    tags: Some(("model_version_tags", "version_id")),
    derived_tags: &[],
    attributes: &[
        Attribute { name: "name", sql: "rm.name", numeric: false, in_list: true },
        Attribute { name: "version_number", sql: "v.version", numeric: true, in_list: false },
        Attribute { name: "run_id", sql: "v.run_uuid", numeric: false, in_list: true },
        Attribute { name: "source_path", sql: "v.source", numeric: false, in_list: false },
        Attribute { name: "model_id", sql: "v.logged_model_uuid", numeric: false, in_list: true },
        Attribute { name: "current_stage", sql: "v.current_stage", numeric: false, in_list: true },
        Attribute { name: "creation_timestamp", sql: "v.creation_time", numeric: true, in_list: false },
        Attribute { name: "last_updated_timestamp", sql: "v.last_updated_time", numeric: true, in_list: false },
    ],
    synonyms: &[("version", "version_number"), ("source", "source_path"), ("timestamp", "creation_timestamp"), ("stage", "current_stage")],
    default_order: "rm.name ASC, v.version DESC",
    missing_tag_is_not_equal: true,
    unique_keys: false,
    metrics_scope: None,
};

/// Model versions the caller can read, matching MLflow's filter grammar (`name`, `run_id`,
/// `version_number`, `source_path`, `tags.`), newest version of each model first; paged.
pub async fn search_versions(
    db: &PgPool,
    actor: &Actor,
    project: Option<&str>,
    filter: &str,
    order_by: &[String],
    max_results: i64,
    offset: i64,
) -> Result<Vec<ModelVersion>> {
    let from = "SELECT v.id FROM model_versions v JOIN registered_models rm ON rm.id = v.model_id";
    let found = search_ids(db, actor, &MODEL_VERSIONS, from, project, filter, order_by, max_results, offset).await?;
    load_versions(db, &found).await
}

// ---- aliases ----

fn check_alias(alias: &str) -> Result<()> {
    let ok = !alias.is_empty()
        && alias.len() <= MAX_NAME_LENGTH
        && alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !alias.eq_ignore_ascii_case("latest")
        && !(alias.len() > 1 && alias.starts_with(['v', 'V']) && alias[1..].chars().all(|c| c.is_ascii_digit()));
    if !ok {
        return Err(Error::bad_request(format!(
            "Invalid alias '{alias}': aliases are 1 to {MAX_NAME_LENGTH} letters, digits, '_' or '-', and not 'latest' or 'v<number>'"
        )));
    }
    Ok(())
}

/// Points an alias at a version, moving it if it named another (editors).
pub async fn set_alias(db: &PgPool, actor: &Actor, raw: &str, alias: &str, version: &str) -> Result<()> {
    check_alias(alias)?;
    let (m, id) = version_ref(db, actor, raw, version, Access::Write).await?;
    let mut tx = db.begin().await?;
    // An endpoint that follows the alias would serve the version: it must be deployable.
    if crate::serving::serving_endpoint(&mut tx, m.id, None, Some(alias)).await?.is_some() {
        crate::model_governance::check_deployable(&mut tx, id).await?;
    }
    sqlx::query(
        "INSERT INTO registered_model_aliases (model_id, alias, version_id) VALUES ($1, $2, $3)
         ON CONFLICT (model_id, alias) DO UPDATE SET version_id = EXCLUDED.version_id",
    )
    .bind(m.id)
    .bind(alias)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE registered_models SET last_updated_time = $2 WHERE id = $1").bind(m.id).bind(now_ms()).execute(&mut *tx).await?;
    audit::record(&mut tx, actor, Some(m.project_id), "registered_model.alias", "registered_model", &m.name, serde_json::json!({ "alias": alias, "version": version })).await?;
    // Endpoints that follow the alias serve the version it names now.
    crate::serving::notify(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn delete_alias(db: &PgPool, actor: &Actor, raw: &str, alias: &str) -> Result<()> {
    let m = model_ref(db, actor, raw, Access::Write).await?;
    let mut tx = db.begin().await?;
    if let Some(at) = crate::serving::serving_endpoint(&mut tx, m.id, None, Some(alias)).await? {
        return Err(Error::conflict(format!("Alias {alias} of registered model {raw} is followed by endpoint {at}: undeploy it first")));
    }
    let gone = sqlx::query("DELETE FROM registered_model_aliases WHERE model_id = $1 AND alias = $2").bind(m.id).bind(alias).execute(&mut *tx).await?;
    if gone.rows_affected() == 0 {
        return Err(Error::not_found(format!("Registered model alias {alias} not found.")));
    }
    tx.commit().await?;
    Ok(())
}

pub async fn version_by_alias(db: &PgPool, actor: &Actor, raw: &str, alias: &str) -> Result<ModelVersion> {
    let m = model_ref(db, actor, raw, Access::Read).await?;
    let id: Option<i64> = sqlx::query_scalar("SELECT version_id FROM registered_model_aliases WHERE model_id = $1 AND alias = $2")
        .bind(m.id)
        .bind(alias)
        .fetch_optional(db)
        .await?;
    let id = id.ok_or_else(|| Error::not_found(format!("Registered model alias {alias} not found.")))?;
    load_versions(db, &[id]).await?.pop().ok_or_else(|| Error::not_found("model version vanished"))
}

// ---- loading ----

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: i64,
    project_id: i64,
    project_slug: String,
    model_name: String,
    version: i32,
    creation_time: i64,
    last_updated_time: i64,
    user_name: String,
    current_stage: String,
    description: String,
    source: String,
    storage_location: String,
    run_id: Option<String>,
    logged_model_id: Option<String>,
    run_link: String,
    status: String,
    status_message: String,
}

pub(crate) async fn load_versions(db: &PgPool, ids: &[i64]) -> Result<Vec<ModelVersion>> {
    let mut by_id = versions_by_id(db, ids).await?;
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Versions with their tags and aliases, by row id.
async fn versions_by_id(db: &PgPool, ids: &[i64]) -> Result<std::collections::HashMap<i64, ModelVersion>> {
    let rows: Vec<VersionRow> = sqlx::query_as(
        "SELECT v.id, p.id AS project_id, p.slug AS project_slug, rm.name AS model_name, v.version, v.creation_time, v.last_updated_time,
                v.user_name, v.current_stage, v.description, v.source, v.storage_location, NULLIF(v.run_uuid, '') AS run_id,
                NULLIF(v.logged_model_uuid, '') AS logged_model_id, v.run_link, v.status, v.status_message
           FROM model_versions v JOIN registered_models rm ON rm.id = v.model_id JOIN projects p ON p.id = rm.project_id
          WHERE v.id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let mut tags = pairs_of(db, "model_version_tags", "version_id", ids).await?;
    let aliases: Vec<(i64, String)> =
        sqlx::query_as("SELECT version_id, alias FROM registered_model_aliases WHERE version_id = ANY($1) ORDER BY alias").bind(ids).fetch_all(db).await?;
    let mut by_id: std::collections::HashMap<i64, ModelVersion> = rows
        .into_iter()
        .map(|r| {
            (
                r.id,
                ModelVersion {
                    project_id: r.project_id,
                    project_slug: r.project_slug,
                    model_name: r.model_name,
                    version: r.version,
                    creation_time: r.creation_time,
                    last_updated_time: r.last_updated_time,
                    user_name: r.user_name,
                    current_stage: r.current_stage,
                    description: r.description,
                    source: r.source,
                    storage_location: r.storage_location,
                    run_id: r.run_id,
                    logged_model_id: r.logged_model_id,
                    run_link: r.run_link,
                    status: r.status,
                    status_message: r.status_message,
                    tags: tags.remove(&r.id).unwrap_or_default(),
                    aliases: Vec::new(),
                },
            )
        })
        .collect();
    for (id, a) in aliases {
        if let Some(mv) = by_id.get_mut(&id) {
            mv.aliases.push(a);
        }
    }
    Ok(by_id)
}

type ModelRow = (i64, i64, String, String, String, i64, i64, Option<String>);

async fn load_models(db: &PgPool, ids: &[i64]) -> Result<Vec<RegisteredModel>> {
    let rows: Vec<ModelRow> = sqlx::query_as(
        "SELECT rm.id, p.id, p.slug, rm.name, rm.description, rm.creation_time, rm.last_updated_time, u.email
           FROM registered_models rm JOIN projects p ON p.id = rm.project_id LEFT JOIN users u ON u.id = rm.created_by
          WHERE rm.id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let mut tags = pairs_of(db, "registered_model_tags", "model_id", ids).await?;
    let aliases: Vec<(i64, String, i32)> = sqlx::query_as(
        "SELECT a.model_id, a.alias, v.version FROM registered_model_aliases a JOIN model_versions v ON v.id = a.version_id
          WHERE a.model_id = ANY($1) ORDER BY a.alias",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let latest: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT DISTINCT ON (model_id, current_stage) model_id, id FROM model_versions WHERE model_id = ANY($1)
          ORDER BY model_id, current_stage, version DESC",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let mut versions = versions_by_id(db, &latest.iter().map(|l| l.1).collect::<Vec<_>>()).await?;
    let mut by_id: std::collections::HashMap<i64, RegisteredModel> = rows
        .into_iter()
        .map(|(id, project_id, project_slug, name, description, creation_time, last_updated_time, email)| {
            (
                id,
                RegisteredModel {
                    project_id,
                    project_slug,
                    name,
                    description,
                    creation_time,
                    last_updated_time,
                    user_name: email.unwrap_or_default(),
                    tags: tags.remove(&id).unwrap_or_default(),
                    aliases: Vec::new(),
                    latest_versions: Vec::new(),
                },
            )
        })
        .collect();
    for (id, a, v) in aliases {
        if let Some(m) = by_id.get_mut(&id) {
            m.aliases.push((a, v));
        }
    }
    for (model_id, version_id) in latest {
        if let (Some(m), Some(v)) = (by_id.get_mut(&model_id), versions.remove(&version_id)) {
            m.latest_versions.push(v);
        }
    }
    for m in by_id.values_mut() {
        m.latest_versions.sort_by_key(|v| v.version);
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Registers a run's model (a built-in model or a custom job's ONNX model, under `model/`) as
/// the next version of the project's model `name`, creating the model when it is new (editors).
pub async fn register_run_model(db: &PgPool, actor: &Actor, slug: &str, run_id: &str, name: &str) -> Result<ModelVersion> {
    let name = name.trim();
    check_name(name)?;
    let run = crate::tracking::run_ref(db, actor, run_id, Access::Write).await?;
    let (project, _) = projects::authorize(db, actor, slug, Access::Write).await?;
    if run.project_id != project.id {
        return Err(Error::not_found(format!("Run with id={run_id} not found")));
    }
    let has_model: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM run_artifacts WHERE run_id = $1 AND path IN ('model/model.json', 'model/model.onnx'))")
        .bind(run.id)
        .fetch_one(db)
        .await?;
    if !has_model {
        return Err(Error::bad_request(format!("run {run_id} has no model to register (model/model.json or model/model.onnx)")));
    }
    let raw = format!("{slug}.{name}");
    match create_model(db, actor, &raw, "", &[]).await {
        Ok(_) | Err(Error::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    let source = format!("runs:/{run_id}/model");
    create_version(db, actor, &raw, NewVersion { source: &source, run_id: Some(run_id), ..Default::default() }).await
}

/// The registered models of a project, for its Models page.
pub async fn project_models(db: &PgPool, actor: &Actor, slug: &str) -> Result<Vec<RegisteredModel>> {
    search_models(db, actor, Some(slug), "", &[], 1000, 0).await
}

/// All versions of one model of a project, newest first, for the model page.
pub async fn model_versions(db: &PgPool, actor: &Actor, slug: &str, name: &str) -> Result<(RegisteredModel, Vec<ModelVersion>)> {
    let (project, _) = projects::authorize(db, actor, slug, Access::Read).await?;
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM registered_models WHERE project_id = $1 AND name = $2")
        .bind(project.id)
        .bind(name)
        .fetch_optional(db)
        .await?;
    let id = id.ok_or_else(|| Error::not_found(format!("project '{slug}' has no registered model '{name}'")))?;
    let model = load_models(db, &[id]).await?.pop().ok_or_else(|| Error::not_found("model vanished"))?;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM model_versions WHERE model_id = $1 ORDER BY version DESC").bind(id).fetch_all(db).await?;
    Ok((model, load_versions(db, &ids).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_checked() {
        assert!(check_name("iris-classifier_v2.1").is_ok());
        for bad in ["", "a/b", "a@b", "a:b", "a%2f", "x\ny"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_alias("champion").is_ok());
        assert!(check_alias("challenger-2").is_ok());
        for bad in ["", "latest", "v3", "V12", "with space", "a/b"] {
            assert!(check_alias(bad).is_err(), "{bad:?}");
        }
        assert!(check_alias("v").is_ok());
        assert!(check_alias("v1a").is_ok());
    }

    #[test]
    fn stages_are_canonical() {
        assert_eq!(canonical_stage("production").unwrap(), "Production");
        assert_eq!(canonical_stage("none").unwrap(), "None");
        assert!(canonical_stage("prod").is_err());
    }
}
