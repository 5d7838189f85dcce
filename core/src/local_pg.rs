//! A private PostgreSQL cluster inside the data directory: the zero-configuration default.
//!
//! With no `DATABASE_URL`, Trellis initialises (once) and starts a cluster in `DIR/postgres`
//! with the machine's PostgreSQL binaries, listening only on a Unix socket in `DIR/run`, and
//! stops it when the process that started it exits. PostgreSQL refuses to run as root, so when
//! Trellis runs as root the cluster runs as the unprivileged `postgres` user (or `TRELLIS_PG_USER`).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::process::Command;

use crate::Result;

const SUPERUSER: &str = "trellis";
const DATABASE: &str = "trellis";

#[derive(Debug)]
pub struct LocalPostgres {
    data_dir: PathBuf,
    socket_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<String>,
    /// True when this process started the cluster (and so must stop it).
    started_here: bool,
}

impl LocalPostgres {
    /// Initialises the cluster if needed and starts it unless it is already running.
    pub async fn start(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let root = root.canonicalize().with_context(|| format!("resolving {}", root.display()))?;
        let data_dir = root.join("postgres");
        let socket_dir = root.join("run");
        // Unix socket paths are limited to 107 bytes.
        if socket_dir.join(".s.PGSQL.5432").as_os_str().len() > 100 {
            return Err(anyhow!(
                "data directory path {} is too long for a Unix socket; use a shorter --data-dir",
                root.display()
            )
            .into());
        }
        let bin_dir = find_bin_dir()?;
        let run_as = unprivileged_user()?;
        let mut pg = LocalPostgres { data_dir, socket_dir, bin_dir, run_as, started_here: false };
        pg.prepare_dirs()?;
        if !pg.data_dir.join("PG_VERSION").exists() {
            pg.initdb().await?;
        }
        if !pg.is_running().await? {
            pg.pg_ctl_start().await?;
            pg.started_here = true;
        }
        pg.ensure_database().await?;
        Ok(pg)
    }

    /// Connection options for the Trellis database in this cluster.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .username(SUPERUSER)
            .database(DATABASE)
    }

    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// Stops the cluster if this process started it.
    pub async fn stop(mut self) -> Result<()> {
        if self.started_here {
            self.started_here = false;
            let status = self
                .command("pg_ctl")
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-m", "fast", "-w", "stop"])
                .status()
                .await
                .context("running pg_ctl stop")?;
            if !status.success() {
                bail_core("pg_ctl stop failed")?;
            }
            tracing::info!(data_dir = %self.data_dir.display(), "local PostgreSQL stopped");
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin_dir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn prepare_dirs(&self) -> anyhow::Result<()> {
        for dir in [&self.data_dir, &self.socket_dir] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            if let Some(user) = &self.run_as {
                let u = nix::unistd::User::from_name(user)?
                    .ok_or_else(|| anyhow!("user '{user}' does not exist"))?;
                nix::unistd::chown(dir.as_path(), Some(u.uid), Some(u.gid))
                    .with_context(|| format!("giving {} to {user}", dir.display()))?;
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        Ok(())
    }

    async fn initdb(&self) -> anyhow::Result<()> {
        tracing::info!(data_dir = %self.data_dir.display(), "initialising local PostgreSQL cluster");
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--locale=C"])
            .output()
            .await
            .context("running initdb")?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let hint = if self.run_as.is_some() {
                " (the PostgreSQL user must be able to enter every parent directory of --data-dir)"
            } else {
                ""
            };
            bail!("initdb failed{hint}: {}", stderr.trim());
        }
        Ok(())
    }

    async fn is_running(&self) -> anyhow::Result<bool> {
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("status")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .context("running pg_ctl status")?;
        Ok(status.success())
    }

    async fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let opts = format!("-k {} -c listen_addresses=''", self.socket_dir.display());
        let log = self.data_dir.join("server.log");
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-o")
            .arg(opts)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "start"])
            .output()
            .await
            .context("running pg_ctl start")?;
        if !out.status.success() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(10).collect();
            bail!(
                "pg_ctl start failed: {} {}",
                String::from_utf8_lossy(&out.stderr).trim(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tracing::info!(socket = %self.socket_dir.display(), "local PostgreSQL started");
        Ok(())
    }

    async fn ensure_database(&self) -> anyhow::Result<()> {
        let mut conn = self.connect_options().database("postgres").connect().await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            sqlx::query(&format!("CREATE DATABASE {DATABASE}")).execute(&mut conn).await?;
        }
        conn.close().await?;
        Ok(())
    }
}

fn bail_core(msg: &str) -> Result<()> {
    Err(anyhow!(msg.to_string()).into())
}

/// The directory holding `initdb` and `pg_ctl`: `TRELLIS_PG_BIN`, the newest
/// `/usr/lib/postgresql/<ver>/bin`, or the `PATH`.
fn find_bin_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("TRELLIS_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
                return Ok(dir);
            }
        }
    }
    bail!(
        "no PostgreSQL server binaries found (initdb, pg_ctl): install the 'postgresql' package, \
         set TRELLIS_PG_BIN, or set DATABASE_URL to use an existing server"
    )
}

/// PostgreSQL will not run as root: pick the user to run it as.
fn unprivileged_user() -> anyhow::Result<Option<String>> {
    if !nix::unistd::Uid::effective().is_root() {
        return Ok(None);
    }
    let name = std::env::var("TRELLIS_PG_USER").unwrap_or_else(|_| "postgres".to_string());
    match nix::unistd::User::from_name(&name)? {
        Some(_) => Ok(Some(name)),
        None => bail!(
            "running as root, and PostgreSQL refuses to run as root; no user '{name}' exists to run \
             it as. Create one (the 'postgresql' package does), set TRELLIS_PG_USER, or set DATABASE_URL"
        ),
    }
}
