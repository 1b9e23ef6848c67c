//! Stored layers cut and encoded by PostGIS (`ST_AsMVT`; the queries are in
//! [`db::tiles`](crate::db::tiles)): `towers` (thinned with a `point_count`
//! where a tile is dense), `data-centres`, `districts`, and `fibre-routes`
//! exact, as those who may see every route get it.

use sqlx::PgPool;

use super::grid::{BUFFER, EXTENT, TileCoord};
use super::{FibreScope, Tile, TileResult, TileSource, Tileset, Version};
use crate::db::tiles::{self as db_tiles, TileTable};

/// One stored layer as a tileset, the same for every viewer.
#[derive(Debug, Clone, Copy)]
pub struct TableSource<'a> {
    pool: &'a PgPool,
    table: TileTable,
}

impl<'a> TableSource<'a> {
    /// The tileset of `table` over `pool`.
    pub fn new(pool: &'a PgPool, table: TileTable) -> Self {
        Self { pool, table }
    }
}

impl TileSource for TableSource<'_> {
    fn id(&self) -> &'static str {
        Tileset::from(self.table).id()
    }

    async fn version(&self, _scope: &FibreScope) -> TileResult<Version> {
        Ok(Version::stored(
            db_tiles::version(self.pool, self.table).await?,
        ))
    }

    async fn tile(&self, t: TileCoord, _scope: &FibreScope) -> TileResult<Tile> {
        let layer = db_tiles::layer_tile(
            self.pool,
            self.table,
            t.bounds_3857(),
            t.bounds_lonlat(BUFFER),
            EXTENT,
            BUFFER,
            None,
        )
        .await?;
        Ok(Tile {
            version: Version::stored(layer.version),
            mvt: layer.mvt,
        })
    }
}
