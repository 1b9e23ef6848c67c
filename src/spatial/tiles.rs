//! Web Mercator tiles (OGC `WebMercatorQuad`, EPSG:3857) and the sectors
//! vector-tile layer, encoded as Mapbox Vector Tiles from the coverage index.
//!
//! Tile rows count from the north (`y = 0` at the top), as in XYZ and OGC
//! API – Tiles; coordinates elsewhere are lon/lat (EPSG:4326).

use geo::orient::{Direction, Orient};
use geo::{BooleanOps, BoundingRect, Coord, Geometry, MapCoords, MultiPolygon, Polygon, Rect};
use geozero::ToMvt;
use geozero::mvt::{Message, TagsBuilder, Tile, TileValue, tile};
use h3o::CellIndex;

use super::generalise::cells_outline;
use crate::coverage::index::CoverageIndex;

/// Half the side of the Web Mercator square, metres (π × 6,378,137).
pub const MERCATOR_HALF_M: f64 = 20_037_508.342_789_244;
/// Deepest zoom level served.
pub const MAX_ZOOM: u8 = 24;
/// Tile coordinate extent of every layer.
pub const EXTENT: u32 = 4096;
/// Buffer around each tile, in tile units, so that strokes and symbols do
/// not clip at tile edges.
pub const BUFFER: u32 = 64;
/// Shallowest zoom at which the sectors layer has features: below it a
/// dense network's wedges overlap into clutter and tiles grow to megabytes.
pub const SECTORS_MIN_ZOOM: u8 = 13;
/// Web Mercator's latitude limit, degrees.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

/// A tile of the `WebMercatorQuad` tile matrix set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileCoord {
    /// Zoom level (tile matrix), 0–[`MAX_ZOOM`].
    pub z: u8,
    /// Column, 0 at the antimeridian (west).
    pub x: u32,
    /// Row, 0 at the north.
    pub y: u32,
}

/// Why a tile address is not in the tile matrix set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// The zoom level is deeper than [`MAX_ZOOM`].
    #[error("zoom level {0} is outside 0–{MAX_ZOOM}")]
    Zoom(u32),
    /// The column or row is outside `0..2^z`.
    #[error("tile column {x} or row {y} is outside 0–{max} at zoom {z}")]
    Range {
        /// Zoom.
        z: u8,
        /// Column.
        x: u32,
        /// Row.
        y: u32,
        /// Largest valid index, `2^z - 1`.
        max: u32,
    },
}

impl TileCoord {
    /// Checks that the tile exists in `WebMercatorQuad`.
    ///
    /// # Errors
    /// [`TileError`] when z, x or y is out of range.
    pub fn new(z: u32, x: u32, y: u32) -> Result<Self, TileError> {
        if z > u32::from(MAX_ZOOM) {
            return Err(TileError::Zoom(z));
        }
        let z = z as u8;
        let max = (1u64 << z) - 1;
        if u64::from(x) > max || u64::from(y) > max {
            return Err(TileError::Range {
                z,
                x,
                y,
                max: max as u32,
            });
        }
        Ok(Self { z, x, y })
    }

    /// Side of the tile, metres of EPSG:3857.
    pub fn size_m(self) -> f64 {
        2.0 * MERCATOR_HALF_M / f64::from(1u32 << self.z.min(31))
    }

    /// Bounds in EPSG:3857 metres: `[min_x, min_y, max_x, max_y]`.
    pub fn bounds_3857(self) -> [f64; 4] {
        let size = self.size_m();
        let min_x = -MERCATOR_HALF_M + f64::from(self.x) * size;
        let max_y = MERCATOR_HALF_M - f64::from(self.y) * size;
        [min_x, max_y - size, min_x + size, max_y]
    }

    /// Bounds in lon/lat degrees, grown by `buffer` tile units on each side
    /// and clamped to the Web Mercator limits: `[west, south, east, north]`.
    pub fn bounds_lonlat(self, buffer: u32) -> [f64; 4] {
        let [x0, y0, x1, y1] = self.bounds_3857();
        let pad = self.size_m() * f64::from(buffer) / f64::from(EXTENT);
        let (w, s) = to_lonlat(x0 - pad, y0 - pad);
        let (e, n) = to_lonlat(x1 + pad, y1 + pad);
        [w.max(-180.0), s.max(-MAX_LAT), e.min(180.0), n.min(MAX_LAT)]
    }
}

/// Lon/lat degrees → EPSG:3857 metres (latitude clamped to [`MAX_LAT`]).
pub fn to_3857(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
    let x = lon.to_radians() * 6_378_137.0;
    let y = (std::f64::consts::FRAC_PI_4 + lat / 2.0).tan().ln() * 6_378_137.0;
    (x, y)
}

/// EPSG:3857 metres → lon/lat degrees.
pub fn to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = (x / 6_378_137.0).to_degrees();
    let lat = (2.0 * (y / 6_378_137.0).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees();
    (lon, lat)
}

/// Largest gap between a wedge's drawn arc and the true arc, tile units
/// (half a screen pixel of a 256-pixel tile).
const ARC_TOLERANCE: f64 = 8.0;

/// Arc step (degrees of bearing) that keeps the chords of an arc of
/// `radius_units` within [`ARC_TOLERANCE`] of it: 2·acos(1 − tol / r),
/// between 2° and 30°.
pub fn arc_step_deg(radius_units: f64) -> f64 {
    if radius_units <= ARC_TOLERANCE {
        return 30.0;
    }
    (2.0 * (1.0 - ARC_TOLERANCE / radius_units).acos())
        .to_degrees()
        .clamp(2.0, 30.0)
}

/// The `sectors` layer of tile `t`: every indexed (operational) sector whose
/// wedge meets the tile, clipped to the tile plus its buffer. Properties:
/// `id`, `tower_id`, `operator_id`, `technology`, `azimuth_deg`,
/// `beamwidth_deg`, `range_m`, `range_source`. `None` when the tile has no
/// sector (or is shallower than [`SECTORS_MIN_ZOOM`]).
pub fn sectors_layer(index: &CoverageIndex, t: TileCoord) -> Option<tile::Layer> {
    if t.z < SECTORS_MIN_ZOOM {
        return None;
    }
    let bbox = t.bounds_lonlat(BUFFER);
    let [x0, y0, x1, y1] = t.bounds_3857();
    let clip_rect = buffered_rect_3857(t);
    let clip = clip_rect.to_polygon();
    // Ground metres per tile unit at the tile's centre latitude.
    let (_, centre_lat) = to_lonlat((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let unit_ground_m = t.size_m() / f64::from(EXTENT) * centre_lat.to_radians().cos();
    let mut tags = TagsBuilder::new();
    let mut features = Vec::new();
    for s in index.sectors_in_bbox(Some(bbox), None, None) {
        let wedge = s.footprint(arc_step_deg(s.range_m / unit_ground_m));
        let projected = Polygon::new(
            wedge
                .exterior()
                .coords()
                .map(|c| Coord::from(to_3857(c.x, c.y)))
                .collect::<geo::LineString<f64>>(),
            vec![],
        );
        let Some(extent) = projected.bounding_rect() else {
            continue;
        };
        let inside = extent.min().x >= clip_rect.min().x
            && extent.min().y >= clip_rect.min().y
            && extent.max().x <= clip_rect.max().x
            && extent.max().y <= clip_rect.max().y;
        let geometry = if inside {
            Geometry::Polygon(projected)
        } else if s.is_omni() || s.beamwidth_deg <= 180.0 {
            // Convex: clipping to a rectangle is exact and far cheaper than a
            // general polygon overlay.
            match clip_convex(projected.exterior(), &clip_rect) {
                Some(ring) => Geometry::Polygon(Polygon::new(ring, vec![])),
                None => continue,
            }
        } else {
            let clipped: MultiPolygon<f64> = projected.intersection(&clip);
            if clipped.0.is_empty() {
                continue;
            }
            Geometry::MultiPolygon(clipped)
        };
        let Ok(mut feature) = geometry.to_mvt(EXTENT, x0, y0, x1, y1) else {
            continue;
        };
        if feature.geometry.is_empty() {
            continue;
        }
        feature.id = u64::try_from(s.sector_id).ok();
        let operator = index
            .operators
            .get(usize::from(s.op))
            .cloned()
            .unwrap_or_default();
        let props = [
            ("id", TileValue::Int(s.sector_id)),
            ("tower_id", TileValue::Int(s.tower_id)),
            ("operator_id", TileValue::Str(operator)),
            ("technology", TileValue::Str(s.technology.to_string())),
            ("azimuth_deg", TileValue::Double(s.azimuth_deg)),
            ("beamwidth_deg", TileValue::Double(s.beamwidth_deg)),
            ("range_m", TileValue::Double(s.range_m.round())),
            (
                "range_source",
                TileValue::Str(s.range_source.as_str().to_owned()),
            ),
        ];
        tag(&mut tags, &mut feature, props);
        features.push(feature);
    }
    layer("sectors", features, tags)
}

/// Adds `props` to `feature`, interning keys and values in `tags`.
fn tag<const N: usize>(
    tags: &mut TagsBuilder,
    feature: &mut tile::Feature,
    props: [(&str, TileValue); N],
) {
    for (k, v) in props {
        let (ki, vi) = tags.insert_ref(k, v);
        feature.tags.extend([ki, vi]);
    }
}

/// An MVT layer of `features` with the interned `tags` (`None` when empty).
fn layer(name: &str, features: Vec<tile::Feature>, tags: TagsBuilder) -> Option<tile::Layer> {
    if features.is_empty() {
        return None;
    }
    let (keys, values) = tags.into_tags();
    Some(tile::Layer {
        version: 2,
        name: name.into(),
        features,
        keys,
        values: values.into_iter().map(Into::into).collect(),
        extent: Some(EXTENT),
    })
}

/// The tile grown by [`BUFFER`], EPSG:3857 metres: what a layer keeps.
fn buffered_rect_3857(t: TileCoord) -> Rect<f64> {
    let [x0, y0, x1, y1] = t.bounds_3857();
    let pad = t.size_m() * f64::from(BUFFER) / f64::from(EXTENT);
    Rect::new(
        Coord {
            x: x0 - pad,
            y: y0 - pad,
        },
        Coord {
            x: x1 + pad,
            y: y1 + pad,
        },
    )
}

/// Name of the generalised fibre layer.
pub const FIBRE_PRESENCE_LAYER: &str = "fibre_presence";

/// A fibre route as the generalised layer shows it: attributes that say
/// whose fibre is there, and the H3 cells it passes through (see
/// [`fibre_cells`](super::generalise::fibre_cells)), never its path.
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
    let clip_rect = buffered_rect_3857(t);
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
            outline.intersection(&clip)
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

/// Clips a closed convex ring to a rectangle (Sutherland–Hodgman: one pass
/// per edge of the rectangle). `None` when nothing is left. geo offers
/// only general polygon overlay ([`BooleanOps`]), which costs tens of times
/// more for this case.
fn clip_convex(ring: &geo::LineString<f64>, rect: &Rect<f64>) -> Option<geo::LineString<f64>> {
    let (min, max) = (rect.min(), rect.max());
    let mut pts: Vec<Coord<f64>> = ring.0.clone();
    if pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    // Each edge: inside test, and the intersection of segment a–b with it.
    type Inside = fn(Coord<f64>, f64) -> bool;
    let edges: [(Inside, f64, bool); 4] = [
        (|p, v| p.x >= v, min.x, true),
        (|p, v| p.x <= v, max.x, true),
        (|p, v| p.y >= v, min.y, false),
        (|p, v| p.y <= v, max.y, false),
    ];
    for (inside, v, vertical) in edges {
        if pts.is_empty() {
            return None;
        }
        let cut = |a: Coord<f64>, b: Coord<f64>| {
            if vertical {
                let t = (v - a.x) / (b.x - a.x);
                Coord {
                    x: v,
                    y: a.y + t * (b.y - a.y),
                }
            } else {
                let t = (v - a.y) / (b.y - a.y);
                Coord {
                    x: a.x + t * (b.x - a.x),
                    y: v,
                }
            }
        };
        let mut out = Vec::with_capacity(pts.len() + 4);
        for i in 0..pts.len() {
            let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
            match (inside(a, v), inside(b, v)) {
                (true, true) => out.push(b),
                (true, false) => out.push(cut(a, b)),
                (false, true) => {
                    out.push(cut(a, b));
                    out.push(b);
                }
                (false, false) => {}
            }
        }
        pts = out;
    }
    if pts.len() < 3 {
        return None;
    }
    let mut ring = geo::LineString::new(pts);
    ring.close();
    Some(ring)
}

/// Encodes layers as one Mapbox Vector Tile (protobuf bytes).
pub fn encode(layers: Vec<tile::Layer>) -> Vec<u8> {
    Tile { layers }.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_tile_spans_the_whole_mercator_square() {
        let t = TileCoord::new(0, 0, 0).unwrap();
        let [x0, y0, x1, y1] = t.bounds_3857();
        assert_eq!(
            [x0, y0, x1, y1],
            [
                -MERCATOR_HALF_M,
                -MERCATOR_HALF_M,
                MERCATOR_HALF_M,
                MERCATOR_HALF_M
            ]
        );
        let [w, s, e, n] = t.bounds_lonlat(0);
        assert!((w + 180.0).abs() < 1e-9 && (e - 180.0).abs() < 1e-9);
        assert!((n - MAX_LAT).abs() < 1e-9 && (s + MAX_LAT).abs() < 1e-9);
    }

    #[test]
    fn a_da_nang_tile_contains_the_city_centre() {
        // Da Nang city centre, lon/lat 108.2208, 16.0678: at zoom 14 it is in
        // column floor((lon + 180) / 360 * 2^14) and the row from the
        // Mercator formula (computed by hand: x 13117, y 7450).
        let t = TileCoord::new(14, 13117, 7450).unwrap();
        let [w, s, e, n] = t.bounds_lonlat(0);
        assert!(w <= 108.2208 && 108.2208 < e, "{w} {e}");
        assert!(s <= 16.0678 && 16.0678 < n, "{s} {n}");
    }

    #[test]
    fn mercator_round_trips() {
        for (lon, lat) in [(108.2, 16.05), (-70.0, -33.4), (0.0, 0.0), (179.9, 80.0)] {
            let (x, y) = to_3857(lon, lat);
            let (lon2, lat2) = to_lonlat(x, y);
            assert!((lon - lon2).abs() < 1e-9 && (lat - lat2).abs() < 1e-9);
        }
    }

    #[test]
    fn arcs_get_finer_steps_as_they_grow_on_screen() {
        // A 4,096-unit radius (a wedge one tile long): 2·acos(1 − 8/4096).
        assert!((arc_step_deg(4096.0) - 7.1631).abs() < 1e-3);
        assert_eq!(arc_step_deg(4.0), 30.0);
        assert_eq!(arc_step_deg(1e9), 2.0);
        assert!(arc_step_deg(500.0) > arc_step_deg(2000.0));
    }

    #[test]
    fn convex_clipping_agrees_with_polygon_overlay() {
        use geo::Area;
        let rect = Rect::new(Coord { x: 0.0, y: 0.0 }, Coord { x: 10.0, y: 10.0 });
        // A fan (wedge-like) polygon crossing two edges of the rectangle.
        let mut ring: Vec<Coord<f64>> = vec![Coord { x: 5.0, y: 5.0 }];
        for i in 0..=12 {
            let b = (-40.0 + 80.0 * f64::from(i) / 12.0_f64).to_radians();
            ring.push(Coord {
                x: 5.0 + 9.0 * b.sin(),
                y: 5.0 + 9.0 * b.cos(),
            });
        }
        ring.push(Coord { x: 5.0, y: 5.0 });
        let poly = Polygon::new(geo::LineString::new(ring), vec![]);
        let fast = Polygon::new(clip_convex(poly.exterior(), &rect).unwrap(), vec![]);
        let exact = poly.intersection(&rect.to_polygon());
        let (a, b) = (fast.unsigned_area(), exact.unsigned_area());
        assert!((a - b).abs() < 1e-6 * b, "{a} vs {b}");
        // Entirely outside: nothing.
        let far = Rect::new(Coord { x: 50.0, y: 50.0 }, Coord { x: 60.0, y: 60.0 });
        assert!(clip_convex(poly.exterior(), &far).is_none());
    }

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

    #[test]
    fn tiles_outside_the_matrix_are_refused() {
        assert_eq!(TileCoord::new(25, 0, 0), Err(TileError::Zoom(25)));
        assert!(matches!(
            TileCoord::new(3, 8, 0),
            Err(TileError::Range { max: 7, .. })
        ));
        assert!(TileCoord::new(24, (1 << 24) - 1, 0).is_ok());
    }
}
