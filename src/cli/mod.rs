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
//! application layer and prints. `serve` is the HTTP adapter's
//! ([`crate::http::serve`]); `main` dispatches it there.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::config::{Command, ReportCommand};
use crate::domain::classify::AnalysisConfig;
use crate::startup::{connect, load_analysis_config, load_coverage_config};

mod check_index;
mod export;
mod generate;
mod generate_opencellid;
mod import;
mod load_sample;
mod migrate;
mod report;
mod token;

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
pub async fn run(url: Option<&str>, command: Command) -> Result<ExitCode> {
    match command {
        Command::Serve(_) => {
            anyhow::bail!("`serve` belongs to the HTTP adapter: run it through http::serve::run")
        }
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

/// The application layer over `pool`, with the coverage model of
/// `coverage_config` (or the shipped one), an index not yet loaded and the
/// default service region.
fn service(pool: sqlx::PgPool, coverage_config: Option<&Path>) -> Result<crate::service::Service> {
    Ok(crate::service::Service {
        pool,
        coverage: std::sync::Arc::new(crate::coverage::listener::CoverageState::new(
            load_coverage_config(coverage_config)?,
        )),
        analysis: std::sync::Arc::new(AnalysisConfig::default()),
        region: std::sync::Arc::new(crate::domain::region::ServiceRegion::default()),
        ducts: std::sync::Arc::default(),
    })
}

/// Who the command line acts as: the Department, named `cli:<user>` in the
/// audit history.
fn command_line() -> crate::domain::account::Actor {
    crate::domain::account::Actor::Account(crate::domain::account::Account::command_line())
}
