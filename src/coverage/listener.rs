//! Keeps the in-memory coverage index in step with PostGIS.
//!
//! Readers take an immutable snapshot (`Arc<CoverageIndex>`, lock-free from
//! an [`ArcSwap`]); every change builds a new snapshot and swaps it in
//! atomically, so a reader never sees a half-applied change, and writers are
//! serialised so that no change is built on a stale snapshot. Writes through this service refresh the index right
//! after their transaction commits; changes made elsewhere (another replica,
//! plain SQL) arrive by `LISTEN telecom_gis_changes` (triggers of migration
//! 0002) and are applied within about 100 ms; after the listening connection
//! is lost and re-established, the index is rebuilt in full.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::coverage::index::{CoverageIndex, IndexError, IndexFingerprint, SectorInput};
use crate::coverage::model::CoverageConfig;
use crate::db::{self, DbError};

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

/// State of the change listener ([`listen`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerState {
    /// No listener runs for this index (tests, one-shot commands): the index
    /// changes only through this process's own writes.
    NotStarted,
    /// Listening, and the index was rebuilt after the connection was made.
    Connected,
    /// The connection is lost (or not yet made); the index may be stale until
    /// the listener reconnects and rebuilds it.
    Disconnected,
}

/// Counters of the index's upkeep, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncStats {
    /// Full rebuilds that succeeded.
    pub reloads: u64,
    /// Full rebuilds that failed (the previous snapshot stayed).
    pub reload_failures: u64,
    /// Towers patched in place.
    pub tower_patches: u64,
    /// Times the change listener (re)connected and resynchronised.
    pub listener_connects: u64,
    /// Duration of the last successful full rebuild, milliseconds.
    pub last_reload_ms: u64,
}

/// The shared, swappable coverage index.
#[derive(Debug)]
pub struct CoverageState {
    /// The current snapshot; replaced whole, never changed in place.
    current: Arc<ArcSwap<CoverageIndex>>,
    /// True while a background task makes settle grids.
    warming: Arc<AtomicBool>,
    /// Held by every writer from reading the snapshot it patches (or the
    /// database) to swapping its result in.
    writer: tokio::sync::Mutex<AsOf>,
    /// Tower changes queued for [`CoverageState::refresh_towers`] and
    /// [`CoverageState::patch_written`].
    pending: crate::combine::Combiner<Refresh>,
    config: Arc<CoverageConfig>,
    loaded: AtomicBool,
    listener: AtomicU8,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    tower_patches: AtomicU64,
    listener_connects: AtomicU64,
    last_reload_ms: AtomicU64,
    /// Terrain-aware footprints computed by full loads (not read back from
    /// PostGIS).
    footprints_computed: AtomicU64,
    /// What else follows the database through this state's changes (the
    /// read model of the application layer), when registered.
    follower: std::sync::OnceLock<Arc<dyn Follower>>,
}

/// A blocking task of a load that did not finish (it panicked or was
/// cancelled), as the load's error.
fn join_failed(e: tokio::task::JoinError) -> SyncError {
    SyncError::Db(DbError::Sqlx(sqlx::Error::Protocol(e.to_string())))
}

/// A queued change of towers in the index.
#[derive(Debug)]
pub enum Refresh {
    /// Read these towers' sectors again.
    Reread(Vec<i64>),
    /// Tower `id` as the write that moved the towers layer to `version`
    /// left it (`sectors`: its indexed sectors, none when it is deleted or
    /// not operational).
    Written {
        /// The tower.
        id: i64,
        /// The towers layer version the write committed.
        version: i64,
        /// Its sectors as the index takes them.
        sectors: Vec<SectorInput>,
    },
}

/// What the index's towers are "as of", so that a patch never replaces
/// newer data with older: writers' patches and re-reads finish in any
/// order. Guarded by the writer's lock.
#[derive(Debug, Default)]
pub struct AsOf {
    /// The towers version read with the last full load (every tower is at
    /// least as of it).
    floor: i64,
    /// Per tower written or read since: the newest version it is as of.
    /// At most one entry per tower row; emptied by every full load.
    towers: std::collections::HashMap<i64, i64>,
}

impl AsOf {
    fn of(&self, id: i64) -> i64 {
        // Entries are never below the floor: the map is emptied when the
        // floor moves, and every entry since is a version read or
        // committed after it.
        self.towers.get(&id).copied().unwrap_or(self.floor)
    }
}

/// A boxed future of a [`Follower`].
pub type FollowFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), SyncError>> + Send + 'a>>;

/// Something kept in step with the database by the same change path as the
/// coverage index: rebuilt whenever the index is rebuilt in full
/// ([`CoverageState::reload`], after every (re)connection of the listener),
/// given every batch of notifications after the index applied it, and
/// told when fibre routes or data centres were re-read.
pub trait Follower: Send + Sync + std::fmt::Debug + 'static {
    /// Everything may have changed: rebuild.
    fn reload<'a>(&'a self, pool: &'a PgPool) -> FollowFuture<'a>;
    /// The layers of `layers` changed (re-read them whole).
    fn reload_layers<'a>(
        &'a self,
        pool: &'a PgPool,
        layers: &'a [crate::domain::CollectionId],
    ) -> FollowFuture<'a>;
    /// One batch of notifications.
    fn apply<'a>(&'a self, pool: &'a PgPool, batch: &'a ChangeBatch) -> FollowFuture<'a>;
    /// The follower itself, for its owner to find it again.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// What one batch of notifications says changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeBatch {
    /// Towers whose row, sectors or tenants changed (row-level, 0002).
    pub towers: BTreeSet<i64>,
    /// Tables changed by a statement (`fibre_routes`, `data_centres`,
    /// `districts`, or `towers` when truncated; 0002).
    pub tables: BTreeSet<String>,
    /// The highest layer version notified per layer (0005).
    pub versions: std::collections::BTreeMap<String, i64>,
    /// A payload this release does not read: rebuild.
    pub unknown: bool,
    /// A tower row notification came after the last `towers` version
    /// notification: it belongs to a transaction whose version notification
    /// is in the next batch (a transaction's rows are notified before its
    /// version, migration 0006).
    pub towers_unversioned: bool,
}

impl ChangeBatch {
    /// Reads a batch of payloads.
    pub fn parse(payloads: &[String]) -> Self {
        let mut b = ChangeBatch::default();
        for p in payloads {
            let v = serde_json::from_str::<serde_json::Value>(p).unwrap_or_default();
            match (v["tower"].as_i64(), v["layer"].as_str(), v["v"].as_i64()) {
                (Some(id), _, _) => {
                    b.towers.insert(id);
                    b.towers_unversioned = true;
                }
                (None, Some(layer), Some(version)) => {
                    if layer == "towers" {
                        b.towers_unversioned = false;
                    }
                    let e = b.versions.entry(layer.to_owned()).or_insert(version);
                    *e = (*e).max(version);
                }
                (None, Some(table), None) => {
                    b.tables.insert(table.to_owned());
                }
                _ => b.unknown = true,
            }
        }
        b
    }
}

impl CoverageState {
    /// Registers `f` to follow this state's changes (once; later calls are
    /// ignored).
    pub fn follow(&self, f: Arc<dyn Follower>) {
        let _ = self.follower.set(f);
    }

    /// The registered follower.
    pub fn follower(&self) -> Option<&Arc<dyn Follower>> {
        self.follower.get()
    }
}

impl CoverageState {
    /// An empty, not yet loaded index.
    pub fn new(config: CoverageConfig) -> Self {
        let config = Arc::new(config);
        Self {
            current: Arc::new(ArcSwap::from_pointee(CoverageIndex::empty(config.clone()))),
            warming: Arc::new(AtomicBool::new(false)),
            writer: tokio::sync::Mutex::new(AsOf::default()),
            pending: crate::combine::Combiner::default(),
            config,
            loaded: AtomicBool::new(false),
            listener: AtomicU8::new(0),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            tower_patches: AtomicU64::new(0),
            listener_connects: AtomicU64::new(0),
            last_reload_ms: AtomicU64::new(0),
            footprints_computed: AtomicU64::new(0),
            follower: std::sync::OnceLock::new(),
        }
    }

    /// The change listener's state.
    pub fn listener_state(&self) -> ListenerState {
        match self.listener.load(Ordering::Acquire) {
            1 => ListenerState::Connected,
            2 => ListenerState::Disconnected,
            _ => ListenerState::NotStarted,
        }
    }

    fn set_listener(&self, s: ListenerState) {
        let v = match s {
            ListenerState::NotStarted => 0,
            ListenerState::Connected => 1,
            ListenerState::Disconnected => 2,
        };
        self.listener.store(v, Ordering::Release);
    }

    /// The upkeep counters.
    pub fn stats(&self) -> SyncStats {
        SyncStats {
            reloads: self.reloads.load(Ordering::Relaxed),
            reload_failures: self.reload_failures.load(Ordering::Relaxed),
            tower_patches: self.tower_patches.load(Ordering::Relaxed),
            listener_connects: self.listener_connects.load(Ordering::Relaxed),
            last_reload_ms: self.last_reload_ms.load(Ordering::Relaxed),
        }
    }

    /// Terrain-aware footprints full loads had to compute (those persisted
    /// for the same model and inputs are read back instead).
    pub fn footprints_computed(&self) -> u64 {
        self.footprints_computed.load(Ordering::Relaxed)
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<CoverageIndex> {
        self.current.load_full()
    }

    /// True once a full load has completed.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// The model configuration.
    pub fn config(&self) -> &CoverageConfig {
        &self.config
    }

    /// Publishes `next`; callers hold `writer`.
    fn swap(&self, next: CoverageIndex) {
        let lacks = next.lacks_settle_grids();
        self.current.store(Arc::new(next));
        if lacks {
            self.warm_settle_grids();
        }
    }

    /// Makes the settle grids the current snapshot lacks (terrain on: a
    /// full load makes none, a write none for a new tree) in the
    /// background, on one thread of lowered priority at a time
    /// ([`crate::cpu::run_background`]), until the current snapshot has
    /// them all. Batches answer without them
    /// meanwhile, only slower ([`CoverageIndex::warm_settle_grids`]).
    fn warm_settle_grids(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.warming.swap(true, Ordering::AcqRel) {
            return;
        }
        let (current, warming) = (self.current.clone(), self.warming.clone());
        runtime.spawn(async move {
            loop {
                let snapshot = current.load_full();
                let started = Instant::now();
                let job = crate::cpu::run_background("settle-grids", move |cancel| {
                    snapshot.warm_settle_grids_until(1, &|| cancel.is_cancelled())
                });
                match job.await {
                    Ok(true) => {
                        let (tiles, bytes) = current.load().settle_grid_stats();
                        tracing::info!(
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            tiles,
                            bytes,
                            "coverage settle grids made"
                        );
                    }
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "coverage settle grids not made"),
                }
                warming.store(false, Ordering::Release);
                // A snapshot swapped in meanwhile may lack grids again.
                if !current.load().lacks_settle_grids() || warming.swap(true, Ordering::AcqRel) {
                    break;
                }
            }
        });
    }

    async fn build(&self, pool: &PgPool, version: u64) -> Result<CoverageIndex, SyncError> {
        let config = self.config.clone();
        // The terrain (read once per process) while the rows load, then
        // the footprints persisted for its model key: only the missing are
        // computed.
        let terrain = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || {
                crate::coverage::link::Terrain::for_config(&config)
                    .ok()
                    .flatten()
                    .map(|t| t.model_key)
            })
        };
        // The stored footprints too: all of them, kept for the model key
        // once the terrain gives it (off the critical path of a restart).
        let stored = async {
            if config.terrain.enabled {
                Some(db::footprints::load_all(pool).await)
            } else {
                None
            }
        };
        let (rows, model_key, stored) = tokio::join!(
            async {
                tokio::try_join!(
                    db::coverage::areas(pool),
                    db::coverage::operational_sectors(pool),
                    db::coverage::operational_fibre(pool),
                    db::coverage::operational_data_centres(pool),
                )
            },
            terrain,
            stored
        );
        let (areas, sectors, fibre, dcs) = rows?;
        let model_key = model_key.map_err(join_failed)?;
        let cache = match (&model_key, stored) {
            (Some(key), Some(Ok(rows))) => Some(db::footprints::for_model(rows, key)),
            (Some(_), Some(Err(e))) => {
                tracing::warn!(error = %e, "persisted footprints not read; computing them");
                None
            }
            _ => None,
        };
        let (index, computed) = tokio::task::spawn_blocking(move || {
            CoverageIndex::build_cached(
                config,
                areas,
                &sectors,
                &fibre,
                &dcs,
                version,
                cache.as_ref(),
            )
        })
        .await
        .map_err(join_failed)??;
        self.footprints_computed
            .fetch_add(computed.len() as u64, Ordering::Relaxed);
        if let (Some(key), false) = (model_key, computed.is_empty()) {
            match db::footprints::save(pool, &key, &computed).await {
                Ok(n) => tracing::info!(footprints = n, "footprints computed and persisted"),
                Err(e) => tracing::warn!(error = %e, "footprints not persisted"),
            }
        }
        Ok(index)
    }

    /// Rebuilds the whole index from the database.
    ///
    /// # Errors
    /// When loading fails; the previous snapshot stays in place.
    pub async fn reload(&self, pool: &PgPool) -> Result<(), SyncError> {
        self.reload_index(pool).await?;
        if let Some(f) = self.follower() {
            f.reload(pool).await?;
        }
        Ok(())
    }

    /// Rebuilds the index alone (not its follower).
    async fn reload_index(&self, pool: &PgPool) -> Result<(), SyncError> {
        let mut as_of = self.writer.lock().await;
        let started = Instant::now();
        let version = self.snapshot().version + 1;
        // Read before the sectors: every tower loaded is at least as of it.
        let floor = match db::layers::versions(pool).await {
            Ok(v) => v.get(crate::domain::CollectionId::Towers),
            Err(e) => {
                self.reload_failures.fetch_add(1, Ordering::Relaxed);
                return Err(e.into());
            }
        };
        let index = match self.build(pool, version).await {
            Ok(i) => i,
            Err(e) => {
                self.reload_failures.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            sectors = index.sector_count(),
            towers = index.tower_count(),
            version,
            elapsed_ms,
            "coverage index loaded"
        );
        self.swap(index);
        *as_of = AsOf {
            floor,
            towers: std::collections::HashMap::new(),
        };
        self.loaded.store(true, Ordering::Release);
        self.reloads.fetch_add(1, Ordering::Relaxed);
        self.last_reload_ms.store(elapsed_ms, Ordering::Relaxed);
        Ok(())
    }

    /// Re-reads the sectors of `tower_ids` and patches the index.
    ///
    /// Concurrent calls are combined ([`crate::combine`]) with each other
    /// and with [`patch_written`](Self::patch_written): whoever holds the
    /// writer's lock re-reads every tower queued so far in one statement
    /// and patches them into one new snapshot; the others find their
    /// towers done. Returns once the towers were read after this call
    /// began.
    ///
    /// # Errors
    /// When loading fails (for every call the failed batch served).
    pub async fn refresh_towers(&self, pool: &PgPool, tower_ids: &[i64]) -> Result<(), SyncError> {
        if tower_ids.len() > PATCH_LIMIT {
            return self.reload(pool).await;
        }
        self.combined(pool, Refresh::Reread(tower_ids.to_vec()))
            .await
    }

    /// Patches tower `id` into the index as a committed write left it: the
    /// write moved the towers layer to `version`, and `sectors` are the
    /// tower's sectors as the index takes them (none when deleted or not
    /// operational; see [`crate::coverage::index::indexed_sectors`]).
    /// Nothing is read. A write older than what the index already holds
    /// for the tower (a later write's patch, or a re-read that saw it) is
    /// skipped. Combined like [`refresh_towers`](Self::refresh_towers).
    ///
    /// # Errors
    /// When a re-read combined into the same batch fails.
    pub async fn patch_written(
        &self,
        pool: &PgPool,
        id: i64,
        version: i64,
        sectors: Vec<SectorInput>,
    ) -> Result<(), SyncError> {
        self.combined(
            pool,
            Refresh::Written {
                id,
                version,
                sectors,
            },
        )
        .await
    }

    /// True when the index already holds every tower change of `batch`:
    /// each of its towers is as of the batch's towers version or later
    /// (patched by this service's writers), and no tower row in it waits
    /// for a version notice of the next batch. Its towers need no re-read.
    pub async fn covers(&self, batch: &ChangeBatch) -> bool {
        let Some(&version) = batch.versions.get("towers") else {
            return false;
        };
        if batch.towers_unversioned {
            return false;
        }
        let as_of = self.writer.lock().await;
        batch.towers.iter().all(|id| as_of.of(*id) >= version)
    }

    async fn combined(&self, pool: &PgPool, change: Refresh) -> Result<(), SyncError> {
        let ticket = self.pending.push(change);
        let mut as_of = self.writer.lock().await;
        if self.pending.is_done(ticket) {
            return Ok(());
        }
        let batch = self.pending.take();
        let result = self.patch_towers(pool, &mut as_of, batch.items).await;
        self.pending.finish(batch.through);
        match result {
            Err(SyncError::Index(IndexError::OutsideFrame)) => {
                drop(as_of);
                self.reload(pool).await
            }
            other => other,
        }
    }

    /// Applies one batch of tower changes as one new snapshot; the caller
    /// holds `writer` (`as_of`). Re-reads come first (one statement, which
    /// also reads the towers version its snapshot saw); then the writes in
    /// version order, each only if newer than what the tower is as of.
    async fn patch_towers(
        &self,
        pool: &PgPool,
        as_of: &mut AsOf,
        items: Vec<Refresh>,
    ) -> Result<(), SyncError> {
        let mut reread: Vec<i64> = Vec::new();
        let mut written = Vec::new();
        for item in items {
            match item {
                Refresh::Reread(ids) => reread.extend(ids),
                Refresh::Written {
                    id,
                    version,
                    sectors,
                } => written.push((version, id, sectors)),
            }
        }
        reread.sort_unstable();
        reread.dedup();
        let mut mine: std::collections::BTreeMap<i64, Vec<SectorInput>> =
            std::collections::BTreeMap::new();
        if !reread.is_empty() {
            let mut conn = pool.acquire().await?;
            let (read_at, sectors) = db::coverage::tower_sectors_as_of(&mut conn, &reread).await?;
            drop(conn);
            for id in &reread {
                mine.insert(*id, Vec::new());
                let at = as_of.towers.entry(*id).or_insert(read_at);
                *at = (*at).max(read_at);
            }
            for s in sectors {
                if let Some(v) = mine.get_mut(&s.tower_id) {
                    v.push(s);
                }
            }
        }
        written.sort_by_key(|(version, id, _)| (*version, *id));
        for (version, id, sectors) in written {
            if version > as_of.of(id) {
                as_of.towers.insert(id, version);
                mine.insert(id, sectors);
            }
        }
        if mine.is_empty() {
            return Ok(());
        }
        let current = self.snapshot();
        // A write is patched by its writer and again by its notification:
        // the second finds the index already as the database has it and
        // copies nothing.
        let changed: Vec<(i64, &[SectorInput])> = mine
            .iter()
            .map(|(id, s)| (*id, s.as_slice()))
            .filter(|(id, s)| !current.holds_tower_as(*id, s))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        // Footprints over terrain make a patch CPU work: off the runtime.
        let owned: Vec<(i64, Vec<SectorInput>)> =
            changed.iter().map(|(id, s)| (*id, s.to_vec())).collect();
        let ids: Vec<i64> = owned.iter().map(|(id, _)| *id).collect();
        let next = tokio::task::spawn_blocking(move || {
            let borrowed: Vec<(i64, &[SectorInput])> =
                owned.iter().map(|(id, s)| (*id, s.as_slice())).collect();
            current.with_towers(&borrowed)
        })
        .await
        .map_err(join_failed)??;
        let persist = next.model_key().map(|key| {
            let rows: Vec<_> = ids
                .iter()
                .flat_map(|id| next.tower_footprints(*id))
                .collect();
            (key, rows)
        });
        self.swap(next);
        self.tower_patches
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        if let Some((key, rows)) = persist.filter(|(_, rows)| !rows.is_empty()) {
            // The cache is best effort: a failed write costs a
            // recomputation at the next start, nothing else.
            let pool = pool.clone();
            tokio::spawn(async move {
                if let Err(e) = db::footprints::save(&pool, &key, &rows).await {
                    tracing::debug!(error = %e, "footprints not persisted");
                }
            });
        }
        Ok(())
    }
}

impl CoverageState {
    /// Re-reads operational fibre routes and data centres into the index
    /// alone (not its follower).
    async fn reload_index_layers(&self, pool: &PgPool) -> Result<(), SyncError> {
        let _guard = self.writer.lock().await;
        let (fibre, dcs) = tokio::try_join!(
            db::coverage::operational_fibre(pool),
            db::coverage::operational_data_centres(pool)
        )?;
        let next = self.snapshot().with_layers(&fibre, &dcs);
        self.swap(next);
        Ok(())
    }

    /// Re-reads operational fibre routes and data centres (sectors untouched).
    ///
    /// # Errors
    /// When loading fails.
    pub async fn reload_layers(&self, pool: &PgPool) -> Result<(), SyncError> {
        self.reload_index_layers(pool).await?;
        if let Some(f) = self.follower() {
            use crate::domain::CollectionId;
            f.reload_layers(
                pool,
                &[CollectionId::FibreRoutes, CollectionId::DataCentres],
            )
            .await?;
        }
        Ok(())
    }
}

/// The fingerprint of an index loaded fresh from the database with
/// `config`, to compare with a running service's (`GET /index/fingerprint`).
///
/// # Errors
/// When loading fails.
pub async fn fingerprint_from_db(
    pool: &PgPool,
    config: CoverageConfig,
) -> Result<IndexFingerprint, SyncError> {
    let state = CoverageState::new(config);
    state.reload(pool).await?;
    let index = state.snapshot();
    tokio::task::spawn_blocking(move || index.fingerprint())
        .await
        .map_err(join_failed)
}

/// Applies one batch of notification payloads to the index, then to its
/// follower.
async fn apply(state: &CoverageState, pool: &PgPool, payloads: &[String]) -> Result<(), SyncError> {
    let batch = ChangeBatch::parse(payloads);
    let full = batch.unknown
        || batch.towers.len() > PATCH_LIMIT
        || batch
            .tables
            .iter()
            .any(|t| t == "districts" || t == "towers");
    let layers = batch
        .tables
        .iter()
        .any(|t| t == "fibre_routes" || t == "data_centres");
    if full {
        state.reload_index(pool).await?;
    } else {
        if layers {
            state.reload_index_layers(pool).await?;
        }
        if !batch.towers.is_empty() && !state.covers(&batch).await {
            state
                .refresh_towers(pool, &batch.towers.iter().copied().collect::<Vec<_>>())
                .await?;
        }
    }
    if let Some(f) = state.follower() {
        f.apply(pool, &batch).await?;
    }
    Ok(())
}

/// First and largest pause between two attempts to reconnect the listener.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(4);

/// Exponential backoff with jitter (±25 %) between reconnection attempts, so
/// that many replicas do not hammer a recovering database in step.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self { next: BACKOFF_MIN }
    }

    fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }

    async fn wait(&mut self) {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let jitter = 0.75 + f64::from(nanos % 1000) / 2000.0;
        tokio::time::sleep(self.next.mul_f64(jitter)).await;
        self.next = (self.next * 2).min(BACKOFF_MAX);
    }
}

/// Tracks one outage so that it is logged once when it starts and once when
/// it ends, not at every failed attempt.
#[derive(Debug, Default)]
struct Outage {
    since: Option<Instant>,
    attempts: u64,
}

impl Outage {
    fn failed(&mut self, what: &str, e: &dyn std::fmt::Display) {
        self.attempts += 1;
        if self.since.is_none() {
            self.since = Some(Instant::now());
            tracing::warn!(error = %e, "{what}; the coverage index may be stale; retrying with backoff (logged once until it recovers)");
        } else {
            tracing::debug!(error = %e, attempt = self.attempts, "{what}; still retrying");
        }
    }

    fn recovered(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                down_ms = since.elapsed().as_millis() as u64,
                attempts = self.attempts,
                "coverage listener reconnected; index rebuilt"
            );
        }
        self.attempts = 0;
    }
}

/// Listens for change notifications forever, applying them in batches
/// collected over 50 ms.
///
/// After every (re)connection it rebuilds the index in full before applying
/// notifications, since anything may have changed while it was not listening.
/// Lost connections are retried with exponential backoff (100 ms to 4 s,
/// jittered); an outage is logged once when it starts and once when it ends.
/// [`CoverageState::listener_state`] tells whether it is connected.
pub async fn listen(state: Arc<CoverageState>, pool: PgPool) {
    let mut backoff = Backoff::new();
    let mut outage = Outage::default();
    state.set_listener(ListenerState::Disconnected);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                outage.failed("coverage listener cannot connect to the database", &e);
                backoff.wait().await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            outage.failed("LISTEN failed", &e);
            backoff.wait().await;
            continue;
        }
        // Anything may have changed while we were not listening: rebuild in
        // full, and do not serve as in sync until that worked.
        if let Err(e) = state.reload(&pool).await {
            outage.failed("coverage index rebuild after reconnect failed", &e);
            backoff.wait().await;
            continue;
        }
        state.listener_connects.fetch_add(1, Ordering::Relaxed);
        state.set_listener(ListenerState::Connected);
        outage.recovered();
        backoff.reset();
        let lost = receive(&state, &pool, &mut listener).await;
        state.set_listener(ListenerState::Disconnected);
        outage.failed("coverage listener lost its connection", &lost);
        // Reconnect at once the first time: a dropped connection on a live
        // server (restart of a pooler, pg_terminate_backend) comes back fast.
    }
}

/// Applies notifications until the connection is lost; returns why.
async fn receive(state: &CoverageState, pool: &PgPool, listener: &mut PgListener) -> String {
    loop {
        match listener.try_recv().await {
            Ok(Some(first)) => {
                let mut batch = vec![first.payload().to_owned()];
                let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
                let mut lost = None;
                loop {
                    match tokio::time::timeout_at(deadline, listener.try_recv()).await {
                        Ok(Ok(Some(n))) => batch.push(n.payload().to_owned()),
                        Ok(Ok(None)) => {
                            lost = Some("connection closed".to_owned());
                            break;
                        }
                        Ok(Err(e)) => {
                            lost = Some(e.to_string());
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if let Err(e) = apply(state, pool, &batch).await {
                    // The batch is lost unless a full rebuild works now; if
                    // not, reconnect, which rebuilds.
                    tracing::debug!(error = %e, "applying coverage changes failed; rebuilding");
                    if let Err(e) = state.reload(pool).await {
                        return format!("rebuild after a failed change failed: {e}");
                    }
                }
                if let Some(why) = lost {
                    return why;
                }
            }
            Ok(None) => return "connection closed".to_owned(),
            Err(e) => return e.to_string(),
        }
    }
}
