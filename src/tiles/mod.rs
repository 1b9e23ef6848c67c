//! Vector tiles: Mapbox Vector Tiles in the `WebMercatorQuad` tile matrix
//! set, one [`TileSource`] per tileset, and their versions (ETags).
//!
//! - [`grid`]: tile addresses and their bounds (EPSG:3857, lon/lat).
//! - [`postgis`]: stored layers encoded by PostGIS (`towers`,
//!   `data-centres`, `districts`, exact `fibre-routes`); their SQL is in
//!   [`db::tiles`](crate::db::tiles).
//! - [`sectors`]: wedges of the in-memory coverage index, encoded here.
//! - [`fibre`]: `fibre-routes` as the viewer may see them: exact, or the
//!   generalised `fibre_presence` cells.
//! - [`version`]: versions and ETags, formatted in that one place.
//! - [`mvt`]: layer assembly shared by the layers encoded here.
//!
//! No HTTP here: `http::tiles` parses requests, tells who asks (as a
//! [`FibreScope`]), and turns a [`Reply`] into a response.

pub mod cache;
pub mod fibre;
pub mod grid;
pub mod memory;
pub mod mvt;
pub mod postgis;
pub mod sectors;
pub mod towers;
pub mod version;

use std::future::Future;

use serde_json::{Value, json};
use sqlx::PgPool;

pub use self::grid::{
    AddressError, BUFFER, EXTENT, MAX_LAT, MAX_ZOOM, MERCATOR_HALF_M, TileCoord, to_3857, to_lonlat,
};
pub use self::version::Version;
use crate::coverage::listener::CoverageState;
use crate::db::DbError;
use crate::db::tiles::TileTable;
use crate::domain::CollectionId;
use crate::domain::duct::CapacityPolicy;
use crate::service::read_model::{Inventory, ReadModel};

/// Deepest zoom with its own tiles; clients overzoom beyond it.
pub const DATA_MAX_ZOOM: u8 = 16;

/// Which fibre routes a viewer may see exactly; tiles of other layers are
/// the same for everyone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FibreScope {
    /// Every route, exact.
    All,
    /// This operator's routes exact, everyone else's as presence cells.
    Operator(String),
    /// No route exact: presence cells only.
    Public,
}

/// Why a tile cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    /// No tileset has this id.
    #[error("no tileset '{0}'; tilesets are: {list}", list = Tileset::id_list())]
    UnknownTileset(String),
    /// The tile address is outside the tile matrix set.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// Reading the layer failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Encoding the layer on the CPU pool failed.
    #[error(transparent)]
    Cpu(#[from] crate::cpu::CpuError),
}

/// Result of the tiles module.
pub type TileResult<T> = Result<T, TileError>;

/// One tile: what it was cut from, and its MVT bytes (empty when no feature
/// meets the tile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    /// The version of the data the tile was cut from (same snapshot).
    pub version: Version,
    /// Encoded Mapbox Vector Tile.
    pub mvt: Vec<u8>,
}

/// A tileset: where tiles come from, and the version they would be cut
/// from now.
pub trait TileSource {
    /// The tileset's id, as in URLs (`towers`, `sectors`, …).
    fn id(&self) -> &'static str;

    /// True when tiles differ by viewer (caches must key them by
    /// credentials too).
    fn per_viewer(&self) -> bool {
        false
    }

    /// The version a tile for `scope` would be cut from now.
    fn version(&self, scope: &FibreScope) -> impl Future<Output = TileResult<Version>> + Send;

    /// Tile `t` as `scope` may see it.
    fn tile(
        &self,
        t: TileCoord,
        scope: &FibreScope,
    ) -> impl Future<Output = TileResult<Tile>> + Send;
}

/// The answer to a tile request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The client's copy (one of its `If-None-Match` tags) is current.
    NotModified {
        /// The current ETag.
        etag: String,
        /// True when the ETag names the viewer.
        per_viewer: bool,
    },
    /// The tile.
    Tile {
        /// Its ETag.
        etag: String,
        /// The tile (MVT bytes, empty when no feature meets it; its gzip
        /// form made once).
        tile: std::sync::Arc<cache::CachedTile>,
        /// True when the tileset's tiles differ by viewer.
        per_viewer: bool,
    },
}

/// Whether the client's cache holds a version: the adapter's reading of
/// `If-None-Match`, asked of the current ETag (`None`: no condition sent).
pub type Cached<'a> = Option<&'a (dyn Fn(&str) -> bool + Sync)>;

/// Answers a request for tile `t` of `source` by `scope`: `304` when
/// `cached` holds the current version, else the tile.
///
/// # Errors
/// When the source fails.
pub async fn reply<S: TileSource + Sync>(
    source: &S,
    t: TileCoord,
    scope: &FibreScope,
    cached: Cached<'_>,
) -> TileResult<Reply> {
    if let Some(cached) = cached {
        let current = source.version(scope).await?;
        if cached(&current.etag()) {
            // A 304 varies by viewer exactly when its ETag names one.
            return Ok(Reply::NotModified {
                per_viewer: current.names_viewer(),
                etag: current.etag(),
            });
        }
    }
    let tile = source.tile(t, scope).await?;
    Ok(Reply::Tile {
        etag: tile.version.etag(),
        tile: std::sync::Arc::new(cache::CachedTile::new(tile.mvt)),
        per_viewer: source.per_viewer(),
    })
}

/// A tileset served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tileset {
    /// `towers` (points; thinned where a tile is dense).
    Towers,
    /// `sectors` (wedges of operational sectors, from the coverage index).
    Sectors,
    /// `fibre-routes` (lines, or presence cells, by viewer).
    FibreRoutes,
    /// `data-centres` (points and polygons).
    DataCentres,
    /// `districts` (polygons).
    Districts,
    /// `structures` (points of the duct network).
    Structures,
    /// `duct-banks` (lines with their free-capacity class; fill details
    /// for signed-in viewers).
    DuctBanks,
}

impl Tileset {
    /// Every tileset with its id, in the order listed to clients.
    pub const ALL: [(&'static str, Tileset); 7] = [
        ("towers", Tileset::Towers),
        ("sectors", Tileset::Sectors),
        ("fibre-routes", Tileset::FibreRoutes),
        ("data-centres", Tileset::DataCentres),
        ("districts", Tileset::Districts),
        ("structures", Tileset::Structures),
        ("duct-banks", Tileset::DuctBanks),
    ];

    /// The tileset of `id`.
    ///
    /// # Errors
    /// [`TileError::UnknownTileset`] when there is none.
    pub fn parse(id: &str) -> TileResult<Self> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == id)
            .map(|(_, t)| *t)
            .ok_or_else(|| TileError::UnknownTileset(id.to_owned()))
    }

    fn id_list() -> String {
        let ids: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
        ids.join(", ")
    }

    /// The id in URLs.
    pub fn id(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("", |(n, _)| n)
    }

    /// The collection whose read permission governs the tileset.
    pub fn collection(self) -> CollectionId {
        match self {
            Tileset::Sectors | Tileset::Towers => CollectionId::Towers,
            Tileset::FibreRoutes => CollectionId::FibreRoutes,
            Tileset::DataCentres => CollectionId::DataCentres,
            Tileset::Districts => CollectionId::Districts,
            Tileset::Structures => CollectionId::Structures,
            Tileset::DuctBanks => CollectionId::DuctBanks,
        }
    }

    /// True when tiles differ by viewer: fibre routes (exact or
    /// generalised) and duct banks (fill details or the class only).
    pub fn per_viewer(self) -> bool {
        matches!(self, Tileset::FibreRoutes | Tileset::DuctBanks)
    }

    /// The MVT layer name (the generalised fibre layer,
    /// [`fibre::FIBRE_PRESENCE_LAYER`], comes with `fibre-routes`).
    pub fn layer(self) -> &'static str {
        match self {
            Tileset::Towers => "towers",
            Tileset::Sectors => "sectors",
            Tileset::FibreRoutes => "fibre_routes",
            Tileset::DataCentres => "data_centres",
            Tileset::Districts => "districts",
            Tileset::Structures => "structures",
            Tileset::DuctBanks => "duct_banks",
        }
    }

    /// Shallowest zoom with features.
    pub fn min_zoom(self) -> u8 {
        match self {
            Tileset::Sectors => sectors::SECTORS_MIN_ZOOM,
            _ => 0,
        }
    }

    /// The layer's fields and their types, as TileJSON's `vector_layers`
    /// and OGC tileset metadata describe them.
    pub fn fields(self) -> Value {
        match self {
            Tileset::Towers => json!({
                "id": "Number", "operator_id": "String", "site_code": "String", "name": "String",
                "structure_type": "String", "status": "String", "height_m": "Number",
                "synthetic": "Boolean", "tenant_count": "Number", "shared": "Boolean",
                "point_count": "Number (towers of this operator this point stands for where a dense tile is thinned; else 1)",
                "tenants": "String (comma-separated operator ids)",
                "technologies": "String (comma-separated, e.g. 4G,5G)", "sector_count": "Number"
            }),
            Tileset::Sectors => json!({
                "id": "Number", "tower_id": "Number", "operator_id": "String",
                "technology": "String", "azimuth_deg": "Number", "beamwidth_deg": "Number",
                "range_m": "Number", "range_source": "String (explicit or model)"
            }),
            Tileset::FibreRoutes => json!({
                "id": "Number", "operator_id": "String", "name": "String", "placement": "String",
                "status": "String", "fibre_count": "Number", "capacity_gbps": "Number",
                "length_m": "Number", "synthetic": "Boolean"
            }),
            Tileset::DataCentres => json!({
                "id": "Number", "operator_id": "String", "name": "String", "tier": "Number",
                "power_mw": "Number", "racks": "Number", "status": "String", "synthetic": "Boolean"
            }),
            Tileset::Districts => json!({
                "code": "String", "name": "String", "name_ascii": "String",
                "population": "Number", "area_km2": "Number"
            }),
            Tileset::Structures => json!({
                "id": "Number", "owner": "String (city or the owning operator's id)",
                "kind": "String (manhole, handhole, cabinet, pole, vault, building_entrance)",
                "name": "String", "status": "String", "synthetic": "Boolean"
            }),
            Tileset::DuctBanks => json!({
                "id": "Number", "owner": "String (city or the owning operator's id)",
                "name": "String", "configuration": "String (rows x columns, e.g. 2x3)",
                "encasement": "String", "depth_m": "Number", "status": "String",
                "length_m": "Number", "synthetic": "Boolean",
                "capacity_class": "String (none, low or ample; active banks only)",
                "largest_cable_mm": "Number (the largest cable that still fits; signed-in viewers only)",
                "max_fill": "Number (the fullest duct's fill, 0-1; signed-in viewers only)",
                "over_limit": "Boolean (a duct is above its fill limit; signed-in viewers only)"
            }),
        }
    }

    /// The stored table behind the tileset (`None` for sectors).
    fn table(self) -> Option<TileTable> {
        match self {
            Tileset::Towers => Some(TileTable::Towers),
            Tileset::Sectors => None,
            Tileset::FibreRoutes => Some(TileTable::FibreRoutes),
            Tileset::DataCentres => Some(TileTable::DataCentres),
            Tileset::Districts => Some(TileTable::Districts),
            Tileset::Structures => Some(TileTable::Structures),
            Tileset::DuctBanks => Some(TileTable::DuctBanks),
        }
    }
}

impl From<TileTable> for Tileset {
    fn from(table: TileTable) -> Self {
        match table {
            TileTable::Towers => Tileset::Towers,
            TileTable::FibreRoutes => Tileset::FibreRoutes,
            TileTable::DataCentres => Tileset::DataCentres,
            TileTable::Districts => Tileset::Districts,
            TileTable::Structures => Tileset::Structures,
            TileTable::DuctBanks => Tileset::DuctBanks,
        }
    }
}

/// Every tileset's source, over the database and the coverage index.
#[derive(Debug, Clone, Copy)]
pub struct Tilesets<'a> {
    pool: &'a PgPool,
    coverage: &'a CoverageState,
    duct_policy: CapacityPolicy,
}

impl<'a> Tilesets<'a> {
    /// The tilesets over `pool` and `coverage`.
    pub fn new(pool: &'a PgPool, coverage: &'a CoverageState) -> Self {
        Self {
            pool,
            coverage,
            duct_policy: CapacityPolicy::default(),
        }
    }

    /// The same tilesets with the city's duct fill limits (the free
    /// capacity of `duct-banks`; NEC Chapter 9 by default).
    pub fn with_duct_policy(self, policy: CapacityPolicy) -> Self {
        Self {
            duct_policy: policy,
            ..self
        }
    }

    /// The current version of `set` as everyone sees it: `v` of its TileJSON
    /// tile URLs.
    ///
    /// # Errors
    /// When the source fails.
    pub async fn version(&self, set: Tileset) -> TileResult<Version> {
        let all = &FibreScope::All;
        match set.table() {
            None => sectors::SectorSource::new(self.coverage).version(all).await,
            Some(table) => {
                postgis::TableSource::new(self.pool, table)
                    .version(all)
                    .await
            }
        }
    }

    /// The answer to a request for tile `t` of `set` by `scope`: `304` when
    /// `cached` holds the current version; else the tile from the tile
    /// cache, else cut from the read model when it has caught up with the
    /// database (towers, data centres, fibre routes; sectors always come
    /// from the coverage index), else from PostGIS; a tile cut is cached.
    ///
    /// # Errors
    /// When the source fails.
    pub async fn reply(
        &self,
        set: Tileset,
        t: TileCoord,
        scope: &FibreScope,
        cached: Cached<'_>,
    ) -> TileResult<Reply> {
        let model = ReadModel::of(self.coverage);
        let per_viewer = set.per_viewer();
        let scope = match set {
            Tileset::FibreRoutes => scope.clone(),
            // Duct banks differ only between the public and the signed-in.
            Tileset::DuctBanks if *scope == FibreScope::Public => FibreScope::Public,
            _ => FibreScope::All,
        };
        let Some(table) = set.table() else {
            let source = sectors::SectorSource::new(self.coverage);
            let version = source.version(&scope).await?;
            return self
                .cut(
                    model,
                    set,
                    t,
                    &scope,
                    version,
                    cached,
                    per_viewer,
                    None,
                    || source.tile(t, &FibreScope::All),
                )
                .await;
        };
        let c = set.collection();
        let db = match model {
            Some(m) => m.versions(self.pool).await?,
            None => crate::db::layers::versions(self.pool).await?,
        };
        let version = Version::Stored {
            layer: db.get(c),
            scope: scope.clone(),
        };
        let memory = match (model, set) {
            (Some(m), Tileset::Towers | Tileset::DataCentres | Tileset::FibreRoutes) => {
                m.fresh_for(&db, self.coverage, &[c]).await
            }
            _ => None,
        };
        let pool = self.pool;
        let policy = self.duct_policy;
        let carry = memory.clone().filter(|_| set == Tileset::Towers);
        self.cut(
            model,
            set,
            t,
            &scope,
            version,
            cached,
            per_viewer,
            carry,
            || async {
                match memory {
                    Some(inv) => {
                        let label = inv.labels.get(c);
                        let scope = scope.clone();
                        let mvt =
                            crate::cpu::run(move |_| memory_tile(&inv, set, t, &scope)).await?;
                        Ok(Tile {
                            version: Version::Stored {
                                layer: label,
                                scope: if per_viewer {
                                    scope_of(&mvt.1)
                                } else {
                                    FibreScope::All
                                },
                            },
                            mvt: mvt.0,
                        })
                    }
                    None => match table {
                        TileTable::FibreRoutes => {
                            fibre::FibreSource::new(pool).tile(t, &scope).await
                        }
                        table => {
                            postgis::TableSource::new(pool, table)
                                .with_policy(policy)
                                .tile(t, &scope)
                                .await
                        }
                    },
                }
            },
        )
        .await
    }

    /// The cache's answer, or `make`'s tile, cached.
    ///
    /// `carry`: the snapshot a towers tile is cut from in memory. A miss
    /// for this version may then take the last tile cut for the same z/x/y
    /// when no tower changed within its bounds since
    /// ([`cache::TileCache::carried`]), and a tile cut is kept for that.
    #[allow(clippy::too_many_arguments)]
    async fn cut<F, Fut>(
        &self,
        model: Option<&ReadModel>,
        set: Tileset,
        t: TileCoord,
        scope: &FibreScope,
        current: Version,
        cached: Cached<'_>,
        per_viewer: bool,
        carry: Option<std::sync::Arc<Inventory>>,
        make: F,
    ) -> TileResult<Reply>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = TileResult<Tile>>,
    {
        if let Some(cached) = cached
            && cached(&current.etag())
        {
            return Ok(Reply::NotModified {
                per_viewer: current.names_viewer(),
                etag: current.etag(),
            });
        }
        let key = cache::TileKey::new(set, scope, current.token(), t);
        if let Some(hit) = model.and_then(|m| m.tiles().get(&key)) {
            return Ok(Reply::Tile {
                etag: current.etag(),
                tile: hit,
                per_viewer,
            });
        }
        let carry = model.zip(carry);
        if let Some((m, inv)) = &carry {
            let layer = inv.layer(set.collection());
            if let Some(hit) = m.tiles().carried(layer, t) {
                let version = Version::stored(inv.labels.get(set.collection()));
                m.tiles().insert(
                    cache::TileKey::new(set, scope, version.token(), t),
                    hit.clone(),
                );
                return Ok(Reply::Tile {
                    etag: version.etag(),
                    tile: hit,
                    per_viewer,
                });
            }
        }
        let tile = make().await?;
        let cut = std::sync::Arc::new(cache::CachedTile::new(tile.mvt));
        if let Some(m) = model {
            let key = cache::TileKey::new(set, scope, tile.version.token(), t);
            m.tiles().insert(key, cut.clone());
        }
        if let Some((m, inv)) = &carry {
            m.tiles()
                .keep_for_carrying(inv.layer(set.collection()), t, cut.clone());
        }
        Ok(Reply::Tile {
            etag: tile.version.etag(),
            tile: cut,
            per_viewer,
        })
    }
}

/// The scope a memory tile was cut for (carried through the CPU pool).
fn scope_of(s: &FibreScope) -> FibreScope {
    s.clone()
}

/// Tile `t` of `set` cut from the read model for `scope`: the MVT bytes and
/// the scope.
fn memory_tile(
    inv: &Inventory,
    set: Tileset,
    t: TileCoord,
    scope: &FibreScope,
) -> (Vec<u8>, FibreScope) {
    if set == Tileset::Towers {
        return (memory::towers_tile(inv, t), scope.clone());
    }
    let layers: Vec<_> = match set {
        Tileset::DataCentres => memory::data_centres_layer(inv, t).into_iter().collect(),
        Tileset::FibreRoutes => {
            let (exact, excluded) = match scope {
                FibreScope::All => (true, None),
                FibreScope::Operator(op) => (true, Some(op.as_str())),
                FibreScope::Public => (false, None),
            };
            let mut layers = Vec::new();
            if exact {
                layers.extend(memory::fibre_routes_layer(inv, t, excluded));
            }
            if *scope != FibreScope::All {
                let routes = memory::presence_routes(inv, fibre::presence_bbox(t), excluded);
                layers.extend(fibre::fibre_presence_layer(t, &routes));
            }
            layers
        }
        _ => Vec::new(),
    };
    let mvt = if layers.is_empty() {
        Vec::new()
    } else {
        mvt::encode(layers)
    };
    (mvt, scope.clone())
}
