//! Layer versions (migrations 0003, 0005 and 0006): the version every layer's
//! data is at, read in one statement, and the versions a write spans.

use sqlx::{PgConnection, PgExecutor};

use super::DbResult;
use crate::domain::CollectionId;

/// The version of every stored layer (`layer_versions.version`; 0 for a
/// layer not read yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Versions {
    /// `towers` (towers, their sectors and tenants).
    pub towers: i64,
    /// `fibre_routes`.
    pub fibre_routes: i64,
    /// `data_centres`.
    pub data_centres: i64,
    /// `districts`.
    pub districts: i64,
    /// `structures`.
    pub structures: i64,
    /// `duct_banks` (banks, ducts, subducts and leases).
    pub duct_banks: i64,
}

impl Versions {
    /// The version of collection `c`'s layer.
    pub fn get(&self, c: CollectionId) -> i64 {
        match c {
            CollectionId::Towers => self.towers,
            CollectionId::FibreRoutes => self.fibre_routes,
            CollectionId::DataCentres => self.data_centres,
            CollectionId::Districts => self.districts,
            CollectionId::Structures => self.structures,
            CollectionId::DuctBanks => self.duct_banks,
        }
    }

    /// Sets the version of collection `c`'s layer.
    pub fn set(&mut self, c: CollectionId, v: i64) {
        match c {
            CollectionId::Towers => self.towers = v,
            CollectionId::FibreRoutes => self.fibre_routes = v,
            CollectionId::DataCentres => self.data_centres = v,
            CollectionId::Districts => self.districts = v,
            CollectionId::Structures => self.structures = v,
            CollectionId::DuctBanks => self.duct_banks = v,
        }
    }
}

/// The layer name of collection `c` in `layer_versions`.
pub fn layer_name(c: CollectionId) -> &'static str {
    match c {
        CollectionId::Towers => "towers",
        CollectionId::FibreRoutes => "fibre_routes",
        CollectionId::DataCentres => "data_centres",
        CollectionId::Districts => "districts",
        CollectionId::Structures => "structures",
        CollectionId::DuctBanks => "duct_banks",
    }
}

/// The collection of layer `name` (`None` for another name).
pub fn layer_collection(name: &str) -> Option<CollectionId> {
    Some(match name {
        "towers" => CollectionId::Towers,
        "fibre_routes" => CollectionId::FibreRoutes,
        "data_centres" => CollectionId::DataCentres,
        "districts" => CollectionId::Districts,
        "structures" => CollectionId::Structures,
        "duct_banks" => CollectionId::DuctBanks,
        _ => return None,
    })
}

/// Every layer's version, in one statement (one snapshot).
///
/// # Errors
/// On database failure.
pub async fn versions<'e>(ex: impl PgExecutor<'e>) -> DbResult<Versions> {
    let rows: Vec<(String, i64)> = sqlx::query_as("select layer, version from layer_versions")
        .fetch_all(ex)
        .await?;
    let mut v = Versions::default();
    for (layer, version) in rows {
        if let Some(c) = layer_collection(&layer) {
            v.set(c, version);
        }
    }
    Ok(v)
}

/// Commits `tx` and returns the versions its changes to `c`'s layer span:
/// `(base, now)`, where `base` is the layer's version before its change and
/// `now` the version it committed (`None` when it changed nothing of the
/// layer). Fires the deferred version bump of migration 0006.
///
/// The layer's version row is locked from the moment the deferred version
/// bump fires until the commit, and every writer of the layer queues on
/// that lock. Asking for the span and then committing takes three round
/// trips with the lock held, and a busy client stretches each of them; so
/// here the bump, the span and the commit go to the server as one
/// simple-query message (`SET CONSTRAINTS ALL IMMEDIATE; SELECT …;
/// COMMIT; BEGIN`), and the lock is held only while the server runs them.
/// The `BEGIN` opens an empty transaction for `tx` to commit, so the
/// driver's own transaction state stays right.
///
/// # Errors
/// On database failure (a deferred constraint, the bump, the commit):
/// nothing is committed then, and `tx` rolls back when dropped.
pub async fn commit_with_span(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    c: CollectionId,
) -> DbResult<Option<(i64, i64)>> {
    use sqlx::Row;
    macro_rules! commit_sql {
        ($layer:literal) => {
            concat!(
                "set constraints all immediate; ",
                "select version, current_setting('telecom_gis.base_",
                $layer,
                "', true) as base from layer_versions where layer = '",
                $layer,
                "'; commit; begin"
            )
        };
    }
    let sql: &'static str = match c {
        CollectionId::Towers => commit_sql!("towers"),
        CollectionId::FibreRoutes => commit_sql!("fibre_routes"),
        CollectionId::DataCentres => commit_sql!("data_centres"),
        CollectionId::Districts => commit_sql!("districts"),
        CollectionId::Structures => commit_sql!("structures"),
        CollectionId::DuctBanks => commit_sql!("duct_banks"),
    };
    // A query without arguments goes as one simple-query message.
    let rows = sqlx::Executor::fetch_all(&mut *tx, sql).await?;
    tx.commit().await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let now: i64 = row.try_get("version")?;
    let base: Option<String> = row.try_get("base")?;
    Ok(base
        .filter(|b| !b.is_empty())
        .and_then(|b| b.parse().ok())
        .map(|b| (b, now)))
}

/// How long one probe may take before the reader falls back to the pool.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// How long the probe stays on the pool after its connection failed.
const PROBE_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads [`versions`] for many concurrent readers at once, on a connection
/// of its own.
///
/// A reader must see every change committed before its request began, so
/// it needs a statement that *started* after it arrived. Readers take a
/// ticket; the one holding the probe's lock reads the versions for every
/// ticket handed out before its statement starts, and the readers queued
/// behind it take that answer instead of a statement each. One reader
/// alone costs one round trip on a held connection (no pool checkout);
/// under load, one statement answers a whole queue.
///
/// The connection is opened on first use (from the pool's options, outside
/// the pool) and dropped on any error or a cancelled probe; then readers use
/// the pool for [`PROBE_RETRY`] before it is opened again. Errors are the
/// pool's: a failed probe falls back to a pool read, whose error is
/// returned.
#[derive(Debug, Default)]
pub struct VersionProbe {
    tickets: std::sync::atomic::AtomicU64,
    state: tokio::sync::Mutex<ProbeState>,
}

#[derive(Debug, Default)]
struct ProbeState {
    conn: Option<PgConnection>,
    /// A probe was cancelled mid-statement: the connection is not reused.
    in_flight: bool,
    /// The last answer and the highest ticket it serves.
    last: Option<(u64, Versions)>,
    /// No new connection before this instant.
    retry_at: Option<tokio::time::Instant>,
}

impl VersionProbe {
    /// Every layer's version as of a statement that started after this call.
    ///
    /// # Errors
    /// On database failure (the pool's error).
    pub async fn versions(&self, pool: &sqlx::PgPool) -> DbResult<Versions> {
        use std::sync::atomic::Ordering;
        let ticket = self.tickets.fetch_add(1, Ordering::AcqRel) + 1;
        let mut state = self.state.lock().await;
        if let Some((through, v)) = state.last
            && through >= ticket
        {
            return Ok(v);
        }
        // Every ticket up to here was taken before the statement below.
        let through = self.tickets.load(Ordering::Acquire);
        match self.probe(&mut state, pool).await {
            Some(v) => {
                state.last = Some((through, v));
                Ok(v)
            }
            None => {
                drop(state);
                versions(pool).await
            }
        }
    }

    async fn probe(&self, state: &mut ProbeState, pool: &sqlx::PgPool) -> Option<Versions> {
        use sqlx::Connection;
        if state.in_flight {
            state.conn = None;
            state.in_flight = false;
        }
        let now = tokio::time::Instant::now();
        if state.conn.is_none() {
            if state.retry_at.is_some_and(|t| now < t) {
                return None;
            }
            let options = pool.connect_options();
            match tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect_with(&options)).await {
                Ok(Ok(c)) => state.conn = Some(c),
                _ => {
                    state.retry_at = Some(now + PROBE_RETRY);
                    return None;
                }
            }
        }
        let conn = state.conn.as_mut()?;
        state.in_flight = true;
        let answer = tokio::time::timeout(PROBE_TIMEOUT, versions(&mut *conn)).await;
        state.in_flight = false;
        match answer {
            Ok(Ok(v)) => Some(v),
            _ => {
                state.conn = None;
                state.retry_at = Some(now + PROBE_RETRY);
                None
            }
        }
    }
}
