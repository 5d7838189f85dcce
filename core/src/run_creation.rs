//! New runs written together: while [`CREATES_AT_ONCE`] statements creating runs are under way,
//! further creations wait and then go in one statement (group commit, see
//! [`crate::group_commit`]). Concurrent creators (a tuning sweep, parallel training scripts)
//! then share a statement and a commit, and the rows every creation locks for its foreign keys
//! (the experiment, the user, the project) are locked once per statement.
//!
//! The statement checks each run's experiment and caller itself, with [`crate::projects`]'s
//! rule: the experiment is active, a token scoped to a project reaches only it, instance
//! administrators act as admins, members need a role that may write. A creation it refuses
//! writes nothing and is answered `false`; the caller then looks the experiment up to say why.

use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::PgPool;

use crate::db::Maintenance;
use crate::group_commit::{GroupCommit, WriteTogether};
use crate::projects::{self, Access};
use crate::{audit, Actor, Result};

/// Statements creating runs at a time, at most. One: each commit then carries every creation
/// that arrived while the last was written, and waits for one flush of PostgreSQL's log; with
/// two, their flushes alternate and each carries half (see `docs/benchmarks.md`).
const CREATES_AT_ONCE: usize = 1;

/// Runs created by one statement at most.
const MAX_COMBINED: usize = 64;

/// The process analyzes `runs` each time the runs it created reach a power of two from this one
/// up to [`ANALYZE_UNTIL`] (see [`Growth`]).
const ANALYZE_FROM: usize = 64;
const ANALYZE_UNTIL: usize = 1 << 16;

/// A run to create, with its checked tags (the last value per key) and its creator.
#[derive(Debug)]
pub struct NewRun {
    pub uuid: String,
    pub experiment_id: i64,
    pub name: String,
    pub user_name: String,
    pub start_time: i64,
    pub tags: Vec<(String, String)>,
    pub actor: Actor,
}

/// Creates runs, combining concurrent creations. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct RunCreator {
    creates: GroupCommit<(), NewRun>,
}

impl Default for RunCreator {
    fn default() -> Self {
        Self::new()
    }
}

impl RunCreator {
    pub fn new() -> Self {
        let creates = GroupCommit::new(
            CREATES_AT_ONCE,
            MAX_COMBINED,
            |_: &NewRun| 1,
            CreateRuns { growth: Default::default() },
        );
        Self { creates }
    }

    /// Creates `run` when its experiment is active and its creator may write there, and hands
    /// it back; `None` (and nothing written) when not.
    pub async fn create(&self, db: &PgPool, run: NewRun) -> Result<Option<NewRun>> {
        let (created, run) = self.creates.submit(db, (), run).await?;
        Ok(created.then_some(run))
    }
}

/// The statement creating a batch of runs ([`CREATE_RUNS`]).
struct CreateRuns {
    growth: Growth,
}

impl WriteTogether<(), NewRun> for CreateRuns {
    fn write<'a>(&'a self, db: &'a PgPool, (): &'a (), runs: &'a [NewRun]) -> BoxFuture<'a, Result<Vec<bool>>> {
        async move {
            let created = insert(db, runs).await?;
            self.growth.note_created(db, created.len());
            Ok((1..=runs.len() as i64).map(|n| created.contains(&n)).collect())
        }
        .boxed()
    }
}

/// How many runs this process created, for analyzing `runs` while it grows from small.
///
/// Each connection keeps the plans of the lookups of a run by id made at the end of a creation
/// (the foreign key checks of its tags, the revision trigger), made again only after `runs` is
/// analyzed. Made while the table had a page or two (a young database, right after an analyze)
/// they scan the whole table, and autovacuum analyzes it again only about a minute later:
/// meanwhile a burst of creations (a sweep) scans thousands of runs for each run it creates.
/// Analyzing at every doubling of the runs created keeps each plan's table within twice the size
/// it was planned for, until the table is large enough that the index is chosen anyway.
#[derive(Debug)]
struct Growth {
    created: AtomicUsize,
    analyze: Maintenance,
}

impl Default for Growth {
    fn default() -> Self {
        Self { created: AtomicUsize::new(0), analyze: Maintenance::new("ANALYZE runs") }
    }
}

impl Growth {
    fn note_created(&self, db: &PgPool, runs: usize) {
        let before = self.created.fetch_add(runs, Ordering::Relaxed);
        let next_power = (before + 1).next_power_of_two();
        if runs > 0 && before + runs >= next_power && (ANALYZE_FROM..=ANALYZE_UNTIL).contains(&next_power) {
            // Beside further creations, which do not wait for it.
            self.analyze.start(db);
        }
    }
}

/// The statement: the checked experiments, the runs, their tags and audit rows; returns the
/// positions (from 1) of the runs it created.
static CREATE_RUNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH q AS (
            SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::int8[], $5::text[], $6::int8[], $7::text[], $8::int8[], $9::text[],
                                 $10::int8[], $11::bool[])
                WITH ORDINALITY AS q(uuid, experiment_id, name, user_id, user_name, start_time, email, token_id, ip, token_project, admin, n)
         ), ok AS (
            SELECT q.*, e.project_id, e.name AS experiment_name FROM q JOIN experiments e ON e.id = q.experiment_id
             WHERE e.lifecycle_stage = 'active' AND (q.token_project IS NULL OR e.project_id = q.token_project)
               AND (q.admin OR EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = e.project_id AND m.user_id = q.user_id AND m.role = ANY($12)))
         ), run AS (
            INSERT INTO runs (run_uuid, experiment_id, name, user_id, user_name, start_time)
            SELECT uuid, experiment_id, name, user_id, user_name, start_time FROM ok ORDER BY n RETURNING id, run_uuid
         ), tags AS (
            INSERT INTO run_tags (run_id, key, value)
            SELECT run.id, t.k, t.v FROM unnest($13::int8[], $14::text[], $15::text[]) AS t(n, k, v)
              JOIN ok ON ok.n = t.n JOIN run ON run.run_uuid = ok.uuid
         ), audit AS (
            {} SELECT ok.user_id, ok.email, ok.token_id, ok.project_id, 'run.create', 'run', ok.uuid,
                      jsonb_build_object('experiment', ok.experiment_name), ok.ip
                 FROM ok JOIN run ON run.run_uuid = ok.uuid ORDER BY ok.n
         )
         SELECT ok.n FROM ok JOIN run ON run.run_uuid = ok.uuid",
        audit::INSERT_INTO
    )
});

async fn insert(db: &PgPool, runs: &[NewRun]) -> Result<Vec<i64>> {
    let column = |f: fn(&NewRun) -> &str| -> Vec<&str> { runs.iter().map(|r| f(r)).collect() };
    let (mut tag_runs, mut tag_keys, mut tag_values) = (Vec::new(), Vec::new(), Vec::new());
    for (i, r) in runs.iter().enumerate() {
        for (k, v) in &r.tags {
            tag_runs.push(i as i64 + 1);
            tag_keys.push(k.as_str());
            tag_values.push(v.as_str());
        }
    }
    let created = sqlx::query_scalar(&CREATE_RUNS)
        .bind(column(|r| r.uuid.as_str()))
        .bind(runs.iter().map(|r| r.experiment_id).collect::<Vec<_>>())
        .bind(column(|r| r.name.as_str()))
        .bind(runs.iter().map(|r| r.actor.user_id).collect::<Vec<_>>())
        .bind(column(|r| r.user_name.as_str()))
        .bind(runs.iter().map(|r| r.start_time).collect::<Vec<_>>())
        .bind(column(|r| r.actor.email.as_str()))
        .bind(runs.iter().map(|r| r.actor.token.map(|t| t.token_id)).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.actor.ip.as_deref()).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.actor.token_project()).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.actor.is_instance_admin).collect::<Vec<_>>())
        .bind(projects::roles_allowing(Access::Write))
        .bind(&tag_runs)
        .bind(&tag_keys)
        .bind(&tag_values)
        .fetch_all(db)
        .await?;
    Ok(created)
}
