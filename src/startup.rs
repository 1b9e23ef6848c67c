//! What every entry point does at start-up: logging (to stderr), the
//! database connection with its PostGIS check, and the configuration files.
//! Shared by the command line ([`crate::cli`]) and the HTTP server
//! ([`crate::http::serve`]), neither of which imports the other.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::coverage::model::CoverageConfig;
use crate::db;
use crate::domain::classify::AnalysisConfig;

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

/// Connects with `max` connections and checks PostGIS.
///
/// # Errors
/// Without a URL, or when the database cannot be reached or lacks PostGIS.
pub async fn connect(url: Option<&str>, max: u32) -> Result<sqlx::PgPool> {
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
///
/// # Errors
/// As [`connect`].
pub async fn connect_with(url: Option<&str>, config: &db::PoolConfig) -> Result<sqlx::PgPool> {
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
/// else the built-in copy of it; then `COVERAGE_TERRAIN=off` (or `on`)
/// switches the terrain off (on) whatever the file says — the flat model
/// without editing the file.
///
/// # Errors
/// When the file cannot be read or parsed, or `COVERAGE_TERRAIN` is neither
/// `on` nor `off`.
pub fn load_coverage_config(path: Option<&Path>) -> Result<CoverageConfig> {
    let default = Path::new("config/coverage.toml");
    let mut config = match path {
        Some(p) => CoverageConfig::load(p)?,
        None if default.is_file() => CoverageConfig::load(default)?,
        None => CoverageConfig::shipped(),
    };
    match std::env::var("COVERAGE_TERRAIN").ok().as_deref() {
        None | Some("") => {}
        Some("on") => {
            if config.terrain.dem.is_none() && config.landuse.is_none() {
                anyhow::bail!(
                    "COVERAGE_TERRAIN=on needs [terrain] dem or [landuse] in the coverage model"
                );
            }
            config.terrain.enabled = true;
        }
        Some("off") => config.terrain.enabled = false,
        Some(other) => anyhow::bail!("COVERAGE_TERRAIN must be on or off, not {other:?}"),
    }
    Ok(config)
}

/// The underserved thresholds: `path`, else `config/analysis.toml` when
/// present, else the built-in copy.
///
/// # Errors
/// When the file cannot be read or parsed.
pub fn load_analysis_config(path: Option<&Path>) -> Result<AnalysisConfig> {
    let default = Path::new("config/analysis.toml");
    Ok(match path {
        Some(p) => AnalysisConfig::load(p)?,
        None if default.is_file() => AnalysisConfig::load(default)?,
        None => AnalysisConfig::default(),
    })
}
