//! The `trellis` command line.

use std::io::Read;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use trellis_core::projects::NewProject;
use trellis_core::types::Email;
use trellis_core::{auth, demo, projects, tokens, Actor};

use crate::config::{DbArgs, ServeArgs, WorkerArgs};
use crate::startup::{self, Database};

#[derive(Parser, Debug)]
#[command(name = "trellis", version, about = "Trellis: datasets to models in production, self-hosted")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web UI, the APIs and an embedded job worker.
    Serve(ServeArgs),
    /// Run job workers only (add capacity on any machine that reaches the database).
    Worker(WorkerArgs),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create the demo project for a user.
    Demo {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Make the user an instance administrator.
        #[arg(long)]
        admin: bool,
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// Create a project with the given user as its admin.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner: String,
        #[arg(long)]
        slug: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token for a user and print it (only the token).
    Create {
        #[arg(long)]
        email: String,
        /// Restrict the token to one project (slug).
        #[arg(long)]
        project: Option<String>,
        #[arg(long, default_value = "cli")]
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

async fn user_actor(db: &sqlx::PgPool, email: &str) -> anyhow::Result<Actor> {
    let email = Email::parse(email)?;
    let Some(id) = auth::user_id_by_email(db, &email).await? else {
        bail!("no user '{email}' exists");
    };
    Ok(auth::session_actor(db, id, Some("cli".into())).await?)
}

/// Runs a command against the database, closing it (and a private cluster it started) afterwards.
async fn with_db<T, F, Fut>(args: &DbArgs, f: F) -> anyhow::Result<T>
where
    F: FnOnce(sqlx::PgPool) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let database = Database::open(args).await?;
    let result = f(database.pool.clone()).await;
    database.close().await;
    result
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => startup::serve(args).await,
        Command::Worker(args) => startup::worker(args).await,
        Command::Migrate(db) => {
            with_db(&db, |_| async { Ok(()) }).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::User(UserCommand::Create { email, password_stdin: _, admin, name, db }) => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password).context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            let user = with_db(&db, |pool| async move {
                Ok(auth::create_user(&pool, &Actor::operator(), &email, &name, &password, admin).await?)
            })
            .await?;
            eprintln!("created user {} (id {})", user.email, user.id);
            Ok(())
        }
        Command::Project(ProjectCommand::Create { name, owner, slug, description, db }) => {
            let project = with_db(&db, |pool| async move {
                let input = NewProject { name: &name, slug: slug.as_deref(), description: &description };
                Ok(projects::create(&pool, &Actor::operator(), input, Some(&owner)).await?)
            })
            .await?;
            println!("{}", project.slug);
            Ok(())
        }
        Command::Token(TokenCommand::Create { email, project, name, db }) => {
            let secret = with_db(&db, |pool| async move {
                let actor = user_actor(&pool, &email).await?;
                let (_, secret) = tokens::create(&pool, &actor, &name, project.as_deref()).await?;
                Ok(secret)
            })
            .await?;
            println!("{secret}");
            Ok(())
        }
        Command::Demo { email, db } => {
            let blobs = db.blobs()?;
            let project = with_db(&db, |pool| async move {
                let actor = user_actor(&pool, &email).await?;
                Ok(demo::create(&trellis_core::Core::new(pool, blobs), &actor).await?)
            })
            .await?;
            eprintln!("created the demo project '{}'", project.slug);
            Ok(())
        }
    }
}
