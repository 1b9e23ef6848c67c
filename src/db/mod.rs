//! PostGIS persistence: connection, migrations, and one module per aggregate.
//!
//! All SQL goes through bound parameters (`QueryBuilder::push_bind` or
//! `$n`), never string interpolation of input.

pub mod analysis;
pub mod coverage;
pub mod data_centres;
pub mod districts;
pub mod duct_banks;
pub mod duct_leases;
pub mod fibre_routes;
pub mod filter;
pub mod footprints;
pub mod history;
pub mod imports;
pub mod layers;
pub mod operators;
pub mod streets;
pub mod structures;
pub mod tiles;
pub mod tokens;
pub mod towers;
pub mod trash;

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::domain::Invalid;

pub use filter::{Bbox, ItemFilter};

/// The embedded migrations in `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The oldest PostGIS this service runs on: 3.0 brings `ST_TileEnvelope`
/// (vector tiles) and the geography functions used for lengths and areas.
pub const MINIMUM_POSTGIS: (u32, u32) = (3, 0);

/// Errors of the persistence layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// A query failed.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// PostGIS is not installed in the database, or too old.
    #[error("PostGIS {found} found; telecom-gis needs PostGIS {}.{} or newer", MINIMUM_POSTGIS.0, MINIMUM_POSTGIS.1)]
    PostgisTooOld {
        /// The version reported by the server ("none" when absent).
        found: String,
    },
    /// The write would break a uniqueness rule (e.g. a duplicate site code).
    #[error("conflict: {detail}")]
    Conflict {
        /// JSON Pointer of the conflicting member.
        pointer: String,
        /// What conflicts with what.
        detail: String,
    },
    /// The write refers to things that do not exist (e.g. an unknown operator).
    #[error("invalid reference")]
    Invalid(Invalid),
}

/// Result alias of this module.
pub type DbResult<T> = Result<T, DbError>;

/// Opens a connection pool with [`PoolConfig::default`] settings and
/// `max_connections` connections at most.
///
/// # Errors
/// When the URL is malformed or the server cannot be reached within the
/// acquire timeout (3 s).
pub async fn connect(url: &str, max_connections: u32) -> DbResult<PgPool> {
    connect_with(
        url,
        &PoolConfig {
            max_connections,
            ..PoolConfig::default()
        },
    )
    .await
}

/// Settings of the connection pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Largest number of connections.
    pub max_connections: u32,
    /// How long a request waits for a connection before it fails (and the
    /// API answers 503): bounds every request's wait while the database is
    /// down.
    pub acquire_timeout: Duration,
    /// `application_name` of every connection, as shown in
    /// `pg_stat_activity` (tells replicas apart).
    pub application_name: String,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
            application_name: "telecom-gis".into(),
        }
    }
}

/// Opens a connection pool with `config`, connecting once to check the URL.
///
/// # Errors
/// When the URL is malformed or the server cannot be reached within
/// `config.acquire_timeout`.
pub async fn connect_with(url: &str, config: &PoolConfig) -> DbResult<PgPool> {
    let options = PgConnectOptions::from_str(url)?.application_name(&config.application_name);
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .connect_with(options)
        .await?)
}

/// SQLSTATEs that mean "the server is (temporarily) not there": connection
/// exceptions (class 08), shutdown (57P01 admin, 57P02 crash), start-up
/// (57P03) and too many connections (53300).
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

impl DbError {
    /// True when the error means the database cannot be reached now
    /// (connection refused or lost, pool timeout, server shutting down or
    /// starting up), so retrying later may succeed; false for errors about
    /// the request or the data.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Sqlx(e) => sqlx_unavailable(e),
            DbError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => sqlx_unavailable(e),
            _ => false,
        }
    }
}

fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| is_unavailable_code(&c)),
        _ => false,
    }
}

/// Checks that the database answers a query.
///
/// # Errors
/// When no connection can be had within the pool's acquire timeout, or the
/// query fails.
pub async fn ping(pool: &PgPool) -> DbResult<()> {
    sqlx::query("select 1").execute(pool).await?;
    Ok(())
}

/// Applies pending migrations.
///
/// # Errors
/// When a migration fails or an applied one was changed.
pub async fn migrate(pool: &PgPool) -> DbResult<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Checks that PostGIS is available and recent enough; returns its version.
///
/// # Errors
/// [`DbError::PostgisTooOld`] when missing or older than [`MINIMUM_POSTGIS`].
pub async fn check_postgis(pool: &PgPool) -> DbResult<String> {
    let available: Option<String> =
        sqlx::query_scalar("select coalesce(installed_version, default_version) from pg_available_extensions where name = 'postgis'")
            .fetch_optional(pool)
            .await?;
    let Some(version) = available else {
        return Err(DbError::PostgisTooOld {
            found: "none".into(),
        });
    };
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if found < MINIMUM_POSTGIS {
        return Err(DbError::PostgisTooOld { found: version });
    }
    Ok(version)
}

/// Turns a violation of a named constraint into a client-facing error.
pub(crate) fn map_constraint(err: sqlx::Error) -> DbError {
    let Some(db) = err.as_database_error() else {
        return DbError::Sqlx(err);
    };
    // 22021/22P05: text PostgreSQL cannot store (e.g. NUL); validation should catch it first.
    if matches!(db.code().as_deref(), Some("22021" | "22P05")) {
        return DbError::Invalid(Invalid::one(
            "/properties",
            "a text value contains characters that cannot be stored (NUL)",
        ));
    }
    let conflict = |pointer: &str, detail: &str| DbError::Conflict {
        pointer: pointer.into(),
        detail: detail.into(),
    };
    match db.constraint() {
        Some("towers_site_code_unique") => conflict(
            "/properties/site_code",
            "this operator already has a tower with this site_code",
        ),
        Some(
            "towers_external_id_unique"
            | "fibre_routes_external_id_unique"
            | "data_centres_external_id_unique"
            | "structures_external_id_unique"
            | "duct_banks_external_id_unique",
        ) => conflict(
            "/properties/external_id",
            "this operator already has an asset with this external_id",
        ),
        Some("districts_pkey") => conflict(
            "/properties/code",
            "a district with this code already exists",
        ),
        Some("sectors_pkey") => conflict("/properties/sectors", "a sector id is already in use"),
        Some(c) if c.ends_with("_geom_valid") => DbError::Invalid(Invalid::one(
            "/geometry",
            "PostGIS rejects this geometry as invalid",
        )),
        Some("duct_banks_from_structure_fk" | "duct_banks_to_structure_fk") => conflict(
            "",
            "duct banks begin or end at this structure: delete them, or end them elsewhere, first",
        ),
        Some(c) if c.ends_with("_owner_fk") => DbError::Invalid(Invalid::one(
            "/properties/owner",
            "unknown owner: 'city' or a registered operator (GET /operators lists them)",
        )),
        Some(c) if c.ends_with("_operator_fk") => DbError::Invalid(Invalid::one(
            "/properties/operator",
            "unknown operator: register it first (GET /operators lists them)",
        )),
        _ => DbError::Sqlx(err),
    }
}

/// The lon/lat extent `[west, south, east, north]` of a collection's
/// features, or `None` when it is empty.
///
/// # Errors
/// On database failure.
pub async fn extent(pool: &PgPool, c: crate::domain::CollectionId) -> DbResult<Option<[f64; 4]>> {
    use crate::domain::CollectionId;
    // Table names come from this match, never from input.
    let table = match c {
        CollectionId::Towers => "towers",
        CollectionId::FibreRoutes => "fibre_routes",
        CollectionId::DataCentres => "data_centres",
        CollectionId::Districts => "districts",
        CollectionId::Structures => "structures",
        CollectionId::DuctBanks => "duct_banks",
    };
    let row: (Option<f64>, Option<f64>, Option<f64>, Option<f64>) = sqlx::query_as(&format!(
        "select ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) from (select ST_Extent(geom) as e from {table}) x"
    ))
    .fetch_one(pool)
    .await?;
    Ok(match row {
        (Some(a), Some(b), Some(c), Some(d)) => Some([a, b, c, d]),
        _ => None,
    })
}

/// True when `operator` already has an asset with `external_id` in the
/// table of collection `c` (always false for `None` or districts).
///
/// # Errors
/// On database failure.
pub async fn exists_external_id(
    conn: &mut sqlx::PgConnection,
    c: crate::domain::CollectionId,
    operator: &str,
    external_id: Option<&str>,
) -> DbResult<bool> {
    use crate::domain::CollectionId;
    let Some(external_id) = external_id else {
        return Ok(false);
    };
    let table = match c {
        CollectionId::Towers => "towers",
        CollectionId::FibreRoutes => "fibre_routes",
        CollectionId::DataCentres => "data_centres",
        CollectionId::Districts => return Ok(false),
        CollectionId::Structures => "structures",
        CollectionId::DuctBanks => "duct_banks",
    };
    if matches!(c, CollectionId::Structures | CollectionId::DuctBanks) {
        // Owned by the city (null) or an operator; `operator` is the owner text.
        return Ok(sqlx::query_scalar(&format!(
            "select exists (select 1 from {table} where coalesce(owner_id, 'city') = $1 and external_id = $2)"
        ))
        .bind(operator)
        .bind(external_id)
        .fetch_one(conn)
        .await?);
    }
    Ok(sqlx::query_scalar(&format!(
        "select exists (select 1 from {table} where operator_id = $1 and external_id = $2)"
    ))
    .bind(operator)
    .bind(external_id)
    .fetch_one(conn)
    .await?)
}

/// Checks a polygonal geometry with PostGIS's own validity rules
/// (`ST_IsValidDetail`), which also catch what `geo::Validation` does not,
/// such as a hole that splits the interior in two.
///
/// # Errors
/// [`DbError::Invalid`] at `/geometry` with the reason and the lon/lat of
/// the problem; or on database failure.
pub async fn check_polygon_validity(
    conn: &mut sqlx::PgConnection,
    g: &geo::Geometry<f64>,
) -> DbResult<()> {
    if !matches!(
        g,
        geo::Geometry::Polygon(_) | geo::Geometry::MultiPolygon(_)
    ) {
        return Ok(());
    }
    let (valid, reason, lon, lat): (bool, Option<String>, Option<f64>, Option<f64>) =
        sqlx::query_as(
            "select (d).valid, (d).reason, ST_X((d).location), ST_Y((d).location)
         from (select ST_IsValidDetail(ST_SetSRID($1::geometry, 4326)) as d) x",
        )
        .bind(geozero::wkb::Encode(g.clone()))
        .fetch_one(conn)
        .await?;
    if valid {
        return Ok(());
    }
    let at = match (lon, lat) {
        (Some(x), Some(y)) => format!(" at lon {x:.7}, lat {y:.7}"),
        _ => String::new(),
    };
    Err(DbError::Invalid(Invalid::one(
        "/geometry/coordinates",
        format!(
            "invalid polygon: {}{at}",
            reason.unwrap_or_else(|| "not valid".into())
        ),
    )))
}
