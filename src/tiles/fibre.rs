//! The `fibre-routes` tileset, which depends on who asks: exact routes
//! (`fibre_routes` layer, encoded by PostGIS) to those who may see them, and
//! the generalised `fibre_presence` layer (the H3 cells routes pass through,
//! encoded here) to everyone else; a carrier gets its own routes exact and
//! the others' as cells, both layers in one tile.

use geo::orient::{Direction, Orient};
use geo::{BoundingRect, Coord, Geometry, MapCoords, MultiPolygon, Rect};
use geozero::ToMvt;
use geozero::mvt::{TagsBuilder, TileValue, tile};
use h3o::CellIndex;
use sqlx::PgPool;

use super::grid::{BUFFER, EXTENT, MAX_LAT, TileCoord, to_3857};
use super::mvt::{encode, layer, tag};
use super::{FibreScope, Tile, TileResult, TileSource, Tileset, Version};
use crate::db::DbResult;
use crate::db::tiles::{self as db_tiles, LayerTile, TileTable};
use crate::spatial::generalise::{cells_outline, generalise};
use crate::spatial::geodesy::{M_PER_DEG_LAT_EQUATOR, M_PER_DEG_LON_EQUATOR};

/// The `fibre-routes` tileset as [`FibreScope`] allows.
#[derive(Debug, Clone, Copy)]
pub struct FibreSource<'a> {
    pool: &'a PgPool,
}

impl<'a> FibreSource<'a> {
    /// The source over `pool`.
    pub fn new(pool: &'a PgPool) -> Self {
        Self { pool }
    }
}

impl TileSource for FibreSource<'_> {
    fn id(&self) -> &'static str {
        Tileset::FibreRoutes.id()
    }

    fn per_viewer(&self) -> bool {
        true
    }

    async fn version(&self, scope: &FibreScope) -> TileResult<Version> {
        Ok(Version::Stored {
            layer: db_tiles::version(self.pool, TileTable::FibreRoutes).await?,
            scope: scope.clone(),
        })
    }

    async fn tile(&self, t: TileCoord, scope: &FibreScope) -> TileResult<Tile> {
        let mine = match scope {
            FibreScope::All => {
                let exact = fibre_routes_tile(self.pool, t, None).await?;
                return Ok(Tile {
                    version: Version::stored(exact.version),
                    mvt: exact.mvt,
                });
            }
            FibreScope::Operator(op) => Some(op.as_str()),
            FibreScope::Public => None,
        };
        let presence = fibre_presence_tile(self.pool, t, mine).await?;
        let mut mvt = match mine {
            // Two encoded tiles concatenated are one tile with both layers
            // (MVT layers are a repeated protobuf field).
            Some(op) => fibre_routes_tile(self.pool, t, Some(op)).await?.mvt,
            None => Vec::new(),
        };
        mvt.extend_from_slice(&presence.mvt);
        Ok(Tile {
            version: Version::Stored {
                layer: presence.version,
                scope: scope.clone(),
            },
            mvt,
        })
    }
}

/// The exact `fibre_routes` layer of tile `t` ([`EXTENT`], [`BUFFER`]),
/// restricted to the routes of `only_operator` when given (a carrier sees
/// its own routes exact).
///
/// # Errors
/// On database failure.
pub async fn fibre_routes_tile(
    pool: &PgPool,
    t: TileCoord,
    only_operator: Option<&str>,
) -> DbResult<LayerTile> {
    db_tiles::layer_tile(
        pool,
        TileTable::FibreRoutes,
        t.bounds_3857(),
        t.bounds_lonlat(BUFFER),
        EXTENT,
        BUFFER,
        db_tiles::LayerParams {
            only_operator,
            ..Default::default()
        },
    )
    .await
}

/// How far beyond a tile's buffer fibre routes are fetched for the presence
/// layer, metres: a route whose cell meets the tile is within one cell
/// diameter (≤ 1.1 km at resolution 8) of it.
pub const PRESENCE_MARGIN_M: f64 = 1_500.0;

/// The box, lon/lat `[w, s, e, n]`, of the routes that may have a cell
/// meeting tile `t`: the tile plus its buffer, grown by
/// [`PRESENCE_MARGIN_M`].
pub(super) fn presence_bbox(t: TileCoord) -> [f64; 4] {
    let [w, s, e, n] = t.bounds_lonlat(BUFFER);
    // Degrees that span at least the margin anywhere in the tile: degrees
    // are shortest on the equator, and degrees of longitude at the latitude
    // farthest from it.
    let dlat = PRESENCE_MARGIN_M / M_PER_DEG_LAT_EQUATOR;
    let widest = s.abs().max(n.abs()).min(MAX_LAT).to_radians().cos();
    let dlon = PRESENCE_MARGIN_M / (M_PER_DEG_LON_EQUATOR * widest);
    [
        (w - dlon).max(-180.0),
        (s - dlat).max(-MAX_LAT),
        (e + dlon).min(180.0),
        (n + dlat).min(MAX_LAT),
    ]
}

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
    let bbox = presence_bbox(t);
    let (version, rows) = db_tiles::presence_routes(pool, bbox, exclude_operator).await?;
    let routes = rows
        .into_iter()
        .map(|r| PresenceRoute {
            cells: generalise(&r.geometry).cells.clone(),
            id: r.id,
            operator: r.operator_id,
            status: r.status,
            placement: r.placement,
        })
        .collect();
    Ok((version, routes))
}

/// [`fibre_presence_routes`] and their layer, encoded, with the cells
/// computed on the CPU pool ([`crate::cpu`]).
async fn presence_on_pool(
    pool: &PgPool,
    t: TileCoord,
    exclude_operator: Option<&str>,
) -> TileResult<LayerTile> {
    let (version, rows) =
        db_tiles::presence_routes(pool, presence_bbox(t), exclude_operator).await?;
    let mvt = crate::cpu::run(move |cancel| {
        let mut routes = Vec::with_capacity(rows.len());
        for r in rows {
            if cancel.is_cancelled() {
                return Vec::new();
            }
            routes.push(PresenceRoute {
                cells: generalise(&r.geometry).cells.clone(),
                id: r.id,
                operator: r.operator_id,
                status: r.status,
                placement: r.placement,
            });
        }
        fibre_presence_layer(t, &routes)
            .map(|l| encode(vec![l]))
            .unwrap_or_default()
    })
    .await?;
    Ok(LayerTile { version, mvt })
}

/// The `fibre_presence` layer of tile `t` as MVT bytes (empty when no route's
/// cell meets the tile; see [`fibre_presence_layer`]), with the
/// `fibre_routes` layer version. Routes of `exclude_operator` are left out.
/// The cells and the layer are computed on the CPU pool ([`crate::cpu`]).
///
/// # Errors
/// On database failure, or when the pool's job fails.
pub async fn fibre_presence_tile(
    pool: &PgPool,
    t: TileCoord,
    exclude_operator: Option<&str>,
) -> TileResult<LayerTile> {
    presence_on_pool(pool, t, exclude_operator).await
}

/// Name of the generalised fibre layer.
pub const FIBRE_PRESENCE_LAYER: &str = "fibre_presence";

/// A fibre route as the generalised layer shows it: attributes that say
/// whose fibre is there, and the H3 cells it passes through (see
/// [`fibre_cells`](crate::spatial::generalise::fibre_cells)), never its path.
#[derive(Debug, Clone, PartialEq)]
pub struct PresenceRoute {
    /// Route id.
    pub id: i64,
    /// Owning operator id.
    pub operator: String,
    /// Life-cycle status.
    pub status: String,
    /// Placement (underground, aerial, submarine).
    pub placement: String,
    /// Cells the route passes through (any order; duplicates ignored).
    pub cells: Vec<CellIndex>,
}

/// The `fibre_presence` layer of tile `t`: for each route with a cell that
/// meets the tile plus its buffer, one polygon feature (id = route id) — the
/// outline of those cells ([`cells_outline`]), clipped to the tile plus its
/// buffer. Properties: `route_id`, `operator`, `status`, `placement`.
/// Polygons only: nothing of the exact route is encoded. `None` when no
/// cell meets the tile.
pub fn fibre_presence_layer(t: TileCoord, routes: &[PresenceRoute]) -> Option<tile::Layer> {
    let [x0, y0, x1, y1] = t.bounds_3857();
    let clip_rect = t.buffered_rect_3857();
    let clip = clip_rect.to_polygon();
    let project = |mp: MultiPolygon<f64>| mp.map_coords(|c| Coord::from(to_3857(c.x, c.y)));
    let meets = |r: &Rect<f64>| {
        r.min().x <= clip_rect.max().x
            && r.max().x >= clip_rect.min().x
            && r.min().y <= clip_rect.max().y
            && r.max().y >= clip_rect.min().y
    };
    let mut tags = TagsBuilder::new();
    let mut features = Vec::new();
    for route in routes {
        let cells: Vec<CellIndex> = route
            .cells
            .iter()
            .copied()
            .filter(|c| {
                project(MultiPolygon::from(*c))
                    .bounding_rect()
                    .is_some_and(|r| meets(&r))
            })
            .collect();
        if cells.is_empty() {
            continue;
        }
        let outline = project(cells_outline(&cells));
        let Some(extent) = outline.bounding_rect() else {
            continue;
        };
        let inside = extent.min().x >= clip_rect.min().x
            && extent.min().y >= clip_rect.min().y
            && extent.max().x <= clip_rect.max().x
            && extent.max().y <= clip_rect.max().y;
        let clipped = if inside {
            outline
        } else {
            crate::spatial::overlay::clip(&outline, &clip)
        };
        if clipped.0.is_empty() {
            continue;
        }
        // MVT exteriors have a positive area in tile coordinates (y down):
        // clockwise in EPSG:3857 (y up), the reverse of RFC 7946.
        let clipped = clipped.orient(Direction::Reversed);
        let Ok(mut feature) = Geometry::MultiPolygon(clipped).to_mvt(EXTENT, x0, y0, x1, y1) else {
            continue;
        };
        if feature.geometry.is_empty() {
            continue;
        }
        feature.id = u64::try_from(route.id).ok();
        let props = [
            ("route_id", TileValue::Int(route.id)),
            ("operator", TileValue::Str(route.operator.clone())),
            ("status", TileValue::Str(route.status.clone())),
            ("placement", TileValue::Str(route.placement.clone())),
        ];
        tag(&mut tags, &mut feature, props);
        features.push(feature);
    }
    layer(FIBRE_PRESENCE_LAYER, features, tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Position of lon/lat in tile units of `t` (x right, y down).
    fn tile_units(t: TileCoord, lon: f64, lat: f64) -> Coord<f64> {
        let [x0, _, _, y1] = t.bounds_3857();
        let unit = t.size_m() / f64::from(EXTENT);
        let (mx, my) = to_3857(lon, lat);
        Coord {
            x: (mx - x0) / unit,
            y: (y1 - my) / unit,
        }
    }

    #[test]
    fn the_presence_layer_covers_the_cells_in_the_tile_with_polygons_only() {
        use crate::spatial::generalise::fibre_cells;
        use geo::Intersects;
        use geo::line_string;
        use geozero::ToGeo;
        // Zoom 13 over the city centre; one route across it (lon/lat) and
        // one far away in Hòa Vang.
        let t = TileCoord::new(13, 13117 / 2, 7450 / 2).unwrap();
        let across = geo::Geometry::LineString(line_string![
            (x: 108.190, y: 16.055), (x: 108.215, y: 16.072), (x: 108.250, y: 16.060)
        ]);
        let far = geo::Geometry::LineString(line_string![
            (x: 108.00, y: 16.00), (x: 108.01, y: 16.01)
        ]);
        let routes: Vec<PresenceRoute> = [(7, &across), (8, &far)]
            .into_iter()
            .map(|(id, g)| PresenceRoute {
                id,
                operator: "vnpt".into(),
                status: "operational".into(),
                placement: "aerial".into(),
                cells: fibre_cells(g),
            })
            .collect();
        let layer = fibre_presence_layer(t, &routes).expect("a route crosses the tile");
        assert_eq!(layer.name, FIBRE_PRESENCE_LAYER);
        assert_eq!(layer.features.len(), 1);
        let f = &layer.features[0];
        assert_eq!(f.id, Some(7));
        assert_eq!(f.r#type, Some(tile::GeomType::Polygon as i32));
        let keys: Vec<&str> = f
            .tags
            .chunks(2)
            .map(|kv| layer.keys[kv[0] as usize].as_str())
            .collect();
        assert_eq!(keys, ["route_id", "operator", "status", "placement"]);
        let shape = f.to_geo().unwrap();
        let max = f64::from(EXTENT + BUFFER);
        let mut inside = 0;
        for c in &routes[0].cells {
            let ll = h3o::LatLng::from(*c);
            let p = tile_units(t, ll.lng(), ll.lat());
            if p.x > -f64::from(BUFFER) && p.x < max && p.y > -f64::from(BUFFER) && p.y < max {
                assert!(shape.intersects(&geo::Point(p)), "cell {c} not covered");
                inside += 1;
            }
        }
        assert!(inside >= 3, "{inside} cells in the tile");
        // Nothing but the route's cells: a route far from the tile adds none.
        assert!(fibre_presence_layer(t, &routes[1..]).is_none());
    }
}
