//! telecom-gis binary: parse configuration, initialise tracing, connect,
//! migrate, serve (or run a maintenance command).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use telecom_gis::config::{Cli, Command, LogFormat};
use telecom_gis::spatial::propagation::CoverageConfig;
use telecom_gis::sync::CoverageState;
use telecom_gis::{AppState, app, db, sample};
use tracing_subscriber::EnvFilter;

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn connect(url: Option<&str>, max: u32) -> Result<sqlx::PgPool> {
    let url = url.context("DATABASE_URL is not set: pass --database-url or set DATABASE_URL (make run provisions one)")?;
    let pool = db::connect(url, max)
        .await
        .context("cannot connect to the database")?;
    let postgis = db::check_postgis(&pool).await?;
    tracing::info!(postgis.version = %postgis, "connected to PostgreSQL/PostGIS");
    Ok(pool)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
    tracing::info!("shutting down");
}

async fn run(cli: Cli) -> Result<()> {
    let url = cli.database_url.as_deref();
    match cli.command {
        Command::Serve(args) => {
            let pool = connect(url, args.db_max_connections).await?;
            db::migrate(&pool).await?;
            let config = match &args.coverage_config {
                Some(path) => CoverageConfig::load(path)?,
                None if std::path::Path::new("config/coverage.toml").is_file() => {
                    CoverageConfig::load(std::path::Path::new("config/coverage.toml"))?
                }
                None => CoverageConfig::default(),
            };
            let coverage = Arc::new(CoverageState::new(config));
            // The listener loads the index once it listens, so no change is missed.
            tokio::spawn(telecom_gis::sync::listen(coverage.clone(), pool.clone()));
            let state = AppState {
                coverage,
                pool,
                public_url: args.public_url.map(Arc::from),
                web_dir: Some(args.web_dir),
            };
            let addr = std::net::SocketAddr::new(args.bind, args.port);
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            tracing::info!(%addr, "serving http://{addr}/");
            axum::serve(listener, app(state))
                .with_graceful_shutdown(shutdown_signal())
                .await?;
        }
        Command::Migrate => {
            let pool = connect(url, 2).await?;
            db::migrate(&pool).await?;
            tracing::info!("migrations applied");
        }
        Command::LoadSample(args) => {
            let pool = connect(url, 2).await?;
            db::migrate(&pool).await?;
            let r = sample::load(&pool, &args.generator).await?;
            tracing::info!(
                districts = r.districts,
                towers = r.towers_inserted,
                fibre_routes = r.fibre_routes_inserted,
                data_centres = r.data_centres_inserted,
                unchanged = r.skipped,
                "sample loaded"
            );
        }
        Command::Generate(args) => {
            for path in sample::write_generated(&args.generator, &args.out)? {
                tracing::info!(path = %path.display(), "written");
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
