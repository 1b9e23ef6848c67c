//! Keeps the in-memory coverage index in step with PostGIS.
//!
//! Readers take an immutable snapshot (`Arc<CoverageIndex>`); every change
//! builds a new snapshot and swaps it in atomically, so a reader never sees a
//! half-applied change. Writes through this service refresh the index right
//! after their transaction commits; changes made elsewhere (another replica,
//! plain SQL) arrive by `LISTEN telecom_gis_changes` (triggers of migration
//! 0002) and are applied within about 100 ms; after the listening connection
//! is lost and re-established, the index is rebuilt in full.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::db::{self, DbError};
use crate::spatial::coverage::{CoverageIndex, IndexError};
use crate::spatial::propagation::CoverageConfig;

/// The channel the triggers notify.
pub const CHANNEL: &str = "telecom_gis_changes";

/// Above this many changed towers in one batch, rebuild instead of patching.
const PATCH_LIMIT: usize = 2_000;

/// Errors of synchronisation.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Loading from the database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The index could not hold the data.
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl From<sqlx::Error> for SyncError {
    fn from(e: sqlx::Error) -> Self {
        SyncError::Db(e.into())
    }
}

/// The shared, swappable coverage index.
#[derive(Debug)]
pub struct CoverageState {
    current: RwLock<Arc<CoverageIndex>>,
    writer: tokio::sync::Mutex<()>,
    config: Arc<CoverageConfig>,
    loaded: AtomicBool,
}

impl CoverageState {
    /// An empty, not yet loaded index.
    pub fn new(config: CoverageConfig) -> Self {
        let config = Arc::new(config);
        Self {
            current: RwLock::new(Arc::new(CoverageIndex::empty(config.clone()))),
            writer: tokio::sync::Mutex::new(()),
            config,
            loaded: AtomicBool::new(false),
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<CoverageIndex> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// True once a full load has completed.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// The model configuration.
    pub fn config(&self) -> &CoverageConfig {
        &self.config
    }

    fn swap(&self, next: CoverageIndex) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
    }

    async fn build(&self, pool: &PgPool, version: u64) -> Result<CoverageIndex, SyncError> {
        let (areas, sectors, fibre, dcs) = tokio::try_join!(
            db::coverage::areas(pool),
            db::coverage::operational_sectors(pool),
            db::coverage::operational_fibre(pool),
            db::coverage::operational_data_centres(pool),
        )?;
        let config = self.config.clone();
        let index = tokio::task::spawn_blocking(move || {
            CoverageIndex::build(config, areas, &sectors, &fibre, &dcs, version)
        })
        .await
        .map_err(|e| SyncError::Db(DbError::Sqlx(sqlx::Error::Protocol(e.to_string()))))??;
        Ok(index)
    }

    /// Rebuilds the whole index from the database.
    ///
    /// # Errors
    /// When loading fails; the previous snapshot stays in place.
    pub async fn reload(&self, pool: &PgPool) -> Result<(), SyncError> {
        let _guard = self.writer.lock().await;
        let started = std::time::Instant::now();
        let version = self.snapshot().version + 1;
        let index = self.build(pool, version).await?;
        tracing::info!(
            sectors = index.sector_count(),
            version,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "coverage index loaded"
        );
        self.swap(index);
        self.loaded.store(true, Ordering::Release);
        Ok(())
    }

    /// Re-reads the sectors of `tower_ids` and patches the index.
    ///
    /// # Errors
    /// When loading fails.
    pub async fn refresh_towers(&self, pool: &PgPool, tower_ids: &[i64]) -> Result<(), SyncError> {
        if tower_ids.len() > PATCH_LIMIT {
            return self.reload(pool).await;
        }
        let _guard = self.writer.lock().await;
        let mut conn = pool.acquire().await?;
        let sectors = db::coverage::tower_sectors(&mut conn, tower_ids).await?;
        drop(conn);
        let mut next = (*self.snapshot()).clone();
        for id in tower_ids {
            let mine: Vec<_> = sectors
                .iter()
                .filter(|s| s.tower_id == *id)
                .cloned()
                .collect();
            match next.with_tower(*id, &mine) {
                Ok(n) => next = n,
                Err(IndexError::OutsideFrame) => {
                    drop(_guard);
                    return self.reload(pool).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.swap(next);
        Ok(())
    }
}

impl CoverageState {
    /// Re-reads operational fibre routes and data centres (sectors untouched).
    ///
    /// # Errors
    /// When loading fails.
    pub async fn reload_layers(&self, pool: &PgPool) -> Result<(), SyncError> {
        let _guard = self.writer.lock().await;
        let (fibre, dcs) = tokio::try_join!(
            db::coverage::operational_fibre(pool),
            db::coverage::operational_data_centres(pool)
        )?;
        let next = self.snapshot().with_layers(&fibre, &dcs);
        self.swap(next);
        Ok(())
    }
}

/// Applies one batch of notification payloads.
async fn apply(state: &CoverageState, pool: &PgPool, payloads: &[String]) -> Result<(), SyncError> {
    let mut towers = BTreeSet::new();
    let (mut full, mut layers) = (false, false);
    for p in payloads {
        let v = serde_json::from_str::<serde_json::Value>(p).unwrap_or_default();
        match (v["tower"].as_i64(), v["layer"].as_str()) {
            (Some(id), _) => {
                towers.insert(id);
            }
            (None, Some("fibre_routes" | "data_centres")) => layers = true,
            _ => full = true,
        }
    }
    if full || towers.len() > PATCH_LIMIT {
        return state.reload(pool).await;
    }
    if layers {
        state.reload_layers(pool).await?;
    }
    if !towers.is_empty() {
        state
            .refresh_towers(pool, &towers.into_iter().collect::<Vec<_>>())
            .await?;
    }
    Ok(())
}

/// Listens for change notifications forever, applying them in batches
/// collected over 50 ms; rebuilds in full after a reconnect.
pub async fn listen(state: Arc<CoverageState>, pool: PgPool) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "coverage listener cannot connect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Anything may have changed while we were not listening.
        if let Err(e) = state.reload(&pool).await {
            tracing::warn!(error = %e, "coverage reload failed");
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(first)) => {
                    let mut batch = vec![first.payload().to_owned()];
                    let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
                    let mut lost = false;
                    loop {
                        match tokio::time::timeout_at(deadline, listener.try_recv()).await {
                            Ok(Ok(Some(n))) => batch.push(n.payload().to_owned()),
                            Ok(Ok(None)) | Ok(Err(_)) => {
                                lost = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = apply(&state, &pool, &batch).await {
                        tracing::warn!(error = %e, "applying coverage changes failed; rebuilding");
                        let _ = state.reload(&pool).await;
                    }
                    if lost {
                        break;
                    }
                }
                Ok(None) => {
                    tracing::warn!(
                        "coverage listener lost its connection; rebuilding after reconnect"
                    );
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "coverage listener error");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            }
        }
    }
}
