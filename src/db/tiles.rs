//! Data access of the vector tiles (`crate::tiles`): layers of the stored
//! tables cut and encoded by PostGIS (`ST_AsMVT`), layer versions, and the
//! fibre routes near a tile for the generalised layer (encoded in Rust).

use geozero::wkb;
use sqlx::PgPool;

use super::DbResult;

/// Towers per tile above which the towers layer is thinned (one tower per
/// operator per [`THIN_CELL`] cell, with a `point_count`).
pub const THIN_ABOVE: i64 = 8_000;
/// Side of a thinning cell, tile units (64 of 4096: 4 screen pixels).
pub const THIN_CELL: f64 = 64.0;

/// A stored layer served as vector tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileTable {
    /// `towers` (points).
    Towers,
    /// `fibre_routes` (lines).
    FibreRoutes,
    /// `data_centres` (points and polygons).
    DataCentres,
    /// `districts` (polygons).
    Districts,
    /// `structures` (points of the duct network).
    Structures,
    /// `duct_banks` (lines, with each active bank's free capacity).
    DuctBanks,
}

/// What the `duct_banks` layer needs besides the tile: the fill limits
/// (one, two, three or more items, 0–1), the capacity class thresholds
/// (mm), and whether to add the fill details.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DuctTileParams {
    /// Fill limits for one, two, and three or more items.
    pub limits: [f64; 3],
    /// Largest cable (mm) from which a bank's free capacity is `low`.
    pub low_from_mm: f64,
    /// Largest cable (mm) from which it is `ample`.
    pub ample_from_mm: f64,
    /// Add `largest_cable_mm`, `max_fill` and `over_limit`.
    pub details: bool,
}

impl DuctTileParams {
    /// The parameters of `policy`'s limits and the classes of
    /// [`domain::duct`](crate::domain::duct), with details or not.
    pub fn new(policy: &crate::domain::duct::CapacityPolicy, details: bool) -> Self {
        Self {
            limits: [policy.one_cable, policy.two_cables, policy.three_or_more],
            low_from_mm: crate::domain::duct::LOW_FROM_MM,
            ample_from_mm: crate::domain::duct::AMPLE_FROM_MM,
            details,
        }
    }
}

impl Default for DuctTileParams {
    /// NEC limits, without details.
    fn default() -> Self {
        Self::new(&crate::domain::duct::CapacityPolicy::default(), false)
    }
}

/// Per-table parameters of [`layer_tile`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LayerParams<'a> {
    /// Keep only this operator's fibre routes (`fibre_routes` only).
    pub only_operator: Option<&'a str>,
    /// The duct-bank parameters (`duct_banks` only).
    pub ducts: DuctTileParams,
}

/// One layer of one tile: the layer's version in the same snapshot, and the
/// MVT bytes (empty when no feature meets the tile).
#[derive(Debug, Clone)]
pub struct LayerTile {
    /// Version of the layer (see migration 0003).
    pub version: i64,
    /// Encoded MVT layer.
    pub mvt: Vec<u8>,
}

/// The layer's version (moves forward with every committed change).
///
/// # Errors
/// On database failure.
pub async fn version(pool: &PgPool, table: TileTable) -> DbResult<i64> {
    let layer = match table {
        TileTable::Towers => "towers",
        TileTable::FibreRoutes => "fibre_routes",
        TileTable::DataCentres => "data_centres",
        TileTable::Districts => "districts",
        TileTable::Structures => "structures",
        TileTable::DuctBanks => "duct_banks",
    };
    Ok(
        sqlx::query_scalar("select version from layer_versions where layer = $1")
            .bind(layer)
            .fetch_one(pool)
            .await?,
    )
}

/// Encodes one layer of a tile.
///
/// `bounds_3857` is the tile in EPSG:3857 metres `[min_x, min_y, max_x,
/// max_y]`; `bbox_lonlat` the tile grown by `buffer`, lon/lat `[west, south,
/// east, north]`; `extent` and `buffer` are in tile units; `params` what
/// some tables need besides (others ignore it).
///
/// # Errors
/// On database failure.
pub async fn layer_tile(
    pool: &PgPool,
    table: TileTable,
    bounds_3857: [f64; 4],
    bbox_lonlat: [f64; 4],
    extent: u32,
    buffer: u32,
    params: LayerParams<'_>,
) -> DbResult<LayerTile> {
    let sql = match table {
        TileTable::Towers => include_str!("sql/tile_towers.sql"),
        TileTable::FibreRoutes => include_str!("sql/tile_fibre_routes.sql"),
        TileTable::DataCentres => include_str!("sql/tile_data_centres.sql"),
        TileTable::Districts => include_str!("sql/tile_districts.sql"),
        TileTable::Structures => include_str!("sql/tile_structures.sql"),
        TileTable::DuctBanks => include_str!("sql/tile_duct_banks.sql"),
    };
    let [x0, y0, x1, y1] = bounds_3857;
    let [w, s, e, n] = bbox_lonlat;
    let mut query = sqlx::query_as(sql)
        .bind(x0)
        .bind(y0)
        .bind(x1)
        .bind(y1)
        .bind(w)
        .bind(s)
        .bind(e)
        .bind(n)
        .bind(extent as i32)
        .bind(buffer as i32);
    match table {
        TileTable::Towers => query = query.bind(THIN_ABOVE).bind(THIN_CELL),
        TileTable::FibreRoutes => query = query.bind(params.only_operator),
        TileTable::DuctBanks => {
            let d = params.ducts;
            query = query
                .bind(d.limits[0])
                .bind(d.limits[1])
                .bind(d.limits[2])
                .bind(d.low_from_mm)
                .bind(d.ample_from_mm)
                .bind(d.details);
        }
        TileTable::DataCentres | TileTable::Districts | TileTable::Structures => {}
    }
    let (version, mvt): (i64, Option<Vec<u8>>) = query.fetch_one(pool).await?;
    Ok(LayerTile {
        version,
        mvt: mvt.unwrap_or_default(),
    })
}

/// A fibre route near a tile, for the generalised `fibre_presence` layer.
#[derive(Debug, Clone, PartialEq)]
pub struct PresenceRow {
    /// Route id.
    pub id: i64,
    /// Owning operator id.
    pub operator_id: String,
    /// Life-cycle status.
    pub status: String,
    /// Placement (underground, aerial, submarine).
    pub placement: String,
    /// The part of the route inside the box asked for (lon/lat).
    pub geometry: geo::Geometry<f64>,
}

/// The fibre routes whose bounding box meets `bbox_lonlat` (`[west, south,
/// east, north]`), clipped to it, with the `fibre_routes` layer version of
/// the same snapshot. Routes of `exclude_operator` are left out.
///
/// # Errors
/// On database failure.
pub async fn presence_routes(
    pool: &PgPool,
    bbox_lonlat: [f64; 4],
    exclude_operator: Option<&str>,
) -> DbResult<(i64, Vec<PresenceRow>)> {
    let [w, s, e, n] = bbox_lonlat;
    let rows: Vec<PresenceSqlRow> = sqlx::query_as(include_str!("sql/fibre_presence.sql"))
        .bind(w)
        .bind(s)
        .bind(e)
        .bind(n)
        .bind(exclude_operator)
        .fetch_all(pool)
        .await?;
    let version = rows.first().map_or(0, |r| r.version);
    let routes = rows
        .into_iter()
        .filter_map(|r| {
            Some(PresenceRow {
                id: r.id?,
                operator_id: r.operator_id?,
                status: r.status?,
                placement: r.placement?,
                geometry: r.geom?.geometry?,
            })
        })
        .collect();
    Ok((version, routes))
}

#[derive(sqlx::FromRow)]
struct PresenceSqlRow {
    version: i64,
    id: Option<i64>,
    operator_id: Option<String>,
    status: Option<String>,
    placement: Option<String>,
    geom: Option<wkb::Decode<geo::Geometry<f64>>>,
}
