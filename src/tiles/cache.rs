//! The tile cache: encoded tiles by (tileset, viewer scope, version, z/x/y),
//! weighted by their bytes (moka), so a repeated tile is a memory copy. A
//! key names the version the tile was cut from, so a change never serves a
//! stale tile: the next request asks for the new version and misses. The
//! gzip form of a tile is made once, on the first request that accepts it.

use std::sync::{Arc, OnceLock};

use super::{FibreScope, TileCoord, Tileset};
use crate::service::read_model::{Layer, Stamp};

/// Default weight limit of the cache, bytes (setting `TILE_CACHE_MB`).
pub const DEFAULT_CAPACITY_BYTES: u64 = 256 << 20;

/// An encoded tile held by the cache.
#[derive(Debug)]
pub struct CachedTile {
    /// The Mapbox Vector Tile (empty: no feature); shared, so a response
    /// body is a reference count, not a copy.
    pub mvt: axum::body::Bytes,
    gzip: OnceLock<axum::body::Bytes>,
}

impl PartialEq for CachedTile {
    fn eq(&self, other: &Self) -> bool {
        self.mvt == other.mvt
    }
}

impl Eq for CachedTile {}

impl CachedTile {
    /// A tile of these bytes.
    pub fn new(mvt: Vec<u8>) -> Self {
        Self {
            mvt: mvt.into(),
            gzip: OnceLock::new(),
        }
    }

    /// The tile gzipped (made on first use, then kept).
    pub fn gzip(&self) -> &axum::body::Bytes {
        self.gzip.get_or_init(|| {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(self.mvt.len() / 2 + 64),
                flate2::Compression::default(),
            );
            // Writing to a Vec cannot fail.
            let _ = enc.write_all(&self.mvt);
            enc.finish().unwrap_or_default().into()
        })
    }
}

/// What a cached tile is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TileKey {
    set: Tileset,
    scope: FibreScope,
    /// The version token ([`super::Version::token`]).
    version: String,
    z: u8,
    x: u32,
    y: u32,
}

impl TileKey {
    /// The key of tile `t` of `set` for `scope` at version `version`.
    pub fn new(set: Tileset, scope: &FibreScope, version: String, t: TileCoord) -> Self {
        Self {
            set,
            scope: scope.clone(),
            version,
            z: t.z,
            x: t.x,
            y: t.y,
        }
    }
}

/// The cache, shared by every request.
#[derive(Debug, Clone)]
pub struct TileCache {
    inner: moka::sync::Cache<TileKey, Arc<CachedTile>>,
    /// The last towers tile cut for each z/x/y, with the stamp of the layer
    /// it was cut from: carried to a later version when no tower changed
    /// within its bounds ([`TileCache::carried`]).
    carried: moka::sync::Cache<(u8, u32, u32), Arc<Carried>>,
    carried_hits: Arc<std::sync::atomic::AtomicU64>,
}

/// A towers tile kept for carrying, with the stamp of the layer it was cut
/// from.
type Carried = (Stamp, Arc<CachedTile>);

/// Degrees added around a tile's buffered bounds when asking whether a
/// change met it: beyond the selection's own margin (1e-4°) and any
/// rounding.
pub const CARRY_MARGIN_DEG: f64 = 1e-3;

impl TileCache {
    /// A cache of at most `capacity_bytes` of tiles (0: caches nothing).
    pub fn new(capacity_bytes: u64) -> Self {
        Self {
            inner: moka::sync::Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|k: &TileKey, v: &Arc<CachedTile>| {
                    let bytes = v.mvt.len()
                        + v.gzip.get().map_or(0, axum::body::Bytes::len)
                        + k.version.len()
                        + 96;
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .build(),
            carried: moka::sync::Cache::builder()
                .max_capacity(capacity_bytes / 4)
                .weigher(|_, v: &Arc<Carried>| {
                    u32::try_from(v.1.mvt.len() + 96).unwrap_or(u32::MAX)
                })
                .build(),
            carried_hits: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// The towers tile `t` as cut from an earlier patch of `layer`, when no
    /// tower changed within the tile's buffered bounds since
    /// ([`Layer::untouched_since`]): equal to the tile cut from `layer`.
    pub fn carried(&self, layer: &Layer, t: TileCoord) -> Option<Arc<CachedTile>> {
        let held = self.carried.get(&(t.z, t.x, t.y))?;
        let b = t.bounds_lonlat(super::grid::BUFFER);
        let m = CARRY_MARGIN_DEG;
        let untouched = layer.untouched_since(held.0, [b[0] - m, b[1] - m, b[2] + m, b[3] + m]);
        if untouched {
            self.carried_hits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        untouched.then(|| held.1.clone())
    }

    /// Towers tiles carried to a later version so far.
    pub fn carried_hits(&self) -> u64 {
        self.carried_hits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Keeps `tile`, cut from `layer`, to be carried to later versions.
    pub fn keep_for_carrying(&self, layer: &Layer, t: TileCoord, tile: Arc<CachedTile>) {
        self.carried
            .insert((t.z, t.x, t.y), Arc::new((layer.stamp(), tile)));
    }

    /// The cached tile of `key`.
    pub fn get(&self, key: &TileKey) -> Option<Arc<CachedTile>> {
        self.inner.get(key)
    }

    /// Caches `tile` under `key`.
    pub fn insert(&self, key: TileKey, tile: Arc<CachedTile>) {
        self.inner.insert(key, tile);
    }

    /// Drops every cached tile (benchmarks measure cold tiles with it).
    pub fn clear(&self) {
        self.inner.invalidate_all();
        self.inner.run_pending_tasks();
        self.carried.invalidate_all();
        self.carried.run_pending_tasks();
    }

    /// Tiles cached and their weight, bytes (approximate until pending
    /// maintenance runs).
    pub fn usage(&self) -> (u64, u64) {
        self.inner.run_pending_tasks();
        (self.inner.entry_count(), self.inner.weighted_size())
    }
}

impl Default for TileCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY_BYTES)
    }
}
