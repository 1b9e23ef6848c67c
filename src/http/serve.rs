//! `telecom-gis serve`: migrates, starts the coverage listener, then serves
//! the HTTP API until SIGTERM or Ctrl-C. The binary dispatches this
//! subcommand here, to the HTTP adapter; the others go to [`crate::cli`].

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::config::ServeArgs;
use crate::coverage::listener::CoverageState;
use crate::db;
use crate::startup::{connect_with, load_analysis_config, load_coverage_config};

use super::limits::{Budget, RateLimitConfig, RateLimits, Timeouts};
use super::{AppState, app};

/// Runs the server with `args` on the database at `url`.
///
/// # Errors
/// When the database cannot be reached, a configuration file is invalid,
/// or the address cannot be bound.
pub async fn run(url: Option<&str>, args: ServeArgs) -> Result<ExitCode> {
    let acquire_timeout = std::time::Duration::try_from_secs_f64(args.db_acquire_timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--db-acquire-timeout must be a positive number of seconds")?;
    let pool_config = db::PoolConfig {
        max_connections: args.db_max_connections,
        acquire_timeout,
        application_name: args.db_application_name.clone(),
    };
    let rate_limits = rate_limit_config(&args.rate_limits)?;
    let region = args.region.region().map_err(anyhow::Error::msg)?;
    let config = load_coverage_config(args.coverage_config.as_deref())?;
    // The DEM and land use are read while the database connects.
    crate::coverage::link::Terrain::preload(&config);
    let pool = connect_with(url, &pool_config).await?;
    db::migrate(&pool).await?;
    let coverage = Arc::new(CoverageState::new(config));
    crate::service::read_model::ReadModel::attach(&coverage);
    // The listener loads the index once it listens, so no change is
    // missed. It may need a session of its own (see --database-listen-url).
    let listen_pool = match args
        .database_listen_url
        .as_ref()
        .map(crate::config::Secret::expose)
    {
        Some(listen_url) => {
            let config = db::PoolConfig {
                max_connections: 3,
                ..pool_config.clone()
            };
            connect_with(Some(listen_url), &config).await?
        }
        None => pool.clone(),
    };
    tokio::spawn(crate::coverage::listener::listen(
        coverage.clone(),
        listen_pool,
    ));
    let analysis = Arc::new(load_analysis_config(args.analysis_config.as_deref())?);
    let state = AppState {
        analysis,
        coverage,
        public_url: args.public_url.map(Arc::from),
        web_dir: Some(args.web_dir),
        limits: Arc::new(RateLimits::new(&rate_limits)),
        timeouts: Timeouts {
            request: std::time::Duration::from_secs(args.request_timeout_s),
            import: std::time::Duration::from_secs(args.import_timeout_s),
        },
        cors_origins: args.cors_allow_origins,
        region: Arc::new(region),
        ducts: Arc::new(crate::service::ducts::DuctState::new(args.duct_fill_limits)),
        ..AppState::new(pool)
    };
    let metrics = state.metrics.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            metrics.upkeep();
        }
    });
    let addr = std::net::SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    // With port 0 the system picks one: log the real address.
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!(%addr, "serving http://{addr}/");
    // The peer address keys the anonymous rate limits.
    let service = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// The rate limits of `args`.
///
/// # Errors
/// When a rate is negative or not a number.
fn rate_limit_config(args: &crate::config::RateLimitArgs) -> Result<RateLimitConfig> {
    let budget = |flag: &str, per_s: f64, burst: u32| {
        anyhow::ensure!(
            per_s.is_finite() && per_s >= 0.0,
            "--{flag} must be 0 (no limit) or a positive number"
        );
        Ok(Budget { per_s, burst })
    };
    Ok(RateLimitConfig {
        token: budget(
            "rate-limit-per-s",
            args.rate_limit_per_s,
            args.rate_limit_burst,
        )?,
        reads: budget(
            "read-rate-limit-per-s",
            args.read_rate_limit_per_s,
            args.read_rate_limit_burst,
        )?,
        anonymous: budget(
            "anon-rate-limit-per-s",
            args.anon_rate_limit_per_s,
            args.anon_rate_limit_burst,
        )?,
        expensive: budget(
            "expensive-rate-limit-per-s",
            args.expensive_rate_limit_per_s,
            args.expensive_rate_limit_burst,
        )?,
        trusted_proxies: args.trusted_proxies.clone(),
    })
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
