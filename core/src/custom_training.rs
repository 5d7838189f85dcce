//! Custom training jobs: the user's own code (one file or an archive) and a command, run by a
//! worker in a directory of its own, with its own process group, under a wall-clock limit.
//!
//! The process gets the MLflow variables that point its `mlflow` client at this Trellis and at a
//! run made for it (`MLFLOW_TRACKING_URI`, `MLFLOW_TRACKING_TOKEN` — a token for this job only —,
//! `MLFLOW_RUN_ID`, `MLFLOW_EXPERIMENT_ID`), the chosen dataset version's splits as CSV files in
//! `TRELLIS_DATA_DIR`, and `TRELLIS_OUTPUT_DIR`. Its output streams into the job's log. When it
//! exits, the files it left in the output directory become the run's artifacts, and an `.onnx`
//! file among them becomes the run's model, with the signature read from its graph.
//!
//! This runs the user's code on the worker machine as the worker's own OS user, so only editors
//! may start it. The process does not inherit the worker's environment (database URL, storage
//! credentials): it sees only the variables listed in [`base_environment`] and those the job sets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::code_archive::{self, CodeSummary};
use crate::datasets::{self, Format};
use crate::projects::{self, Access};
use crate::storage::Received;
use crate::training::{self, SplitRule, Submitted};
use crate::worker::{JobContext, Permanent};
use crate::{audit, tracking, Actor, Core, Error, Result};

pub const CUSTOM_KIND: &str = "training.custom";
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 3600;
pub const MAX_TIMEOUT_SECONDS: u64 = 7 * 24 * 3600;
/// Longest command accepted.
pub const MAX_COMMAND_LENGTH: usize = 10_000;
/// Most lines of output a job keeps in its log.
pub const MAX_LOG_LINES: usize = 50_000;
/// Longest line kept (longer ones are cut).
pub const MAX_LINE_CHARS: usize = 4_000;
/// Most files taken from the output directory.
pub const MAX_OUTPUT_FILES: usize = 1_000;
/// Seconds between asking a timed-out process group to stop and killing it.
const GRACE_SECONDS: u64 = 10;

/// The `spec` part of `POST /v1/projects/{project}/custom-jobs`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomJobSpec {
    /// Experiment name in the project; created when missing.
    pub experiment: String,
    /// Run by `/bin/sh -c` in the directory holding the code, e.g. `python train.py --epochs 5`.
    pub command: String,
    /// A dataset whose version's splits are written to `TRELLIS_DATA_DIR` (with `version`).
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub version: Option<i32>,
    /// The run's name (default: `custom-<first word of the command's script>`).
    #[serde(default)]
    pub run_name: Option<String>,
    /// Wall-clock limit in seconds (default 3600, at most 7 days).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// More environment variables for the process.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// The stored code.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CodeRef {
    sha256: String,
    size: u64,
    filename: String,
}

/// The dataset version whose splits the job writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DataRef {
    version_id: i64,
    label: String,
    split: SplitRule,
}

/// What the job needs, fixed at submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payload {
    run_id: i64,
    run_uuid: String,
    experiment_id: i64,
    command: String,
    timeout_seconds: u64,
    env: BTreeMap<String, String>,
    code: CodeRef,
    data: Option<DataRef>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request(msg)
}

/// Variables Trellis sets itself; a job's `env` may not name them.
fn reserved(name: &str) -> bool {
    name.starts_with("TRELLIS_")
        || matches!(name, "MLFLOW_TRACKING_URI" | "MLFLOW_TRACKING_TOKEN" | "MLFLOW_RUN_ID" | "MLFLOW_EXPERIMENT_ID" | "MLFLOW_EXPERIMENT_NAME")
}

/// Checks the caller may start custom jobs in the project (editors), before the code is read.
pub async fn authorize(db: &PgPool, actor: &Actor, project: &str) -> Result<()> {
    projects::authorize(db, actor, project, Access::Write).await.map(|_| ())
}

/// Checks the fields of a spec that need no database.
fn check_spec(spec: &CustomJobSpec) -> Result<(String, u64, Option<String>)> {
    let experiment = spec.experiment.trim();
    if experiment.is_empty() || experiment.len() > 500 {
        return Err(bad("experiment: a name of 1–500 characters is needed"));
    }
    let command = spec.command.trim();
    if command.is_empty() {
        return Err(bad("command: the command to run is missing (e.g. \"python train.py\")"));
    }
    if command.len() > MAX_COMMAND_LENGTH || command.contains('\0') {
        return Err(bad(format!("command: at most {MAX_COMMAND_LENGTH} characters, without NUL bytes")));
    }
    let timeout = spec.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    if !(1..=MAX_TIMEOUT_SECONDS).contains(&timeout) {
        return Err(bad(format!("timeout_seconds: must be between 1 and {MAX_TIMEOUT_SECONDS}")));
    }
    if spec.env.len() > 100 {
        return Err(bad("env: at most 100 variables"));
    }
    for (k, v) in &spec.env {
        let ok_name = !k.is_empty()
            && k.len() <= 200
            && k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok_name {
            return Err(bad(format!("env: '{}' is not a variable name (letters, digits and _, not starting with a digit)", k.escape_debug())));
        }
        if reserved(k) {
            return Err(bad(format!("env: {k} is set by Trellis and cannot be given")));
        }
        if v.len() > 10_000 || v.contains('\0') {
            return Err(bad(format!("env: the value of {k} must be at most 10000 characters, without NUL bytes")));
        }
    }
    let run_name = spec.run_name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
    if run_name.as_ref().is_some_and(|n| n.len() > 250) {
        return Err(bad("run_name: at most 250 characters"));
    }
    Ok((command.to_string(), timeout, run_name))
}

/// The default run name: `custom-` and the first argument that names a file with an extension
/// (`train.py`).
fn default_run_name(command: &str, filename: &str) -> String {
    let script = command
        .split_whitespace()
        .filter(|w| !w.starts_with('-'))
        .map(|w| w.rsplit('/').next().unwrap_or(w))
        .find(|name| name.rsplit_once('.').is_some_and(|(stem, ext)| !stem.is_empty() && !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphabetic())))
        .unwrap_or(filename);
    let mut name = format!("custom-{script}");
    name.truncate(100);
    name
}

/// Checks a custom job whole — spec, dataset version, code — then stores the code and writes
/// the run (SCHEDULED, with the code as its `code/<file>` artifact) and the job in one
/// transaction. The upload is always discarded.
pub async fn submit(core: &Core, actor: &Actor, project: &str, spec: CustomJobSpec, filename: &str, code: Received) -> Result<Submitted> {
    let result = submit_inner(core, actor, project, spec, filename, &code).await;
    code.discard().await;
    result
}

async fn submit_inner(core: &Core, actor: &Actor, project: &str, spec: CustomJobSpec, filename: &str, code: &Received) -> Result<Submitted> {
    let (project, _) = projects::authorize(&core.db, actor, project, Access::Write).await?;
    let (command, timeout, run_name) = check_spec(&spec)?;
    let filename = code_archive::check_filename(filename)?;
    let data = match (&spec.dataset, spec.version) {
        (None, None) => None,
        (Some(dataset), Some(version)) => Some(data_ref(core, actor, &project.slug, dataset, version).await?),
        _ => return Err(bad("dataset and version: give both, or neither")),
    };
    let path = code.path.clone();
    let name = filename.clone();
    let summary: CodeSummary = tokio::task::spawn_blocking(move || code_archive::inspect(&path, &name))
        .await
        .map_err(anyhow::Error::from)??;

    core.blobs.put_file(&code.sha256, &code.path).await?;
    let written = write_rows(core, actor, &project, &spec, Written { command, timeout, run_name, filename, data, code, summary }).await;
    if written.is_err() {
        // The blob may be new and now unreferenced.
        let _ = crate::datasets::collect_garbage(core, vec![code.sha256.clone()]).await;
    }
    written
}

struct Written<'a> {
    command: String,
    timeout: u64,
    run_name: Option<String>,
    filename: String,
    data: Option<(DataRef, String, i32)>,
    code: &'a Received,
    summary: CodeSummary,
}

async fn write_rows(core: &Core, actor: &Actor, project: &projects::Project, spec: &CustomJobSpec, w: Written<'_>) -> Result<Submitted> {
    let mut tx = core.db.begin().await?;
    let experiment_id = training::experiment_for(&mut tx, actor, project.id, spec.experiment.trim()).await?;
    let run_name = w.run_name.clone().unwrap_or_else(|| default_run_name(&w.command, &w.filename));
    let (run_id, run_uuid) = training::insert_scheduled_run(&mut tx, experiment_id, &run_name, actor.user_id, &actor.email).await?;
    let tags = vec![
        ("mlflow.user".to_string(), actor.email.clone()),
        ("mlflow.source.type".to_string(), "JOB".to_string()),
        ("mlflow.source.name".to_string(), format!("trellis:{CUSTOM_KIND}")),
        ("trellis.command".to_string(), w.command.clone()),
        ("trellis.code".to_string(), format!("code/{}", w.filename)),
    ];
    tracking::set_run_tags(&mut tx, run_id, &tags).await?;
    if let Some((d, dataset, version)) = &w.data {
        training::link_dataset_version(&mut tx, run_id, &project.slug, dataset, *version, d.version_id).await?;
    }
    crate::artifacts::record_for_new_run(&mut tx, run_id, &format!("code/{}", w.filename), &w.code.sha256, w.code.size as i64).await?;
    let payload = Payload {
        run_id,
        run_uuid: run_uuid.clone(),
        experiment_id,
        command: w.command.clone(),
        timeout_seconds: w.timeout,
        env: spec.env.clone(),
        code: CodeRef { sha256: w.code.sha256.clone(), size: w.code.size, filename: w.filename.clone() },
        data: w.data.as_ref().map(|(d, _, _)| d.clone()),
    };
    let job_id: i64 = sqlx::query_scalar("INSERT INTO jobs (project_id, kind, payload, max_attempts, created_by) VALUES ($1, $2, $3, 1, $4) RETURNING id")
        .bind(project.id)
        .bind(CUSTOM_KIND)
        .bind(serde_json::to_value(&payload).map_err(anyhow::Error::from)?)
        .bind(actor.user_id)
        .fetch_one(&mut *tx)
        .await?;
    tracking::set_run_tags(&mut tx, run_id, &[("trellis.job_id".to_string(), job_id.to_string())]).await?;
    audit::record(
        &mut tx,
        actor,
        Some(project.id),
        "training.custom.submit",
        "run",
        &run_uuid,
        json!({
            "job_id": job_id,
            "command": w.command,
            "code": { "file": w.filename, "sha256": w.code.sha256, "kind": w.summary.kind, "files": w.summary.files },
            "dataset": w.data.as_ref().map(|(d, _, _)| d.label.clone()),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Submitted { job_id, run_id: run_uuid, experiment_id: experiment_id.to_string() })
}

/// The dataset version a job reads: ready, with a training part to write.
async fn data_ref(core: &Core, actor: &Actor, project: &str, dataset: &str, version: i32) -> Result<(DataRef, String, i32)> {
    let (_, ds) = datasets::authorize(&core.db, actor, project, dataset, Access::Read).await?;
    let row: Option<(i64, String, Option<i64>)> =
        sqlx::query_as("SELECT id, status, row_count FROM dataset_versions WHERE dataset_id = $1 AND version = $2")
            .bind(ds.id)
            .bind(version)
            .fetch_optional(&core.db)
            .await?;
    let Some((version_id, status, row_count)) = row else {
        return Err(Error::not_found(format!("dataset '{}' has no version {version}", ds.name)));
    };
    let label = format!("{}@v{version}", ds.name);
    match status.as_str() {
        "ready" => {}
        "profiling" => return Err(bad(format!("{label} is still being profiled; start the job once its profile is ready"))),
        _ => return Err(bad(format!("{label} failed profiling and cannot be used for training"))),
    }
    let (split, counts) = training::saved_split(&core.db, version_id, row_count).await?;
    if counts[0] == 0 {
        return Err(bad(format!("{label} has no training rows in its split (train={}, validation={}, test={})", counts[0], counts[1], counts[2])));
    }
    Ok((DataRef { version_id, label, split }, ds.name, version))
}

// ---- The worker's side -------------------------------------------------------------------

/// What stays to be undone if the job's future is dropped (cancellation, shutdown) before it
/// finishes: the process group is killed at once, the job's token revoked and its run ended.
struct Cleanup {
    db: PgPool,
    job_id: i64,
    run_id: i64,
    process_group: Option<nix::unistd::Pid>,
    finished: bool,
}

impl Cleanup {
    fn kill_group(&mut self) {
        if let Some(pg) = self.process_group.take() {
            let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.kill_group();
        if self.finished {
            return;
        }
        let (db, job_id, run_id) = (self.db.clone(), self.job_id, self.run_id);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = crate::tokens::revoke_for_job(&db, job_id).await;
                let _ = end_run(&db, run_id, "KILLED", true).await;
            });
        }
    }
}

/// Ends a run; with `only_if_open`, only while it is still SCHEDULED or RUNNING (a script that
/// ended its run itself keeps its status).
async fn end_run(db: &PgPool, run_id: i64, status: &str, only_if_open: bool) -> Result<()> {
    sqlx::query(
        "UPDATE runs SET status = $2, end_time = $3 WHERE id = $1 AND (NOT $4 OR status IN ('SCHEDULED', 'RUNNING'))",
    )
    .bind(run_id)
    .bind(status)
    .bind(tracking::now_ms())
    .bind(only_if_open)
    .execute(db)
    .await?;
    Ok(())
}

/// How the process ended.
enum Ended {
    Exited(i32),
    Signalled(i32),
    TimedOut,
}

/// The `training.custom` job.
pub async fn custom_job(ctx: JobContext, core: Core) -> anyhow::Result<Option<Value>> {
    let p: Payload = ctx.payload()?;
    let mut cleanup = Cleanup { db: core.db.clone(), job_id: ctx.job.id, run_id: p.run_id, process_group: None, finished: false };
    let result = run_custom(&ctx, &core, &p, &mut cleanup).await;
    cleanup.kill_group();
    crate::tokens::revoke_for_job(&core.db, ctx.job.id).await?;
    match &result {
        Ok(_) => end_run(&core.db, p.run_id, "FINISHED", true).await?,
        Err(_) => end_run(&core.db, p.run_id, "FAILED", false).await?,
    }
    cleanup.finished = true;
    result
}

async fn run_custom(ctx: &JobContext, core: &Core, p: &Payload, cleanup: &mut Cleanup) -> anyhow::Result<Option<Value>> {
    let Some(base_url) = core.public_url.clone() else {
        return Err(Permanent(
            "this worker does not know the URL of Trellis for the job's MLflow client; start it with TRELLIS_PUBLIC_URL set".into(),
        )
        .into());
    };
    let (user_id, project_id, project_slug): (Option<i64>, Option<i64>, Option<String>) = sqlx::query_as(
        "SELECT j.created_by, j.project_id, p.slug FROM jobs j LEFT JOIN projects p ON p.id = j.project_id WHERE j.id = $1",
    )
    .bind(ctx.job.id)
    .fetch_one(&core.db)
    .await?;
    let (Some(user_id), Some(project_id)) = (user_id, project_id) else {
        return Err(Permanent("the user who started this job no longer exists".into()).into());
    };
    sqlx::query("UPDATE runs SET status = 'RUNNING', end_time = NULL WHERE id = $1").bind(p.run_id).execute(&core.db).await?;

    let work = tempfile::Builder::new().prefix(&format!("trellis-job-{}-", ctx.job.id)).tempdir()?;
    let (code_dir, data_dir, output_dir, tmp_dir) =
        (work.path().join("code"), work.path().join("data"), work.path().join("output"), work.path().join("tmp"));
    for d in [&code_dir, &data_dir, &output_dir, &tmp_dir] {
        std::fs::create_dir(d)?;
    }

    // The code.
    ctx.progress(0.0, "unpacking the code").await?;
    let archive = work.path().join("upload");
    {
        let mut reader = core.blobs.reader(&p.code.sha256).await?;
        let archive = archive.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<u64> { std::io::copy(&mut reader, &mut std::fs::File::create(&archive)?) }).await??;
    }
    let (a, f, d) = (archive.clone(), p.code.filename.clone(), code_dir.clone());
    let summary = tokio::task::spawn_blocking(move || code_archive::unpack(&a, &f, &d)).await?.map_err(|e| Permanent(e.to_string()))?;
    std::fs::remove_file(&archive)?;
    ctx.log(&format!("unpacked {} file(s), {} bytes, from {}", summary.files, summary.unpacked_bytes, p.code.filename)).await?;

    // The data.
    if let Some(data) = &p.data {
        ctx.progress(0.02, "writing the dataset's splits").await?;
        let counts = write_splits(core, data, &data_dir).await?;
        ctx.log(&format!(
            "wrote {} to {}: train.csv {} rows, validation.csv {} rows, test.csv {} rows",
            data.label,
            data_dir.display(),
            counts[0],
            counts[1],
            counts[2]
        ))
        .await?;
    }

    // The process.
    let (_, token) = crate::tokens::issue_for_job(&core.db, ctx.job.id, user_id, project_id, p.timeout_seconds + 600).await?;
    let mut env = base_environment(&tmp_dir);
    env.extend([
        ("MLFLOW_TRACKING_URI".to_string(), base_url.trim_end_matches('/').to_string()),
        ("MLFLOW_TRACKING_TOKEN".to_string(), token),
        ("MLFLOW_RUN_ID".to_string(), p.run_uuid.clone()),
        ("MLFLOW_EXPERIMENT_ID".to_string(), p.experiment_id.to_string()),
        ("TRELLIS_JOB_ID".to_string(), ctx.job.id.to_string()),
        ("TRELLIS_PROJECT".to_string(), project_slug.unwrap_or_default()),
        ("TRELLIS_CODE_DIR".to_string(), code_dir.display().to_string()),
        ("TRELLIS_OUTPUT_DIR".to_string(), output_dir.display().to_string()),
    ]);
    if p.data.is_some() {
        env.insert("TRELLIS_DATA_DIR".to_string(), data_dir.display().to_string());
    }
    env.extend(p.env.clone());
    ctx.progress(0.05, "running the command").await?;
    ctx.log(&format!("$ {}", p.command)).await?;
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&p.command)
        .current_dir(&code_dir)
        .env_clear()
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Permanent(format!("the command could not start: {e}")))?;
    let pid = child.id().ok_or_else(|| anyhow::anyhow!("the process ended before it was watched"))?;
    let group = nix::unistd::Pid::from_raw(pid as i32);
    cleanup.process_group = Some(group);
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");

    let (lines_tx, lines_rx) = tokio::sync::mpsc::channel::<(&'static str, String)>(1024);
    let limit = Duration::from_secs(p.timeout_seconds);
    let started = std::time::Instant::now();
    let watch = async {
        let ended = tokio::select! {
            status = child.wait() => status_of(status?),
            _ = tokio::time::sleep(limit) => Ended::TimedOut,
        };
        if matches!(ended, Ended::TimedOut) {
            let _ = ctx.log_stream("error", &format!("the wall-clock limit of {} s was reached; stopping the command", p.timeout_seconds)).await;
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
            if tokio::time::timeout(Duration::from_secs(GRACE_SECONDS), child.wait()).await.is_err() {
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait().await;
            }
        }
        // Whatever the command left running in the background goes with it; this also closes
        // the output pipes those processes hold.
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        anyhow::Ok(ended)
    };
    let out = read_lines(stdout, "stdout", lines_tx.clone());
    let err = read_lines(stderr, "stderr", lines_tx);
    let writer = write_logs(&core.db, ctx.job.id, lines_rx);
    let (ended, _, _, logged) = tokio::join!(watch, out, err, writer);
    cleanup.process_group = None;
    let ended = ended?;
    let elapsed = started.elapsed().as_secs_f64();
    ctx.log(&format!("{} lines of output in {elapsed:.1} s", logged)).await?;

    let exit_code = match ended {
        Ended::Exited(c) => Some(c),
        _ => None,
    };
    let mut tags = vec![("trellis.duration_seconds".to_string(), format!("{elapsed:.3}"))];
    if let Some(c) = exit_code {
        tags.push(("trellis.exit_code".to_string(), c.to_string()));
    }
    tracking::set_run_tags(&mut *core.db.acquire().await?, p.run_id, &tags).await?;
    match ended {
        Ended::Exited(0) => {}
        Ended::Exited(c) => return Err(Permanent(format!("the command exited with code {c}")).into()),
        Ended::Signalled(s) => return Err(Permanent(format!("the command was killed by signal {s}")).into()),
        Ended::TimedOut => return Err(Permanent(format!("the command ran past its wall-clock limit of {} s and was stopped", p.timeout_seconds)).into()),
    }

    // The outputs.
    ctx.progress(0.95, "storing the output files").await?;
    let files = output_files(&output_dir)?;
    for (rel, path) in &files {
        crate::artifacts::put_file_for_run(core, p.run_id, &format!("output/{rel}"), path).await?;
    }
    if !files.is_empty() {
        ctx.log(&format!("stored {} output file(s) as artifacts under output/", files.len())).await?;
    }
    let model = store_onnx_model(ctx, core, p, &files).await?;
    ctx.progress(1.0, "done").await?;
    Ok(Some(json!({ "run_id": p.run_uuid, "exit_code": 0, "seconds": elapsed, "outputs": files.len(), "model": model })))
}

fn status_of(status: std::process::ExitStatus) -> Ended {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => Ended::Exited(c),
        (None, Some(s)) => Ended::Signalled(s),
        (None, None) => Ended::Signalled(0),
    }
}

/// The variables a job's process gets from the worker's own environment: the search path, home
/// and locale. Nothing else (no database URL, no storage credentials) passes through.
pub fn base_environment(tmp: &Path) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for key in ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(key) {
            env.insert(key.to_string(), v);
        }
    }
    env.entry("PATH".to_string()).or_insert_with(|| "/usr/local/bin:/usr/bin:/bin".to_string());
    env.insert("TMPDIR".to_string(), tmp.display().to_string());
    // Python buffers its output when it is not a terminal; the log should be live.
    env.insert("PYTHONUNBUFFERED".to_string(), "1".to_string());
    env
}

/// Sends each line of a stream (lossy UTF-8, cut at [`MAX_LINE_CHARS`]) to the log writer.
async fn read_lines(stream: impl AsyncRead + Unpin, name: &'static str, tx: tokio::sync::mpsc::Sender<(&'static str, String)>) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                let mut line = String::from_utf8_lossy(&buf).replace('\0', "\u{fffd}");
                if line.chars().count() > MAX_LINE_CHARS {
                    line = line.chars().take(MAX_LINE_CHARS).collect::<String>() + "…";
                }
                if tx.send((name, line)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Writes log lines in batches as they come; keeps at most [`MAX_LOG_LINES`]. Returns the number
/// of lines the process wrote.
async fn write_logs(db: &PgPool, job_id: i64, mut rx: tokio::sync::mpsc::Receiver<(&'static str, String)>) -> usize {
    let mut seen = 0usize;
    let mut batch: Vec<(&'static str, String)> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < 500 {
            match rx.try_recv() {
                Ok(l) => batch.push(l),
                Err(_) => break,
            }
        }
        let before = seen;
        seen += batch.len();
        let mut keep: Vec<(&str, String)> = batch.drain(..).take(MAX_LOG_LINES.saturating_sub(before)).collect();
        if before <= MAX_LOG_LINES && seen > MAX_LOG_LINES {
            keep.push(("error", format!("more than {MAX_LOG_LINES} lines of output: the rest is not kept")));
        }
        if keep.is_empty() {
            continue;
        }
        let (streams, lines): (Vec<&str>, Vec<String>) = keep.into_iter().unzip();
        let written = sqlx::query("INSERT INTO job_logs (job_id, stream, line) SELECT $1, s, l FROM UNNEST($2::text[], $3::text[]) AS t(s, l)")
            .bind(job_id)
            .bind(&streams)
            .bind(&lines)
            .execute(db)
            .await;
        if let Err(e) = written {
            tracing::warn!(job = job_id, error = %e, "could not write a job's output to its log");
        }
    }
    seen
}

/// Regular files under the output directory, as (relative path, path), in path order. Links are
/// not followed.
fn output_files(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let meta = std::fs::symlink_metadata(entry.path())?;
            if meta.is_dir() {
                walk(root, &entry.path(), out)?;
            } else if meta.is_file() {
                let rel = entry.path().strip_prefix(root)?.to_string_lossy().into_owned();
                out.push((rel, entry.path()));
                if out.len() > MAX_OUTPUT_FILES {
                    return Err(Permanent(format!("the output directory holds more than {MAX_OUTPUT_FILES} files")).into());
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Makes an `.onnx` output the run's model: `model/model.onnx` with `model/signature.json` (and
/// `model/baseline.json`, the dataset version's column statistics, when the job had data).
/// With several `.onnx` files, `model.onnx` at the top wins, else the first in path order.
async fn store_onnx_model(ctx: &JobContext, core: &Core, p: &Payload, files: &[(String, PathBuf)]) -> anyhow::Result<Option<Value>> {
    let onnx: Vec<&(String, PathBuf)> = files.iter().filter(|(rel, _)| rel.to_ascii_lowercase().ends_with(".onnx")).collect();
    let Some((rel, path)) = onnx.iter().find(|(rel, _)| rel == "model.onnx").or(onnx.first()).copied() else {
        ctx.log("no .onnx file in the output directory: the run has no model").await?;
        return Ok(None);
    };
    if onnx.len() > 1 {
        ctx.log(&format!("{} .onnx files in the output directory; output/{rel} is the model", onnx.len())).await?;
    }
    let bytes = tokio::fs::read(path).await?;
    let signature = trellis_ml::onnx::OnnxSignature::read(&bytes).map_err(|e| Permanent(format!("output/{rel}: {e}")))?;
    drop(bytes);
    crate::artifacts::put_file_for_run(core, p.run_id, "model/model.onnx", path).await?;
    let described = crate::model_upload::signature_json(&signature, &format!("output/{rel}"));
    crate::artifacts::put_bytes_for_run(core, p.run_id, "model/signature.json", serde_json::to_vec_pretty(&described)?).await?;
    if let Some(data) = &p.data {
        let stats: Option<Value> = sqlx::query_scalar("SELECT statistics FROM dataset_versions WHERE id = $1")
            .bind(data.version_id)
            .fetch_optional(&core.db)
            .await?
            .flatten();
        if let Some(stats) = stats {
            let baseline = json!({ "dataset": data.label, "features": stats });
            crate::artifacts::put_bytes_for_run(core, p.run_id, "model/baseline.json", serde_json::to_vec_pretty(&baseline)?).await?;
        }
    }
    tracking::set_run_tags(&mut *core.db.acquire().await?, p.run_id, &[("trellis.model_format".to_string(), "onnx".to_string())]).await?;
    let summary = |v: &[trellis_ml::onnx::ValueSpec]| v.iter().map(|s| format!("{} {}{:?}", s.name, s.dtype, s.shape.clone().unwrap_or_default())).collect::<Vec<_>>().join(", ");
    ctx.log(&format!("model: output/{rel} → model/model.onnx; inputs: {}; outputs: {}", summary(&signature.inputs), summary(&signature.outputs))).await?;
    Ok(Some(json!({ "path": "model/model.onnx", "inputs": signature.inputs.len(), "outputs": signature.outputs.len() })))
}

/// Writes the version's rows to `train.csv`, `validation.csv` and `test.csv` by its split
/// (same header, cells as stored); returns the rows per file.
async fn write_splits(core: &Core, data: &DataRef, dir: &Path) -> anyhow::Result<[u64; 3]> {
    let row: Option<(String, Option<String>, String, i64)> =
        sqlx::query_as("SELECT sha256, compression, format, size FROM dataset_versions WHERE id = $1")
            .bind(data.version_id)
            .fetch_optional(&core.db)
            .await?;
    let Some((sha256, compression, format, size)) = row else {
        return Err(Permanent(format!("{} was deleted before the job started", data.label)).into());
    };
    let writers = || -> anyhow::Result<Vec<csv::Writer<std::fs::File>>> {
        ["train.csv", "validation.csv", "test.csv"].iter().map(|n| Ok(csv::Writer::from_path(dir.join(n))?)).collect()
    };
    let mut out = writers()?;
    let split = data.split.clone();
    let runtime = tokio::runtime::Handle::current();
    let blobs = core.blobs.clone();
    let counts = tokio::task::spawn_blocking(move || -> anyhow::Result<[u64; 3]> {
        let mut counts = [0u64; 3];
        match Format::parse(&format) {
            Format::Parquet => {
                let mut at: Option<Option<usize>> = None;
                let mut row = 0u64;
                crate::parquet_files::for_each_row(&runtime, blobs.ranged(&sha256, size as u64), |header, cells| {
                    let column = *at.get_or_insert_with(|| split.column().and_then(|c| header.iter().position(|h| h == c)));
                    if row == 0 {
                        for w in &mut out {
                            w.write_record(header)?;
                        }
                    }
                    let part = split.part(row, || column.map(|c| cells[c].clone()).unwrap_or_default())?;
                    out[part].write_record(cells)?;
                    counts[part] += 1;
                    row += 1;
                    Ok(())
                })?;
            }
            Format::Csv => {
                let raw = runtime.block_on(blobs.reader(&sha256))?;
                let mut rdr = datasets::csv_from(raw, compression.is_some());
                let header = rdr.byte_headers()?.clone();
                let column = split.column().and_then(|c| header.iter().position(|h| h == c.as_bytes()));
                for w in &mut out {
                    w.write_byte_record(&header)?;
                }
                let mut record = csv::ByteRecord::new();
                let mut row = 0u64;
                while rdr.read_byte_record(&mut record)? {
                    let part = split.part(row, || column.map(|c| String::from_utf8_lossy(&record[c]).into_owned()).unwrap_or_default())?;
                    out[part].write_byte_record(&record)?;
                    counts[part] += 1;
                    row += 1;
                }
            }
        }
        for w in &mut out {
            w.flush()?;
        }
        Ok(counts)
    })
    .await??;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(command: &str) -> CustomJobSpec {
        CustomJobSpec {
            experiment: "e".into(),
            command: command.into(),
            dataset: None,
            version: None,
            run_name: None,
            timeout_seconds: None,
            env: BTreeMap::new(),
        }
    }

    #[test]
    fn checks_the_spec() {
        assert_eq!(check_spec(&spec(" python train.py ")).unwrap(), ("python train.py".to_string(), DEFAULT_TIMEOUT_SECONDS, None));
        assert!(check_spec(&spec("  ")).unwrap_err().to_string().contains("command"));
        let mut s = spec("x");
        s.timeout_seconds = Some(0);
        assert!(check_spec(&s).unwrap_err().to_string().contains("timeout_seconds"));
        for (k, why) in [("MLFLOW_TRACKING_URI", "set by Trellis"), ("TRELLIS_DATA_DIR", "set by Trellis"), ("1X", "not a variable name"), ("A-B", "not a variable name")] {
            let mut s = spec("x");
            s.env.insert(k.into(), "v".into());
            let e = check_spec(&s).unwrap_err().to_string();
            assert!(e.contains(why), "{k}: {e}");
        }
    }

    #[test]
    fn names_runs_after_the_script() {
        assert_eq!(default_run_name("python train.py --epochs 5", "code.zip"), "custom-train.py");
        assert_eq!(default_run_name("python -u src/fit.py", "code.zip"), "custom-fit.py");
        assert_eq!(default_run_name("/home/me/.venv/bin/python train.py", "code.zip"), "custom-train.py");
        assert_eq!(default_run_name("python3.11 job.sh", "code.zip"), "custom-job.sh");
        assert_eq!(default_run_name("make", "code.tar.gz"), "custom-code.tar.gz");
    }

    #[test]
    fn passes_only_the_listed_variables() {
        let env = base_environment(Path::new("/tmp/x"));
        let allowed = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "TMPDIR", "PYTHONUNBUFFERED"];
        assert!(env.keys().all(|k| allowed.contains(&k.as_str())), "{:?}", env.keys());
        // The test process has variables of its own (cargo's, at least); none passes through.
        assert!(std::env::vars().any(|(k, _)| !allowed.contains(&k.as_str())));
        assert_eq!(env["TMPDIR"], "/tmp/x");
        assert!(env.contains_key("PATH"));
    }
}
