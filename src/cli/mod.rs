//! The command line: one module per subcommand, and what they share
//! (tracing, the database connection, configuration files).
//!
//! Output discipline: a subcommand's result (a CSV, GeoJSON, a token, a
//! table, a summary) goes to **stdout** and nothing else does; logs,
//! progress bars and notes go to **stderr**, so
//! `telecom-gis report underserved --format csv > out.csv` writes a clean
//! CSV at any `RUST_LOG` level.
//!
//! This is an adapter like [`crate::http`]: it parses arguments, calls the
//! library and prints. Only `serve` needs the HTTP layer.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use tracing_subscriber::EnvFilter;

use crate::config::{Cli, Command, LogFormat, ReportCommand};
use crate::coverage::model::CoverageConfig;
use crate::db;
use crate::domain::classify::AnalysisConfig;

mod check_index;
mod export;
mod generate;
mod generate_opencellid;
mod import;
mod load_sample;
mod migrate;
mod report;
mod serve;
mod token;

/// Initialises logging: every log line goes to stderr (never stdout, which
/// carries the commands' data), coloured only when stderr is a terminal.
/// The filter is `RUST_LOG`, by default `info,sqlx=warn,tower_http=info`.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// The exit code of a failed `command`: 2 for `check-index` (whose 1 means
/// "the indexes differ"), else 1.
pub fn failure_code(command: &Command) -> ExitCode {
    match command {
        Command::CheckIndex(_) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}

/// Runs one subcommand.
///
/// # Errors
/// Whatever stopped the command (the caller logs it and exits with
/// [`failure_code`]); refusals a command reports itself (rows refused by an
/// import, a mismatching index) are an `Ok` non-zero exit code.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let url = cli.database_url.as_ref().map(crate::config::Secret::expose);
    match cli.command {
        Command::Serve(args) => serve::run(url, args).await,
        Command::Migrate => migrate::run(url).await,
        Command::LoadSample(args) => load_sample::run(url, &args).await,
        Command::Report(ReportCommand::Underserved(args)) => report::underserved(url, &args).await,
        Command::Generate(args) => generate::run(&args),
        Command::CheckIndex(args) => check_index::run(url, &args).await,
        Command::Import(args) => import::run(url, &args).await,
        Command::Export(args) => export::run(url, &args).await,
        Command::Token(cmd) => token::run(url, cmd).await,
        Command::GenerateOpencellid(args) => generate_opencellid::run(&args),
    }
}

/// Connects with `max` connections and checks PostGIS.
async fn connect(url: Option<&str>, max: u32) -> Result<sqlx::PgPool> {
    connect_with(
        url,
        &db::PoolConfig {
            max_connections: max,
            ..db::PoolConfig::default()
        },
    )
    .await
}

/// Connects with `config` and checks PostGIS.
async fn connect_with(url: Option<&str>, config: &db::PoolConfig) -> Result<sqlx::PgPool> {
    let url = url.context(
        "DATABASE_URL is not set: pass --database-url or set DATABASE_URL (make run provisions one)",
    )?;
    let pool = db::connect_with(url, config)
        .await
        .context("cannot connect to the database")?;
    let postgis = db::check_postgis(&pool).await?;
    tracing::info!(postgis.version = %postgis, "connected to PostgreSQL/PostGIS");
    Ok(pool)
}

/// The coverage model: `path`, else `config/coverage.toml` when present,
/// else the built-in copy.
fn load_coverage_config(path: Option<&Path>) -> Result<CoverageConfig> {
    let default = Path::new("config/coverage.toml");
    Ok(match path {
        Some(p) => CoverageConfig::load(p)?,
        None if default.is_file() => CoverageConfig::load(default)?,
        None => CoverageConfig::default(),
    })
}

/// The underserved thresholds: `path`, else `config/analysis.toml` when
/// present, else the built-in copy.
fn load_analysis_config(path: Option<&Path>) -> Result<AnalysisConfig> {
    let default = Path::new("config/analysis.toml");
    Ok(match path {
        Some(p) => AnalysisConfig::load(p)?,
        None if default.is_file() => AnalysisConfig::load(default)?,
        None => AnalysisConfig::default(),
    })
}

/// The application layer over `pool`, with the coverage model of
/// `coverage_config` (or the shipped one) and an index not yet loaded.
fn service(pool: sqlx::PgPool, coverage_config: Option<&Path>) -> Result<crate::service::Service> {
    Ok(crate::service::Service {
        pool,
        coverage: std::sync::Arc::new(crate::coverage::listener::CoverageState::new(
            load_coverage_config(coverage_config)?,
        )),
        analysis: std::sync::Arc::new(AnalysisConfig::default()),
    })
}

/// Who the command line acts as: the Department, named `cli:<user>` in the
/// audit history.
fn command_line() -> crate::domain::account::Actor {
    crate::domain::account::Actor::Account(crate::domain::account::Account::command_line())
}
