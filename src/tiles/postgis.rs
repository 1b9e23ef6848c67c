//! Stored layers cut and encoded by PostGIS (`ST_AsMVT`; the queries are in
//! [`db::tiles`](crate::db::tiles)): `towers` (thinned with a `point_count`
//! where a tile is dense), `data-centres`, `districts`, `fibre-routes`
//! exact, as those who may see every route get it, `structures`, and
//! `duct-banks` with their free capacity (and fill details for signed-in
//! viewers: [`FibreScope::Public`] gets the capacity class only).

use sqlx::PgPool;

use super::grid::{BUFFER, EXTENT, TileCoord};
use super::{FibreScope, Tile, TileResult, TileSource, Tileset, Version};
use crate::db::tiles::{self as db_tiles, DuctTileParams, LayerParams, TileTable};
use crate::domain::duct::CapacityPolicy;

/// One stored layer as a tileset, the same for every viewer.
#[derive(Debug, Clone, Copy)]
pub struct TableSource<'a> {
    pool: &'a PgPool,
    table: TileTable,
    policy: CapacityPolicy,
}

impl<'a> TableSource<'a> {
    /// The tileset of `table` over `pool`.
    pub fn new(pool: &'a PgPool, table: TileTable) -> Self {
        Self {
            pool,
            table,
            policy: CapacityPolicy::default(),
        }
    }

    /// The same source with the duct fill limits of `policy` (used by
    /// `duct-banks`).
    pub fn with_policy(self, policy: CapacityPolicy) -> Self {
        Self { policy, ..self }
    }
}

impl TileSource for TableSource<'_> {
    fn id(&self) -> &'static str {
        Tileset::from(self.table).id()
    }

    fn per_viewer(&self) -> bool {
        self.table == TileTable::DuctBanks
    }

    async fn version(&self, _scope: &FibreScope) -> TileResult<Version> {
        Ok(Version::stored(
            db_tiles::version(self.pool, self.table).await?,
        ))
    }

    async fn tile(&self, t: TileCoord, scope: &FibreScope) -> TileResult<Tile> {
        let params = LayerParams {
            only_operator: None,
            ducts: DuctTileParams::new(&self.policy, *scope != FibreScope::Public),
        };
        let layer = db_tiles::layer_tile(
            self.pool,
            self.table,
            t.bounds_3857(),
            t.bounds_lonlat(BUFFER),
            EXTENT,
            BUFFER,
            params,
        )
        .await?;
        // Duct banks differ only between the public and everyone else.
        let scope = if self.table == TileTable::DuctBanks && *scope == FibreScope::Public {
            FibreScope::Public
        } else {
            FibreScope::All
        };
        Ok(Tile {
            version: Version::Stored {
                layer: layer.version,
                scope,
            },
            mvt: layer.mvt,
        })
    }
}
