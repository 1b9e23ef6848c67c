//! The `sectors` tileset: wedges of the operational sectors in the
//! in-memory coverage index, clipped and encoded in Rust.

use geo::{BoundingRect, Coord, Geometry, MultiPolygon, Polygon, Rect};
use geozero::ToMvt;
use geozero::mvt::{TagsBuilder, TileValue, tile};

use super::grid::{BUFFER, EXTENT, TileCoord, to_3857, to_lonlat};
use super::mvt::{encode, layer, tag};
use super::{FibreScope, Tile, TileResult, TileSource, Tileset, Version};
use crate::coverage::index::CoverageIndex;
use crate::coverage::listener::CoverageState;

/// Shallowest zoom at which the sectors layer has features: below it a
/// dense network's wedges overlap into clutter and tiles grow to megabytes.
pub const SECTORS_MIN_ZOOM: u8 = 13;

/// The `sectors` tileset over the current coverage index snapshot. The same
/// for every viewer; its version is the snapshot's.
#[derive(Debug, Clone, Copy)]
pub struct SectorSource<'a> {
    coverage: &'a CoverageState,
}

impl<'a> SectorSource<'a> {
    /// The source over `coverage`.
    pub fn new(coverage: &'a CoverageState) -> Self {
        Self { coverage }
    }
}

impl TileSource for SectorSource<'_> {
    fn id(&self) -> &'static str {
        Tileset::Sectors.id()
    }

    async fn version(&self, _scope: &FibreScope) -> TileResult<Version> {
        Ok(Version::Index(self.coverage.snapshot().version))
    }

    async fn tile(&self, t: TileCoord, _scope: &FibreScope) -> TileResult<Tile> {
        let index = self.coverage.snapshot();
        let mvt = sectors_layer(&index, t)
            .map(|l| encode(vec![l]))
            .unwrap_or_default();
        Ok(Tile {
            version: Version::Index(index.version),
            mvt,
        })
    }
}

/// Largest gap between a wedge's drawn arc and the true arc, tile units
/// (half a screen pixel of a 256-pixel tile).
const ARC_TOLERANCE: f64 = 8.0;

/// Arc step (degrees of bearing) that keeps the chords of an arc of
/// `radius_units` within `ARC_TOLERANCE` (8 units) of it: 2·acos(1 − tol / r),
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
    let clip_rect = t.buffered_rect_3857();
    let clip = clip_rect.to_polygon();
    // Ground metres per tile unit at the tile's centre latitude.
    let (_, centre_lat) = to_lonlat((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let unit_ground_m = t.size_m() / f64::from(EXTENT) * centre_lat.to_radians().cos();
    let mut tags = TagsBuilder::new();
    let mut features = Vec::new();
    for s in index.sectors_in_bbox(Some(bbox), None, None) {
        let area = s.coverage_area(arc_step_deg(s.range_m / unit_ground_m));
        let ring_3857 = |r: &geo::LineString<f64>| {
            r.coords()
                .map(|c| Coord::from(to_3857(c.x, c.y)))
                .collect::<geo::LineString<f64>>()
        };
        let projected: Vec<Polygon<f64>> = area
            .0
            .iter()
            .map(|p| {
                Polygon::new(
                    ring_3857(p.exterior()),
                    p.interiors().iter().map(ring_3857).collect(),
                )
            })
            .collect();
        let projected = MultiPolygon::new(projected);
        let Some(extent) = projected.bounding_rect() else {
            continue;
        };
        let inside = extent.min().x >= clip_rect.min().x
            && extent.min().y >= clip_rect.min().y
            && extent.max().x <= clip_rect.max().x
            && extent.max().y <= clip_rect.max().y;
        // A wedge of at most 180° and every part of a terrain footprint is
        // convex: clipping to a rectangle is exact and far cheaper than a
        // general polygon overlay.
        let convex_parts = s.terrain.is_some() || s.is_omni() || s.beamwidth_deg <= 180.0;
        let geometry = if inside {
            if projected.0.len() == 1 {
                Geometry::Polygon(projected.0[0].clone())
            } else {
                Geometry::MultiPolygon(projected)
            }
        } else if convex_parts {
            let mut parts: Vec<Polygon<f64>> = projected
                .0
                .iter()
                .filter_map(|p| clip_convex(p.exterior(), &clip_rect))
                .map(|ring| Polygon::new(ring, vec![]))
                .collect();
            match parts.len() {
                0 => continue,
                1 => Geometry::Polygon(parts.swap_remove(0)),
                _ => Geometry::MultiPolygon(MultiPolygon::new(parts)),
            }
        } else {
            let clipped: MultiPolygon<f64> = crate::spatial::overlay::clip(&projected, &clip);
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

#[cfg(test)]
mod tests {
    use super::*;
    use geo::BooleanOps;

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
}
