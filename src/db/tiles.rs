//! Vector tiles of the stored layers, encoded by PostGIS (`ST_AsMVT`), and
//! the generalised fibre layer (`fibre_presence`), encoded in Rust.

use geozero::wkb;
use sqlx::PgPool;

use super::DbResult;
use crate::spatial::generalise::generalise;
use crate::spatial::tiles::{
    BUFFER, EXTENT, MAX_LAT, PresenceRoute, TileCoord, encode, fibre_presence_layer,
};

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
/// east, north]`; `extent` and `buffer` are in tile units.
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
) -> DbResult<LayerTile> {
    layer_tile_of(pool, table, bounds_3857, bbox_lonlat, extent, buffer, None).await
}

/// The exact `fibre_routes` layer of tile `t` ([`EXTENT`], [`BUFFER`]), as
/// [`layer_tile`] encodes it, restricted to the routes of `only_operator`
/// when given (a carrier sees its own routes exact).
///
/// # Errors
/// On database failure.
pub async fn fibre_routes_tile(
    pool: &PgPool,
    t: TileCoord,
    only_operator: Option<&str>,
) -> DbResult<LayerTile> {
    layer_tile_of(
        pool,
        TileTable::FibreRoutes,
        t.bounds_3857(),
        t.bounds_lonlat(BUFFER),
        EXTENT,
        BUFFER,
        only_operator,
    )
    .await
}

/// How far beyond a tile's buffer fibre routes are fetched for the presence
/// layer, metres: a route whose cell meets the tile is within one cell
/// diameter (≤ 1.1 km at resolution 8) of it.
pub const PRESENCE_MARGIN_M: f64 = 1_500.0;

/// The fibre routes whose cells may meet tile `t` (bounding box within
/// [`PRESENCE_MARGIN_M`] of the tile plus its buffer), as the
/// `fibre_presence` layer shows them, with the `fibre_routes` layer version
/// of the same snapshot. Routes of `exclude_operator` are left out (a
/// carrier sees those exact). Cells are computed from the part of each route
/// inside the grown box only, so long routes cost what their stretch near the
/// tile costs.
///
/// # Errors
/// On database failure.
pub async fn fibre_presence_routes(
    pool: &PgPool,
    t: TileCoord,
    exclude_operator: Option<&str>,
) -> DbResult<(i64, Vec<PresenceRoute>)> {
    let [w, s, e, n] = t.bounds_lonlat(BUFFER);
    let dlat = PRESENCE_MARGIN_M / 110_574.0;
    let widest = s.abs().max(n.abs()).min(MAX_LAT).to_radians().cos();
    let dlon = PRESENCE_MARGIN_M / (111_320.0 * widest);
    let rows: Vec<PresenceRow> = sqlx::query_as(include_str!("sql/fibre_presence.sql"))
        .bind((w - dlon).max(-180.0))
        .bind((s - dlat).max(-MAX_LAT))
        .bind((e + dlon).min(180.0))
        .bind((n + dlat).min(MAX_LAT))
        .bind(exclude_operator)
        .fetch_all(pool)
        .await?;
    let version = rows.first().map_or(0, |r| r.version);
    let routes = rows
        .into_iter()
        .filter_map(|r| {
            Some(PresenceRoute {
                id: r.id?,
                operator: r.operator_id?,
                status: r.status?,
                placement: r.placement?,
                cells: generalise(&r.geom?.geometry?).cells.clone(),
            })
        })
        .collect();
    Ok((version, routes))
}

#[derive(sqlx::FromRow)]
struct PresenceRow {
    version: i64,
    id: Option<i64>,
    operator_id: Option<String>,
    status: Option<String>,
    placement: Option<String>,
    geom: Option<wkb::Decode<geo::Geometry<f64>>>,
}

/// The `fibre_presence` layer of tile `t` as MVT bytes (empty when no route's
/// cell meets the tile; see [`fibre_presence_layer`]), with the
/// `fibre_routes` layer version. Routes of `exclude_operator` are left out.
///
/// # Errors
/// On database failure.
pub async fn fibre_presence_tile(
    pool: &PgPool,
    t: TileCoord,
    exclude_operator: Option<&str>,
) -> DbResult<LayerTile> {
    let (version, routes) = fibre_presence_routes(pool, t, exclude_operator).await?;
    let mvt = fibre_presence_layer(t, &routes)
        .map(|l| encode(vec![l]))
        .unwrap_or_default();
    Ok(LayerTile { version, mvt })
}

async fn layer_tile_of(
    pool: &PgPool,
    table: TileTable,
    bounds_3857: [f64; 4],
    bbox_lonlat: [f64; 4],
    extent: u32,
    buffer: u32,
    only_operator: Option<&str>,
) -> DbResult<LayerTile> {
    let sql = match table {
        TileTable::Towers => include_str!("sql/tile_towers.sql"),
        TileTable::FibreRoutes => include_str!("sql/tile_fibre_routes.sql"),
        TileTable::DataCentres => include_str!("sql/tile_data_centres.sql"),
        TileTable::Districts => include_str!("sql/tile_districts.sql"),
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
        TileTable::FibreRoutes => query = query.bind(only_operator),
        TileTable::DataCentres | TileTable::Districts => {}
    }
    let (version, mvt): (i64, Option<Vec<u8>>) = query.fetch_one(pool).await?;
    Ok(LayerTile {
        version,
        mvt: mvt.unwrap_or_default(),
    })
}
