//! Vector tiles of the stored layers, encoded by PostGIS (`ST_AsMVT`).

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
    if table == TileTable::Towers {
        query = query.bind(THIN_ABOVE).bind(THIN_CELL);
    }
    let (version, mvt): (i64, Option<Vec<u8>>) = query.fetch_one(pool).await?;
    Ok(LayerTile {
        version,
        mvt: mvt.unwrap_or_default(),
    })
}
