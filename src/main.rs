//! telecom-gis binary: parse configuration, initialise tracing, connect,
//! migrate, serve (or run a maintenance command).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use telecom_gis::config::{
    CheckIndexArgs, Cli, Command, ExportArgs, ImportArgs, LogFormat, ReportCommand, ReportFormat,
    TokenCommand, UnderservedArgs,
};
use telecom_gis::coverage::index::IndexFingerprint;
use telecom_gis::coverage::listener::CoverageState;
use telecom_gis::coverage::model::CoverageConfig;
use telecom_gis::domain::classify::AnalysisConfig;
use telecom_gis::domain::tower::Technology;
use telecom_gis::http::limits::{RateLimiter, Timeouts};
use telecom_gis::service::analysis;
use telecom_gis::spatial::analysis::UniformPopulation;
use telecom_gis::{AppState, app, db, sample};
use tracing_subscriber::EnvFilter;

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Colours only on a terminal: log files and CI logs stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

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

async fn connect_with(url: Option<&str>, config: &db::PoolConfig) -> Result<sqlx::PgPool> {
    let url = url.context("DATABASE_URL is not set: pass --database-url or set DATABASE_URL (make run provisions one)")?;
    let pool = db::connect_with(url, config)
        .await
        .context("cannot connect to the database")?;
    let postgis = db::check_postgis(&pool).await?;
    tracing::info!(postgis.version = %postgis, "connected to PostgreSQL/PostGIS");
    Ok(pool)
}

fn load_coverage_config(path: Option<&std::path::Path>) -> Result<CoverageConfig> {
    let default = std::path::Path::new("config/coverage.toml");
    Ok(match path {
        Some(p) => CoverageConfig::load(p)?,
        None if default.is_file() => CoverageConfig::load(default)?,
        None => CoverageConfig::default(),
    })
}

fn load_analysis_config(path: Option<&std::path::Path>) -> Result<AnalysisConfig> {
    let default = std::path::Path::new("config/analysis.toml");
    let loaded = match path {
        Some(p) => AnalysisConfig::load(p),
        None if default.is_file() => AnalysisConfig::load(default),
        None => Ok(AnalysisConfig::default()),
    };
    loaded.map_err(anyhow::Error::msg)
}

/// `report underserved`: the ranked districts in the terminal.
async fn report_underserved(url: Option<&str>, args: &UnderservedArgs) -> Result<()> {
    let technology: Technology = args
        .technology
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--technology {}: {e}", args.technology))?;
    let pool = connect(url, 4).await?;
    let config = load_analysis_config(args.analysis_config.as_deref())?;
    let state = CoverageState::new(load_coverage_config(args.coverage_config.as_deref())?);
    state.reload(&pool).await?;
    let index = state.snapshot();
    let reports =
        analysis::districts(&pool, &index, &config, technology, &UniformPopulation).await?;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    match args.format {
        ReportFormat::Csv => write!(out, "{}", analysis::to_csv(&reports)?)?,
        ReportFormat::Geojson => {
            let features: Vec<serde_json::Value> = reports
                .iter()
                .map(|r| {
                    let geometry = index.areas.iter().find(|a| a.code == r.code).map(|a| {
                        geojson::Geometry::new(geojson::Value::from(&geo::Geometry::MultiPolygon(a.geometry.clone())))
                    });
                    serde_json::json!({"type": "Feature", "id": r.code, "geometry": geometry, "properties": {
                        "code": r.code, "name": r.name, "rank": r.rank, "class": r.verdict.class, "score": r.verdict.score,
                        "indicators": r.indicators, "explanation": r.verdict.explanation}})
                })
                .collect();
            writeln!(
                out,
                "{}",
                serde_json::json!({"type": "FeatureCollection", "features": features})
            )?;
        }
        ReportFormat::Table => {
            writeln!(out, "Underserved districts, {technology} (worst first)")?;
            writeln!(
                out,
                "{:>4}  {:<6} {:<16} {:<12} {:>6} {:>8} {:>8} {:>8} {:>7}  failing criteria",
                "rank", "code", "name", "class", "score", "pop %", "area %", "fibre %", "DC km"
            )?;
            for r in &reports {
                let c = &r.indicators.coverage;
                let class = serde_json::to_value(r.verdict.class)?
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let failing: Vec<&str> = r
                    .verdict
                    .explanation
                    .iter()
                    .filter(|e| !e.pass)
                    .map(|e| e.criterion)
                    .collect();
                let dc = c
                    .nearest_data_centre_km
                    .map(|d| format!("{d:.1}"))
                    .unwrap_or_else(|| "–".into());
                writeln!(
                    out,
                    "{:>4}  {:<6} {:<16} {:<12} {:>6.1} {:>8.1} {:>8.1} {:>8.1} {:>7}  {}",
                    r.rank,
                    r.code,
                    r.name,
                    class,
                    r.verdict.score,
                    c.pop_coverage_any_pct,
                    c.area_coverage_any_pct,
                    c.fibre_reach_pop_pct,
                    dc,
                    if failing.is_empty() {
                        "none".to_owned()
                    } else {
                        failing.join(", ")
                    }
                )?;
            }
        }
    }
    Ok(())
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

/// `check-index`: compares the running service's index with one loaded
/// fresh from the database; `Ok(false)` when they differ.
async fn check_index(url: Option<&str>, args: &CheckIndexArgs) -> Result<bool> {
    let pool = connect(url, 4).await?;
    let config = load_coverage_config(args.coverage_config.as_deref())?;
    let endpoint = format!("{}/index/fingerprint", args.url.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let attempts = args.attempts.max(1);
    for attempt in 1..=attempts {
        let served: IndexFingerprint = client
            .get(&endpoint)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("cannot read {endpoint}"))?
            .json()
            .await
            .with_context(|| format!("{endpoint} did not answer a fingerprint"))?;
        let fresh =
            telecom_gis::coverage::listener::fingerprint_from_db(&pool, config.clone()).await?;
        if served == fresh {
            println!(
                "index consistent: {} towers, {} sectors, {} fibre routes, {} data centres, {} areas, hash {}",
                fresh.towers,
                fresh.sectors,
                fresh.fibre_routes,
                fresh.data_centres,
                fresh.areas,
                fresh.hash
            );
            return Ok(true);
        }
        if attempt == attempts {
            println!("index MISMATCH after {attempts} comparisons");
            println!("  service : {}", serde_json::to_string(&served)?);
            println!("  database: {}", serde_json::to_string(&fresh)?);
            return Ok(false);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Ok(false)
}

/// Counts the bytes read, for the progress bar.
struct Progressing<R> {
    inner: R,
    bar: indicatif::ProgressBar,
}

impl<R: std::io::Read> std::io::Read for Progressing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// `import FILE`: imports with a progress bar (bytes read, rows/s, ETA) and
/// prints a summary; `Ok(false)` when rows were refused (nothing stored).
async fn import_file(url: Option<&str>, args: &ImportArgs) -> Result<bool> {
    use telecom_gis::import::{Format, ImportOptions, Mode};
    let layer = telecom_gis::domain::CollectionId::parse(&args.layer)
        .filter(|c| *c != telecom_gis::domain::CollectionId::Districts)
        .context("--layer must be towers, fibre-routes or data-centres")?;
    let format = match args.format {
        Some(f) => f,
        None => Format::from_path(&args.file).with_context(|| {
            format!(
                "cannot tell the format of {} from its extension: pass --format",
                args.file.display()
            )
        })?,
    };
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Commit
    };
    let mut options = ImportOptions::new(layer, format, mode);
    options.operator = args.operator.clone();
    options.batch_size = args.batch_size.max(1);
    options.opencellid.site_radius_m = args.site_radius_m;
    options.opencellid.beamwidth_deg = args.beamwidth_deg;
    options.opencellid.azimuth_deg = args.azimuth_deg;
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let pool = connect(url, 3).await?;
    let started = std::time::Instant::now();
    let input = Progressing {
        inner: file,
        bar: bar.clone(),
    };
    let progress_bar = bar.clone();
    let progress = move |rows: u64| {
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        progress_bar.set_message(format!("{rows} rows, {:.0} rows/s", rows as f64 / secs));
    };
    let service = telecom_gis::service::Service {
        pool: pool.clone(),
        coverage: Arc::new(CoverageState::new(load_coverage_config(None)?)),
        analysis: Arc::new(AnalysisConfig::default()),
    };
    let caller = telecom_gis::service::Caller {
        actor: telecom_gis::domain::account::Actor::Account(
            telecom_gis::domain::account::Account::command_line(),
        ),
        request_id: None,
    };
    let report = service
        .import(&caller, Box::new(input), options, &progress)
        .await?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!("{:<10} {}", "file", args.file.display());
    for (k, v) in [
        ("mode", report.mode.clone()),
        ("layer", report.layer.clone()),
        ("format", report.format.clone()),
        ("rows", report.rows.to_string()),
        ("accepted", report.accepted.to_string()),
        ("created", report.created.to_string()),
        ("updated", report.updated.to_string()),
        ("unchanged", report.unchanged.to_string()),
        ("rejected", report.rejected.to_string()),
        ("committed", report.committed.to_string()),
        ("seconds", format!("{secs:.1}")),
        (
            "rows/s",
            format!("{:.0}", report.rows as f64 / secs.max(1e-3)),
        ),
    ] {
        println!("{k:<10} {v}");
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    for p in report.problems.iter().take(args.show_problems) {
        let at = match (p.row, p.feature) {
            (Some(r), _) => format!("row {r}"),
            (_, Some(f)) => format!("feature {f}"),
            _ => "file".into(),
        };
        println!("problem: {at:<12} {:<20} {}", p.field, p.reason);
    }
    let shown = report.problems.len().min(args.show_problems) as u64;
    if report.problems_total > shown {
        println!("… and {} more problems", report.problems_total - shown);
    }
    if report.has_errors() && mode == Mode::Commit {
        println!("nothing was stored: fix the problems and import again");
    }
    Ok(!report.has_errors())
}

/// `export`: writes every feature of a layer to a file; returns the count.
async fn export_layer(url: Option<&str>, args: &ExportArgs) -> Result<u64> {
    use std::io::Write;
    use telecom_gis::service::export::{ExportFormat, ExportRequest};
    let layer = telecom_gis::domain::CollectionId::parse(&args.layer)
        .filter(|c| *c != telecom_gis::domain::CollectionId::Districts)
        .context("--layer must be towers, fibre-routes or data-centres")?;
    let pool = connect(url, 2).await?;
    let service = telecom_gis::service::Service {
        pool: pool.clone(),
        coverage: Arc::new(CoverageState::new(load_coverage_config(
            args.coverage_config.as_deref(),
        )?)),
        analysis: Arc::new(AnalysisConfig::default()),
    };
    if args.format == ExportFormat::Geojson {
        // Sector ranges are served from the coverage model.
        service.coverage.reload(&pool).await?;
    }
    let request = ExportRequest {
        layer,
        filter: db::ItemFilter {
            properties: args
                .operator
                .iter()
                .map(|o| ("operator".to_owned(), o.clone()))
                .collect(),
            ..db::ItemFilter::default()
        },
        limited: false,
        format: args.format,
    };
    // The command line reads the database directly: it sees everything.
    let viewer = telecom_gis::service::Viewer::new(telecom_gis::domain::account::Actor::Account(
        telecom_gis::domain::account::Account::command_line(),
    ));
    if args.format == ExportFormat::Gpkg {
        // SQLite refuses to create tables in an existing GeoPackage: start afresh.
        if args.out.exists() {
            std::fs::remove_file(&args.out)
                .with_context(|| format!("cannot replace {}", args.out.display()))?;
        }
        return Ok(service.export_gpkg(&viewer, request, &args.out).await?);
    }
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(file);
        while let Some(chunk) = rx.blocking_recv() {
            out.write_all(&chunk)?;
        }
        out.flush()
    });
    let n = service.export_stream(&viewer, request, &tx).await?;
    drop(tx);
    writer.await??;
    Ok(n)
}

async fn token_command(url: Option<&str>, cmd: TokenCommand) -> Result<ExitCode> {
    use telecom_gis::db::tokens;
    use telecom_gis::domain::account::Role;
    let pool = connect(url, 2).await?;
    db::migrate(&pool).await?;
    match cmd {
        TokenCommand::Create(args) => {
            let role = Role::from(args.role);
            match tokens::create(&pool, &args.name, role, args.operator.as_deref()).await {
                Ok((info, secret)) => {
                    eprintln!(
                        "created token {} '{}' ({}{}); it is shown once, store it now:",
                        info.id,
                        info.name,
                        info.role,
                        info.operator_id
                            .map(|o| format!(" for {o}"))
                            .unwrap_or_default()
                    );
                    println!("{secret}");
                }
                Err(db::DbError::Invalid(inv)) => {
                    for e in inv.errors {
                        eprintln!("error: {}", e.detail);
                    }
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
        TokenCommand::List => {
            println!(
                "{:>4}  {:<10} {:<8} {:<12} {:<24} {:<20} name",
                "id", "prefix", "role", "operator", "created", "revoked"
            );
            for t in tokens::list(&pool).await? {
                let stamp =
                    |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%d %H:%M:%SZ").to_string();
                println!(
                    "{:>4}  {:<10} {:<8} {:<12} {:<24} {:<20} {}",
                    t.id,
                    t.token_prefix,
                    t.role,
                    t.operator_id.as_deref().unwrap_or("-"),
                    stamp(t.created_at),
                    t.revoked_at.map(stamp).unwrap_or_else(|| "-".into()),
                    t.name
                );
            }
        }
        TokenCommand::Revoke(args) => match tokens::revoke(&pool, &args.token).await {
            Ok(Some(t)) => eprintln!("revoked token {} '{}'", t.id, t.name),
            Ok(None) => {
                eprintln!(
                    "error: no unrevoked token matches '{}' (see token list)",
                    args.token
                );
                return Ok(ExitCode::from(1));
            }
            Err(db::DbError::Invalid(inv)) => {
                for e in inv.errors {
                    eprintln!("error: {}", e.detail);
                }
                return Ok(ExitCode::from(2));
            }
            Err(e) => return Err(e.into()),
        },
    }
    Ok(ExitCode::SUCCESS)
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let url = cli
        .database_url
        .as_ref()
        .map(telecom_gis::config::Secret::expose);
    match cli.command {
        Command::Serve(args) => {
            let acquire_timeout = std::time::Duration::try_from_secs_f64(args.db_acquire_timeout)
                .ok()
                .filter(|d| !d.is_zero())
                .context("--db-acquire-timeout must be a positive number of seconds")?;
            let pool_config = db::PoolConfig {
                max_connections: args.db_max_connections,
                acquire_timeout,
                application_name: args.db_application_name.clone(),
            };
            anyhow::ensure!(
                args.rate_limit_per_s.is_finite() && args.rate_limit_per_s >= 0.0,
                "--rate-limit-per-s must be 0 (no limit) or a positive number"
            );
            let pool = connect_with(url, &pool_config).await?;
            db::migrate(&pool).await?;
            let config = load_coverage_config(args.coverage_config.as_deref())?;
            let coverage = Arc::new(CoverageState::new(config));
            // The listener loads the index once it listens, so no change is
            // missed. It may need a session of its own (see --database-listen-url).
            let listen_pool = match args.database_listen_url.as_ref().map(|s| s.expose()) {
                Some(listen_url) => {
                    let config = db::PoolConfig {
                        max_connections: 3,
                        ..pool_config.clone()
                    };
                    connect_with(Some(listen_url), &config).await?
                }
                None => pool.clone(),
            };
            tokio::spawn(telecom_gis::coverage::listener::listen(
                coverage.clone(),
                listen_pool,
            ));
            let analysis = Arc::new(load_analysis_config(args.analysis_config.as_deref())?);
            let state = AppState {
                analysis,
                coverage,
                public_url: args.public_url.map(Arc::from),
                web_dir: Some(args.web_dir),
                limits: Arc::new(RateLimiter::new(
                    args.rate_limit_per_s,
                    args.rate_limit_burst,
                )),
                timeouts: Timeouts {
                    request: std::time::Duration::from_secs(args.request_timeout_s),
                    import: std::time::Duration::from_secs(args.import_timeout_s),
                },
                cors_origins: args.cors_allow_origins,
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
        Command::Report(ReportCommand::Underserved(args)) => report_underserved(url, &args).await?,
        Command::Generate(args) => {
            for path in sample::write_generated(&args.generator, &args.out)? {
                tracing::info!(path = %path.display(), "written");
            }
        }
        Command::CheckIndex(args) => {
            if !check_index(url, &args).await? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Import(args) => {
            if !import_file(url, &args).await? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Token(cmd) => return token_command(url, cmd).await,
        Command::Export(args) => {
            let n = export_layer(url, &args).await?;
            tracing::info!(path = %args.out.display(), features = n, "exported");
        }
        Command::GenerateOpencellid(args) => {
            let file = std::fs::File::create(&args.out)
                .with_context(|| format!("cannot create {}", args.out.display()))?;
            telecom_gis::generate::opencellid::write(
                args.rows,
                args.seed,
                std::io::BufWriter::new(file),
            )?;
            tracing::info!(path = %args.out.display(), rows = args.rows, "written");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    // check-index exits 1 on a mismatch, so its failures exit 2.
    let failure = match cli.command {
        Command::CheckIndex(_) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    };
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            failure
        }
    }
}
