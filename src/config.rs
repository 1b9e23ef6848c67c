//! Command line and environment configuration (clap).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// telecom-gis: telecom infrastructure inventory and coverage GIS service.
#[derive(Debug, Parser)]
#[command(name = "telecom-gis", version, about)]
pub struct Cli {
    /// PostgreSQL/PostGIS connection URL (never logged).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// Log output: `text` for people, `json` for log collectors.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A value that may hold a password (a database URL): its `Debug` does not
/// show it, so printing the configuration cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve the HTTP API (and the web map).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load the Đà Nẵng sample: real districts plus generated synthetic assets (idempotent).
    LoadSample(SampleArgs),
    /// Write seeded synthetic assets as GeoJSON files (towers, fibre-routes, data-centres).
    Generate(GenerateArgs),
    /// Print a report.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Check that a running service's coverage index equals one loaded fresh
    /// from the database (exit code 1 when they differ).
    CheckIndex(CheckIndexArgs),
    /// Import a GeoJSON, CSV or OpenCelliD file into one layer (all or
    /// nothing; upsert by the operator's external_id).
    Import(ImportArgs),
    /// Write a deterministic OpenCelliD-style CSV of synthetic cells around
    /// Đà Nẵng (for benchmarks and tests).
    GenerateOpencellid(GenerateOpenCellIdArgs),
    /// Export every feature of a layer as CSV or GeoJSON (the shapes
    /// `import` reads back).
    Export(ExportArgs),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (shown once; only its hash is stored).
    /// The token is the last line of the output.
    Create(TokenCreateArgs),
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id, name or prefix (as `token list` shows them).
    Revoke(TokenRevokeArgs),
}

/// Options of `token create`.
#[derive(Debug, clap::Args)]
pub struct TokenCreateArgs {
    /// What the token may do.
    #[arg(long, value_enum)]
    pub role: TokenRole,
    /// The operator a carrier token acts for (e.g. viettel).
    #[arg(long)]
    pub operator: Option<String>,
    /// What the token is for, e.g. "Viettel GIS team".
    #[arg(long)]
    pub name: String,
}

/// Roles of `token create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenRole {
    /// The Department: everything, including restoring deleted assets.
    Admin,
    /// One operator's assets (needs --operator).
    Carrier,
    /// Reads everything (exact fibre routes, the history); writes nothing.
    Analyst,
}

impl From<TokenRole> for crate::domain::account::Role {
    fn from(r: TokenRole) -> Self {
        match r {
            TokenRole::Admin => Self::Admin,
            TokenRole::Carrier => Self::Carrier,
            TokenRole::Analyst => Self::Analyst,
        }
    }
}

/// Options of `token revoke`.
#[derive(Debug, clap::Args)]
pub struct TokenRevokeArgs {
    /// Token id, name or prefix.
    pub token: String,
}

/// Options of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Layer: towers, fibre-routes, data-centres, structures or duct-banks.
    #[arg(long)]
    pub layer: String,
    /// Output format.
    #[arg(long, default_value = "csv")]
    pub format: crate::service::export::ExportFormat,
    /// Only this operator's features.
    #[arg(long)]
    pub operator: Option<String>,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// Coverage model (for the modelled sector ranges in GeoJSON; default:
    /// config/coverage.toml when present).
    #[arg(long, env = "COVERAGE_CONFIG")]
    pub coverage_config: Option<PathBuf>,
}

/// Options of `import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file to import.
    pub file: PathBuf,
    /// Target layer: towers, fibre-routes, data-centres, structures or duct-banks.
    #[arg(long)]
    pub layer: String,
    /// The operator the file belongs to: fills a missing operator column
    /// and refuses rows of other operators.
    #[arg(long)]
    pub operator: Option<String>,
    /// Input format (default: from the file extension; a `.csv` whose
    /// header starts `radio,mcc,net,area` is read as OpenCelliD).
    #[arg(long)]
    pub format: Option<crate::import::Format>,
    /// Validate and report only; store nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// OpenCelliD: cells of one operator within this distance of a site's
    /// first cell form one site, metres.
    #[arg(long, default_value_t = 50.0)]
    pub site_radius_m: f64,
    /// OpenCelliD: beamwidth of every sector, degrees (360 = omni).
    #[arg(long, default_value_t = 360.0)]
    pub beamwidth_deg: f64,
    /// OpenCelliD: azimuth of every sector, degrees clockwise from north.
    #[arg(long, default_value_t = 0.0)]
    pub azimuth_deg: f64,
    /// Features written per batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Problems listed in the summary.
    #[arg(long, default_value_t = 20)]
    pub show_problems: usize,
    /// Where asset geometries may lie (the same settings as `serve`).
    #[command(flatten)]
    pub region: RegionArgs,
}

/// Options of `generate-opencellid`.
#[derive(Debug, clap::Args)]
pub struct GenerateOpenCellIdArgs {
    /// Number of cell rows.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Random seed (same seed, same file).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output CSV file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Options of `check-index`.
#[derive(Debug, clap::Args)]
pub struct CheckIndexArgs {
    /// Base URL of the running service (plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Coverage model file the service runs with (default:
    /// config/coverage.toml when present); ranges depend on it.
    #[arg(long, env = "COVERAGE_CONFIG")]
    pub coverage_config: Option<PathBuf>,
    /// Comparisons before giving up; changes still in flight (applied within
    /// about 100 ms) get this many chances, 500 ms apart.
    #[arg(long, default_value_t = 5)]
    pub attempts: u32,
}

/// Reports.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The districts ranked worst first, with class, score and failing criteria.
    Underserved(UnderservedArgs),
}

/// Output formats of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// An aligned table for the terminal.
    Table,
    /// CSV for a spreadsheet.
    Csv,
    /// GeoJSON FeatureCollection.
    Geojson,
}

/// Options of `report underserved`.
#[derive(Debug, clap::Args)]
pub struct UnderservedArgs {
    /// Technology: 2G, 3G, 4G or 5G.
    #[arg(long, default_value = "4G")]
    pub technology: String,
    /// Output format.
    #[arg(long, default_value = "table")]
    pub format: ReportFormat,
    /// Thresholds file (default: config/analysis.toml when present).
    #[arg(long, env = "ANALYSIS_CONFIG")]
    pub analysis_config: Option<PathBuf>,
    /// Coverage model file (default: config/coverage.toml when present).
    #[arg(long, env = "COVERAGE_CONFIG")]
    pub coverage_config: Option<PathBuf>,
}

/// Options of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// TCP port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Public base URL for links (e.g. behind a proxy); default: from the Host header.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Folder of the built web front end served to browsers (`make run`
    /// builds it with npm into web/dist).
    #[arg(long, env = "WEB_DIR", default_value = "web/dist")]
    pub web_dir: PathBuf,
    /// Coverage model configuration (TOML); default: config/coverage.toml when
    /// present, else the copy built into the binary.
    #[arg(long, env = "COVERAGE_CONFIG")]
    pub coverage_config: Option<PathBuf>,
    /// Underserved-analysis thresholds (TOML); default: config/analysis.toml
    /// when present, else the copy built into the binary.
    #[arg(long, env = "ANALYSIS_CONFIG")]
    pub analysis_config: Option<PathBuf>,
    /// Largest number of database connections.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Seconds a request waits for a database connection before it is
    /// answered 503 (e.g. while the database is down).
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT", default_value_t = 3.0)]
    pub db_acquire_timeout: f64,
    /// Separate URL for the change listener (`LISTEN` needs a session of its
    /// own: give PostgreSQL itself or a session-mode pgbouncer pool when
    /// DATABASE_URL goes through transaction pooling); default: DATABASE_URL.
    #[arg(long, env = "DATABASE_LISTEN_URL", hide_env_values = true)]
    pub database_listen_url: Option<Secret>,
    /// `application_name` of the database connections (tells replicas apart
    /// in `pg_stat_activity`).
    #[arg(long, env = "DB_APPLICATION_NAME", default_value = "telecom-gis")]
    pub db_application_name: String,
    /// Rate limits per token and per client address.
    #[command(flatten)]
    pub rate_limits: RateLimitArgs,
    /// Where asset geometries may lie.
    #[command(flatten)]
    pub region: RegionArgs,
    /// Seconds a request may take until its response head (streamed export
    /// bodies may take longer); over it the answer is 503 with `Retry-After`.
    #[arg(long, env = "REQUEST_TIMEOUT_S", default_value_t = DEFAULT_REQUEST_TIMEOUT_S,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_s: u64,
    /// Seconds a `POST /imports` may take.
    #[arg(long, env = "IMPORT_TIMEOUT_S", default_value_t = DEFAULT_IMPORT_TIMEOUT_S,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub import_timeout_s: u64,
    /// Origins browsers may call the API from: `*` (any; safe, as bearer
    /// tokens are not ambient credentials and credentials are never allowed)
    /// or a comma-separated list such as `https://gis.example.org`.
    #[arg(long, env = "CORS_ALLOW_ORIGINS", default_value = "*")]
    pub cors_allow_origins: CorsOrigins,
    /// The city's duct fill limits: one cable, two, three or more, as
    /// shares or percentages of a duct's cross-section; default NEC
    /// Chapter 9 Table 1. Leases are admitted, free capacity computed
    /// (capacity map, tiles, routes, indicators) under them.
    #[arg(long, env = "DUCT_FILL_LIMITS", default_value = "0.53,0.31,0.40")]
    pub duct_fill_limits: crate::domain::duct::CapacityPolicy,
}

/// Rate limits of `serve` (see docs/limits.md "Rate limits"): each budget
/// is a sustained rate and a burst; 0 for either disables that budget. Over
/// a budget the answer is 429 problem+json with `Retry-After`.
#[derive(Debug, Clone, clap::Args)]
pub struct RateLimitArgs {
    /// Sustained requests per second of one bearer token, every request but
    /// cheap reads (0: no limit).
    #[arg(long, env = "RATE_LIMIT_PER_S", default_value_t = DEFAULT_RATE_LIMIT_PER_S)]
    pub rate_limit_per_s: f64,
    /// Requests one bearer token may send at once before the sustained rate
    /// applies (0: no limit).
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = DEFAULT_RATE_LIMIT_BURST)]
    pub rate_limit_burst: u32,
    /// Sustained cheap reads per second (feature pages, tiles, collections,
    /// the landing page, the web map's files) of one token or, anonymous,
    /// one client address (0: no limit). `/healthz` and `/readyz` are never
    /// limited.
    #[arg(long, env = "READ_RATE_LIMIT_PER_S", default_value_t = DEFAULT_READ_RATE_LIMIT_PER_S)]
    pub read_rate_limit_per_s: f64,
    /// Cheap reads at once of one token or client address (0: no limit).
    #[arg(long, env = "READ_RATE_LIMIT_BURST", default_value_t = DEFAULT_READ_RATE_LIMIT_BURST)]
    pub read_rate_limit_burst: u32,
    /// Sustained anonymous requests per second of one client address that
    /// are neither cheap reads nor expensive (the change feed, histories,
    /// refused writes; 0: no limit).
    #[arg(long, env = "ANON_RATE_LIMIT_PER_S", default_value_t = DEFAULT_ANON_RATE_LIMIT_PER_S)]
    pub anon_rate_limit_per_s: f64,
    /// Those anonymous requests at once (0: no limit).
    #[arg(long, env = "ANON_RATE_LIMIT_BURST", default_value_t = DEFAULT_ANON_RATE_LIMIT_BURST)]
    pub anon_rate_limit_burst: u32,
    /// Sustained anonymous expensive requests per second of one client
    /// address: `/coverage/gaps`, `/coverage/footprints`, `/analysis/*`,
    /// `POST /coverage/points` and exports (0: no limit).
    #[arg(long, env = "EXPENSIVE_RATE_LIMIT_PER_S", default_value_t = DEFAULT_EXPENSIVE_RATE_LIMIT_PER_S)]
    pub expensive_rate_limit_per_s: f64,
    /// Anonymous expensive requests at once (0: no limit).
    #[arg(long, env = "EXPENSIVE_RATE_LIMIT_BURST", default_value_t = DEFAULT_EXPENSIVE_RATE_LIMIT_BURST)]
    pub expensive_rate_limit_burst: u32,
    /// Reverse proxies (addresses or CIDR blocks, comma-separated) whose
    /// `X-Forwarded-For` names the client address; default none (the TCP
    /// peer is the client). Only set it for proxies you run: anyone can
    /// send the header.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// A proxy of `TRUSTED_PROXIES`: a CIDR block, or one address.
fn parse_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            format!("'{text}' is neither an IP address nor a CIDR block such as 10.0.0.0/8")
        })
}

/// The service region of `serve` and `import` (see docs/limits.md "Service
/// region"): asset geometries outside it are refused (422, or a row problem
/// of an import).
#[derive(Debug, Clone, clap::Args)]
pub struct RegionArgs {
    /// Where every vertex of a tower, fibre route, data centre or district
    /// must lie: minLon,minLat,maxLon,maxLat (degrees); default Đà Nẵng
    /// with a margin of about 20 km.
    #[arg(long, env = "SERVICE_REGION", default_value = "107.6,15.7,108.6,16.45")]
    pub service_region: crate::domain::region::LonLatBox,
    /// Where submarine cables may reach (they must still land in the
    /// service region): minLon,minLat,maxLon,maxLat; default the East Sea.
    #[arg(long, env = "CABLE_REGION", default_value = "100,0,125,25")]
    pub cable_region: crate::domain::region::LonLatBox,
    /// Longest underground or aerial fibre route, geodesic km.
    #[arg(long, env = "MAX_ROUTE_KM", default_value_t = crate::domain::region::MAX_ROUTE_KM)]
    pub max_route_km: f64,
    /// Longest submarine cable, geodesic km.
    #[arg(long, env = "MAX_CABLE_KM", default_value_t = crate::domain::region::MAX_CABLE_KM)]
    pub max_cable_km: f64,
    /// Most parts (LineStrings) of one fibre route: 1 to 1,000 (the fixed
    /// structural ceiling of a fibre-route geometry, `fibre-routes max
    /// parts`, checked while parsing).
    #[arg(long, env = "MAX_ROUTE_PARTS", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_route_parts: u32,
}

impl RegionArgs {
    /// The region these settings describe.
    ///
    /// # Errors
    /// When a length limit is not a positive number.
    pub fn region(&self) -> Result<crate::domain::region::ServiceRegion, String> {
        for (flag, km) in [
            ("max-route-km", self.max_route_km),
            ("max-cable-km", self.max_cable_km),
        ] {
            if !(km.is_finite() && km > 0.0) {
                return Err(format!("--{flag} must be a positive number of kilometres"));
            }
        }
        Ok(crate::domain::region::ServiceRegion {
            area: self.service_region,
            cable_area: self.cable_region,
            max_route_km: self.max_route_km,
            max_cable_km: self.max_cable_km,
            max_route_parts: usize::try_from(self.max_route_parts).unwrap_or(usize::MAX),
        })
    }
}

/// Generator parameters shared by `generate` and `load-sample`.
#[derive(Debug, Clone, clap::Args)]
pub struct GeneratorArgs {
    /// Random seed; the same seed gives the same assets.
    #[arg(long, default_value_t = 2019)]
    pub seed: u64,
    /// Number of towers.
    #[arg(long, default_value_t = 1500)]
    pub towers: usize,
    /// Kilometres of land fibre (backbone rings and feeders).
    #[arg(long, default_value_t = 300.0)]
    pub fibre_km: f64,
    /// Number of data centres.
    #[arg(long, default_value_t = 8)]
    pub data_centres: usize,
    /// Folder with danang_districts.geojson and danang_major_transport_lines.geojson.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

/// Options of `load-sample`.
#[derive(Debug, clap::Args)]
pub struct SampleArgs {
    /// Generator parameters.
    #[command(flatten)]
    pub generator: GeneratorArgs,
}

/// Options of `generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Generator parameters.
    #[command(flatten)]
    pub generator: GeneratorArgs,
    /// Output folder for towers.geojson, fibre-routes.geojson, data-centres.geojson.
    #[arg(long, default_value = "generated")]
    pub out: PathBuf,
}

/// Default sustained rate of one bearer token, requests per second.
pub const DEFAULT_RATE_LIMIT_PER_S: f64 = 10.0;
/// Default burst of one bearer token, requests.
pub const DEFAULT_RATE_LIMIT_BURST: u32 = 100;
/// Default sustained cheap reads of one token or client address, per second
/// (a map view loads tens of tiles at once).
pub const DEFAULT_READ_RATE_LIMIT_PER_S: f64 = 50.0;
/// Default burst of cheap reads, requests.
pub const DEFAULT_READ_RATE_LIMIT_BURST: u32 = 500;
/// Default sustained anonymous requests (neither cheap nor expensive) of one
/// client address, per second.
pub const DEFAULT_ANON_RATE_LIMIT_PER_S: f64 = 5.0;
/// Default burst of those anonymous requests.
pub const DEFAULT_ANON_RATE_LIMIT_BURST: u32 = 50;
/// Default sustained anonymous expensive requests of one client address,
/// per second.
pub const DEFAULT_EXPENSIVE_RATE_LIMIT_PER_S: f64 = 1.0;
/// Default burst of anonymous expensive requests.
pub const DEFAULT_EXPENSIVE_RATE_LIMIT_BURST: u32 = 20;
/// Default bound of a request's time to the response head, seconds.
pub const DEFAULT_REQUEST_TIMEOUT_S: u64 = 30;
/// Default bound of `POST /imports`, seconds.
pub const DEFAULT_IMPORT_TIMEOUT_S: u64 = 600;

/// Origins allowed to call the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (`*`): bearer tokens are not ambient credentials, so a
    /// foreign page cannot act as a user without holding the token.
    Any,
    /// Only these origins (`scheme://host[:port]`).
    List(Vec<axum::http::HeaderValue>),
}

impl std::str::FromStr for CorsOrigins {
    type Err = String;

    /// `*`, or a comma-separated list of origins.
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim() == "*" {
            return Ok(CorsOrigins::Any);
        }
        let mut list = Vec::new();
        for o in s.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let o = o.trim_end_matches('/');
            let valid =
                (o.starts_with("http://") || o.starts_with("https://")) && !o.contains(['*', ' ']);
            match axum::http::HeaderValue::from_str(o) {
                Ok(v) if valid => list.push(v),
                _ => {
                    return Err(format!(
                        "'{o}' is not an origin: use scheme://host[:port], e.g. https://gis.example.org, or *"
                    ));
                }
            }
        }
        if list.is_empty() {
            return Err("no origin given: use * or a comma-separated list of origins".into());
        }
        Ok(CorsOrigins::List(list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_the_configuration_hides_the_database_password() {
        let cli = Cli::try_parse_from([
            "telecom-gis",
            "--database-url",
            "postgres://u:hunter2@db/x",
            "serve",
            "--database-listen-url",
            "postgres://u:hunter3@db/x",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        assert_eq!(
            cli.database_url.as_ref().map(Secret::expose),
            Some("postgres://u:hunter2@db/x")
        );
    }

    #[test]
    fn serve_defaults_limit_tokens_and_bound_requests() {
        let cli = Cli::try_parse_from(["telecom-gis", "serve"]).unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        let r = &a.rate_limits;
        assert_eq!((r.rate_limit_per_s, r.rate_limit_burst), (10.0, 100));
        assert_eq!(
            (r.read_rate_limit_per_s, r.read_rate_limit_burst),
            (50.0, 500)
        );
        assert_eq!(
            (r.anon_rate_limit_per_s, r.anon_rate_limit_burst),
            (5.0, 50)
        );
        assert_eq!(
            (r.expensive_rate_limit_per_s, r.expensive_rate_limit_burst),
            (1.0, 20)
        );
        assert!(r.trusted_proxies.is_empty());
        let cli = Cli::try_parse_from([
            "telecom-gis",
            "serve",
            "--trusted-proxies",
            "10.0.0.0/8, ::1",
        ])
        .unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(
            a.rate_limits.trusted_proxies,
            [
                "10.0.0.0/8".parse::<ipnet::IpNet>().unwrap(),
                "::1/128".parse().unwrap()
            ]
        );
        assert!(
            Cli::try_parse_from(["telecom-gis", "serve", "--trusted-proxies", "proxy.lan"])
                .is_err()
        );
        let cli = Cli::try_parse_from(["telecom-gis", "serve"]).unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(
            a.region.region(),
            Ok(crate::domain::region::ServiceRegion::default())
        );
        assert_eq!((a.request_timeout_s, a.import_timeout_s), (30, 600));
        assert_eq!(a.cors_allow_origins, CorsOrigins::Any);
        assert!(Cli::try_parse_from(["telecom-gis", "serve", "--request-timeout-s", "0"]).is_err());
    }
}
