//! Generalised fibre: the H3 cells a route passes through, shown instead of
//! the route to viewers who may not see its exact geometry.
//!
//! Coordinates are lon/lat degrees (EPSG:4326), x = longitude. A segment is
//! the straight line between its vertices in lon/lat, as GeoJSON and PostGIS
//! `geometry` draw it. Routes that cross the antimeridian are not handled.

use geo::orient::{Direction, Orient};
use geo::{Coord, Geometry, Intersects, Line, MultiPolygon};
use h3o::geom::{ContainmentMode, SolventBuilder, TilerBuilder};
use h3o::{CellIndex, LatLng, Resolution};

/// Resolution of the generalised fibre layer: cells of about 0.74 km²,
/// edges 0.46–0.53 km.
pub const FIBRE_H3_RESOLUTION: Resolution = Resolution::Eight;

/// Largest step, geodesic metres, between the points sampled along a segment
/// at [`FIBRE_H3_RESOLUTION`] to find its candidate cells: far below the
/// cell's inner width (≈ 800 m), so every cell the segment meets is a
/// sampled cell or a neighbour of one. Coarser resolutions scale the step
/// with their edge length.
const SAMPLE_STEP_M: f64 = 50.0;

/// Most points sampled along one route (the cap on a route's work, about
/// 5,000 km of route at [`FIBRE_H3_RESOLUTION`]): a longer route — a
/// submarine cable, or anything stored before routes were bounded — is
/// generalised at the finest coarser resolution whose sampling fits, so a
/// public read costs at most about 100,000 cell look-ups per route.
pub const MAX_ROUTE_SAMPLES: u64 = 100_000;

/// More ground metres than any degree of longitude or latitude spans
/// (a degree of latitude is 111.69 km at the poles): the length of a
/// lon/lat step times this bounds its ground length from above.
const MAX_M_PER_DEG: f64 = 111_700.0;

/// Every cell that `route` passes through at the resolution
/// [`route_resolution`] picks ([`FIBRE_H3_RESOLUTION`] for routes up to
/// about 5,000 km), sorted and without duplicates.
///
/// * LineString, MultiLineString, Line: every cell a segment meets, however
///   short the stretch inside it (each segment is sampled every ≤ 50 m, and
///   the sampled cells' neighbours are kept when their boundary meets the
///   segment).
/// * Point, MultiPoint: the cell of each point.
/// * Polygon, MultiPolygon, Rect, Triangle: the cells covering them (h3o
///   [`ContainmentMode::Covers`]).
/// * GeometryCollection: the union over its members.
///
/// Coordinates that are not finite lon/lat are skipped, and so are polygons
/// h3o refuses; the result never panics and is empty for empty geometry.
///
/// Cost: O(s + c) for s sampled points (at most [`MAX_ROUTE_SAMPLES`] for
/// lines) and c cells: set look-ups, and one boundary test per neighbour
/// of a sampled cell.
pub fn fibre_cells(route: &Geometry<f64>) -> Vec<CellIndex> {
    let res = route_resolution(route);
    let mut cells = Vec::new();
    collect(route, res, &mut cells);
    cells.sort_unstable();
    cells.dedup();
    cells
}

/// The resolution `route` is generalised at: [`FIBRE_H3_RESOLUTION`], or
/// the finest coarser one at which sampling its lines takes at most
/// [`MAX_ROUTE_SAMPLES`] points.
pub fn route_resolution(route: &Geometry<f64>) -> Resolution {
    fn walk(g: &Geometry<f64>, length_m: &mut f64, segments: &mut u64) {
        let mut add = |l: Line<f64>| {
            let d = l.end - l.start;
            let m = d.x.hypot(d.y) * MAX_M_PER_DEG;
            if m.is_finite() {
                *length_m += m;
                *segments += 1;
            }
        };
        match g {
            Geometry::Line(l) => add(*l),
            Geometry::LineString(ls) => ls.lines().for_each(add),
            Geometry::MultiLineString(mls) => {
                mls.iter().flat_map(geo::LineString::lines).for_each(add);
            }
            Geometry::GeometryCollection(gc) => {
                for g in gc {
                    walk(g, length_m, segments);
                }
            }
            // Points and areas are not sampled.
            _ => {}
        }
    }
    let (mut length_m, mut segments) = (0.0, 0u64);
    walk(route, &mut length_m, &mut segments);
    let mut res = FIBRE_H3_RESOLUTION;
    while let Some(coarser) = res.pred() {
        let samples = length_m / sample_step_m(res) + 2.0 * segments as f64;
        if samples <= MAX_ROUTE_SAMPLES as f64 {
            break;
        }
        res = coarser;
    }
    res
}

/// The sampling step at `res`, metres: [`SAMPLE_STEP_M`] scaled by the edge
/// length relative to [`FIBRE_H3_RESOLUTION`].
fn sample_step_m(res: Resolution) -> f64 {
    SAMPLE_STEP_M * res.edge_length_m() / FIBRE_H3_RESOLUTION.edge_length_m()
}

fn collect(g: &Geometry<f64>, res: Resolution, out: &mut Vec<CellIndex>) {
    match g {
        Geometry::Point(p) => out.extend(cell_at(p.0, res)),
        Geometry::MultiPoint(mp) => out.extend(mp.iter().filter_map(|p| cell_at(p.0, res))),
        Geometry::Line(l) => segment_cells(*l, res, out),
        Geometry::LineString(ls) => line_string_cells(ls, res, out),
        Geometry::MultiLineString(mls) => {
            for ls in mls {
                line_string_cells(ls, res, out);
            }
        }
        Geometry::Polygon(p) => polygon_cells(MultiPolygon::new(vec![p.clone()]), res, out),
        Geometry::MultiPolygon(mp) => polygon_cells(mp.clone(), res, out),
        Geometry::Rect(r) => polygon_cells(MultiPolygon::new(vec![r.to_polygon()]), res, out),
        Geometry::Triangle(t) => {
            polygon_cells(MultiPolygon::new(vec![t.to_polygon()]), res, out);
        }
        Geometry::GeometryCollection(gc) => {
            for g in gc {
                collect(g, res, out);
            }
        }
    }
}

/// The cell of a lon/lat position; `None` when it is not a valid position.
fn cell_at(c: Coord<f64>, res: Resolution) -> Option<CellIndex> {
    LatLng::new(c.y, c.x).ok().map(|ll| ll.to_cell(res))
}

fn line_string_cells(ls: &geo::LineString<f64>, res: Resolution, out: &mut Vec<CellIndex>) {
    if let [only] = ls.0.as_slice() {
        out.extend(cell_at(*only, res));
    }
    for line in ls.lines() {
        segment_cells(line, res, out);
    }
}

/// Cells met by one segment: the cells of points sampled every ≤ the
/// sampling step ([`SAMPLE_STEP_M`] at resolution 8; the step bounds the
/// ground length of a lon/lat step from above, anywhere on the globe), plus
/// those of their neighbours whose boundary meets the segment (a segment may
/// clip a cell's corner between two samples). O(samples + cells): the
/// sampled cells are kept in a hash set.
fn segment_cells(line: Line<f64>, res: Resolution, out: &mut Vec<CellIndex>) {
    use std::collections::HashSet;
    let (Some(_), Some(_)) = (cell_at(line.start, res), cell_at(line.end, res)) else {
        return;
    };
    let d = line.end - line.start;
    let length_m = d.x.hypot(d.y) * MAX_M_PER_DEG;
    let steps = (length_m / sample_step_m(res))
        .ceil()
        .clamp(1.0, MAX_ROUTE_SAMPLES as f64) as u32;
    let mut sampled: Vec<CellIndex> = Vec::new();
    let mut seen: HashSet<CellIndex> = HashSet::new();
    for i in 0..=steps {
        let t = f64::from(i) / f64::from(steps);
        if let Some(c) = cell_at(line.start + d * t, res)
            && seen.insert(c)
        {
            sampled.push(c);
        }
    }
    out.extend(sampled.iter().copied());
    let mut tested: HashSet<CellIndex> = HashSet::new();
    for c in &sampled {
        for n in c.grid_disk::<Vec<_>>(1) {
            if !seen.contains(&n) && tested.insert(n) && MultiPolygon::from(n).intersects(&line) {
                out.push(n);
            }
        }
    }
}

fn polygon_cells(mp: MultiPolygon<f64>, res: Resolution, out: &mut Vec<CellIndex>) {
    let mut tiler = TilerBuilder::new(res)
        .containment_mode(ContainmentMode::Covers)
        .build();
    for p in mp {
        if tiler.add(p).is_err() {
            continue;
        }
    }
    out.extend(tiler.into_coverage());
}

/// A route's cells and their outline.
#[derive(Debug, Clone, PartialEq)]
pub struct Generalised {
    /// The cells' resolution ([`route_resolution`]).
    pub resolution: Resolution,
    /// [`fibre_cells`] of the route.
    pub cells: Vec<CellIndex>,
    /// [`cells_outline`] of those cells.
    pub outline: MultiPolygon<f64>,
}

/// Routes kept by [`generalise`]'s memo before it starts afresh.
const MEMO_ROUTES: usize = 4096;

/// [`fibre_cells`] and [`cells_outline`] of `route`, memoised by the route's
/// exact coordinates: the public's fibre layer is read far more often than
/// routes change, and a city route's cells cost about 0.4 ms (a route's
/// work is capped by [`MAX_ROUTE_SAMPLES`]; callers on the async runtime
/// run this on the CPU pool, [`crate::cpu`]). The memo holds at
/// most 4,096 routes (it is cleared when full); a changed route has other
/// coordinates, so it is never served stale.
pub fn generalise(route: &Geometry<f64>) -> std::sync::Arc<Generalised> {
    use geo::CoordsIter;
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex};
    type Memo = Mutex<HashMap<Vec<u64>, Arc<Generalised>>>;
    static MEMO: LazyLock<Memo> = LazyLock::new(|| Mutex::new(HashMap::new()));
    let key: Vec<u64> = std::iter::once(route.coords_count() as u64)
        .chain(
            route
                .coords_iter()
                .flat_map(|c| [c.x.to_bits(), c.y.to_bits()]),
        )
        .collect();
    if let Some(hit) = MEMO.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return hit;
    }
    let resolution = route_resolution(route);
    let cells = fibre_cells(route);
    let outline = cells_outline(&cells);
    let value = Arc::new(Generalised {
        resolution,
        cells,
        outline,
    });
    if let Ok(mut m) = MEMO.lock() {
        if m.len() >= MEMO_ROUTES {
            m.clear();
        }
        m.insert(key, value.clone());
    }
    value
}

/// The outline of `cells`: their boundaries dissolved into one MultiPolygon
/// (shared edges removed, holes kept), lon/lat degrees, rings oriented per
/// RFC 7946 (exteriors counter-clockwise, holes clockwise).
///
/// Duplicates are ignored. Cells may mix resolutions; a cell whose ancestor
/// is also given adds nothing. Empty input gives an empty MultiPolygon.
pub fn cells_outline(cells: &[CellIndex]) -> MultiPolygon<f64> {
    let mut cells = cells.to_vec();
    cells.sort_unstable();
    cells.dedup();
    let Some(finest) = cells.iter().map(|c| c.resolution()).max() else {
        return MultiPolygon::new(vec![]);
    };
    let homogeneous = cells.iter().all(|c| c.resolution() == finest);
    let dissolved = if homogeneous {
        SolventBuilder::new().build().dissolve(cells)
    } else {
        // Drop cells inside a coarser cell of the set: the heterogeneous
        // solvent refuses them as duplicates.
        let set: std::collections::HashSet<CellIndex> = cells.iter().copied().collect();
        let outer = cells.iter().copied().filter(|c| {
            Resolution::range(Resolution::Zero, c.resolution())
                .filter(|r| *r != c.resolution())
                .all(|r| c.parent(r).is_none_or(|p| !set.contains(&p)))
        });
        SolventBuilder::new()
            .enable_heterogeneous_support(finest)
            .build()
            .dissolve(outer)
    };
    // Unique cells of resolution ≤ `finest` are all the solvent requires.
    dissolved
        .unwrap_or_else(|_| MultiPolygon::new(vec![]))
        .orient(Direction::Default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::region::CITY_CORE_BBOX;
    use crate::spatial::geodesy::metres_per_degree;
    use geo::{
        Contains, CoordsIter, Distance, Haversine, LineString, MultiLineString, Point, Relate,
        Winding, polygon,
    };
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeSet;

    /// Seeded random routes in Đà Nẵng: 1–4 parts of 2–9 vertices, steps of
    /// 5 m to 3 km in random directions (so some segments clip cell corners).
    fn random_routes(seed: u64, count: usize) -> Vec<Geometry<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let [w, s, e, n] = CITY_CORE_BBOX;
        (0..count)
            .map(|_| {
                let parts = (0..rng.gen_range(1..=4))
                    .map(|_| {
                        let mut c = Coord {
                            x: rng.gen_range(w..e),
                            y: rng.gen_range(s..n),
                        };
                        let mut pts = vec![c];
                        for _ in 1..rng.gen_range(2..=9) {
                            let step_m = if rng.gen_bool(0.2) {
                                rng.gen_range(5.0..60.0)
                            } else {
                                rng.gen_range(60.0..3_000.0)
                            };
                            let bearing: f64 = rng.gen_range(0.0..std::f64::consts::TAU);
                            let (kx, ky) = metres_per_degree(c.y);
                            c = Coord {
                                x: (c.x + step_m * bearing.sin() / kx).clamp(w, e),
                                y: (c.y + step_m * bearing.cos() / ky).clamp(s, n),
                            };
                            pts.push(c);
                        }
                        LineString::new(pts)
                    })
                    .collect::<Vec<_>>();
                match <[LineString<f64>; 1]>::try_from(parts) {
                    Ok([one]) => Geometry::LineString(one),
                    Err(parts) => Geometry::MultiLineString(MultiLineString::new(parts)),
                }
            })
            .collect()
    }

    fn lines(route: &Geometry<f64>) -> Vec<Line<f64>> {
        match route {
            Geometry::LineString(ls) => ls.lines().collect(),
            Geometry::MultiLineString(mls) => mls.iter().flat_map(geo::LineString::lines).collect(),
            Geometry::Line(l) => vec![*l],
            _ => unreachable!("test routes are lines"),
        }
    }

    /// Points along `route` every ≤ `step_m` metres, vertices included.
    fn densified(route: &Geometry<f64>, step_m: f64) -> Vec<Coord<f64>> {
        lines(route)
            .into_iter()
            .flat_map(|l| {
                let n = (Haversine.distance(Point(l.start), Point(l.end)) / step_m)
                    .ceil()
                    .max(1.0) as u32;
                (0..=n).map(move |i| l.start + (l.end - l.start) * (f64::from(i) / f64::from(n)))
            })
            .collect()
    }

    /// Brute force: the cells of points every 1 m along the route.
    fn oracle(route: &Geometry<f64>) -> BTreeSet<CellIndex> {
        densified(route, 1.0)
            .into_iter()
            .filter_map(|c| cell_at(c, FIBRE_H3_RESOLUTION))
            .collect()
    }

    #[test]
    fn no_cell_a_route_passes_through_is_missed() {
        let mut checked = 0;
        for route in random_routes(8, 150) {
            let got: BTreeSet<CellIndex> = fibre_cells(&route).into_iter().collect();
            let expected = oracle(&route);
            let missed: Vec<_> = expected.difference(&got).collect();
            assert!(missed.is_empty(), "missed {missed:?} of {route:?}");
            checked += expected.len();
        }
        assert!(checked > 1_000, "only {checked} cells checked");
    }

    #[test]
    fn every_cell_returned_is_met_by_the_route_or_next_to_a_cell_that_is() {
        for route in random_routes(9, 60) {
            let expected = oracle(&route);
            let segments = lines(&route);
            for c in fibre_cells(&route) {
                let near = expected
                    .iter()
                    .any(|o| o.grid_distance(c).is_ok_and(|d| d <= 1));
                assert!(near, "{c} is far from {route:?}");
                let outline = MultiPolygon::from(c);
                assert!(
                    segments.iter().any(|l| outline.intersects(l)),
                    "{c} does not meet {route:?}"
                );
            }
        }
    }

    #[test]
    fn a_segment_clipping_a_cell_corner_keeps_that_cell() {
        // Cut the corner of a cell 10 m from one of its vertices: the
        // segment is inside the cell for ~15 m only, less than a sampling step.
        let cell = cell_at(
            Coord {
                x: 108.2208,
                y: 16.0678,
            },
            FIBRE_H3_RESOLUTION,
        )
        .unwrap();
        let ring: Vec<Coord<f64>> = cell
            .boundary()
            .iter()
            .map(|ll| Coord {
                x: ll.lng(),
                y: ll.lat(),
            })
            .collect();
        let (prev, v, next) = (ring[ring.len() - 1], ring[0], ring[1]);
        let towards = |to: Coord<f64>, m: f64| {
            let d = Haversine.distance(Point(v), Point(to));
            v + (to - v) * (m / d)
        };
        let (a, b) = (towards(prev, 10.0), towards(next, 10.0));
        // Extend a–b by 400 m on each side, out of the cell.
        let ab_m = Haversine.distance(Point(a), Point(b));
        let route = Geometry::Line(Line::new(
            a - (b - a) * (400.0 / ab_m),
            b + (b - a) * (400.0 / ab_m),
        ));
        assert!(fibre_cells(&route).contains(&cell));
        assert!(oracle(&route).contains(&cell));
    }

    #[test]
    fn the_cells_are_sorted_unique_of_resolution_8_and_the_same_every_time() {
        for route in random_routes(10, 20) {
            let a = fibre_cells(&route);
            assert!(a.windows(2).all(|w| w[0] < w[1]));
            assert!(a.iter().all(|c| c.resolution() == FIBRE_H3_RESOLUTION));
            assert_eq!(a, fibre_cells(&route));
            assert_eq!(
                a,
                fibre_cells(&Geometry::GeometryCollection(
                    vec![route.clone(), route].into()
                ))
            );
        }
    }

    #[test]
    fn the_outline_contains_every_point_of_the_route() {
        for route in random_routes(11, 40) {
            let outline = cells_outline(&fibre_cells(&route));
            for p in densified(&route, 10.0) {
                assert!(outline.intersects(&p), "{p:?} outside the outline");
            }
        }
    }

    #[test]
    fn the_outline_has_the_cells_area_and_rfc_7946_rings() {
        use geo::GeodesicArea;
        for route in random_routes(12, 20) {
            let cells = fibre_cells(&route);
            let outline = cells_outline(&cells);
            for p in &outline {
                assert!(p.exterior().is_ccw());
                assert!(p.interiors().iter().all(geo::Winding::is_cw));
            }
            let separate: f64 = cells
                .iter()
                .map(|c| MultiPolygon::from(*c).geodesic_area_unsigned())
                .sum();
            let dissolved = outline.geodesic_area_unsigned();
            assert!(
                (dissolved - separate).abs() < 1e-6 * separate,
                "{dissolved} vs {separate}"
            );
            // Every cell's centre is inside the outline.
            for c in &cells {
                let ll = LatLng::from(*c);
                assert!(outline.contains(&Point::new(ll.lng(), ll.lat())));
            }
        }
    }

    #[test]
    fn outlines_of_nothing_duplicates_and_mixed_resolutions() {
        assert!(cells_outline(&[]).0.is_empty());
        let c = cell_at(
            Coord {
                x: 108.2208,
                y: 16.0678,
            },
            FIBRE_H3_RESOLUTION,
        )
        .unwrap();
        assert_eq!(cells_outline(&[c, c]), cells_outline(&[c]));
        // A coarser cell stands for its children (an H3 parent is not
        // exactly their union); a child given with its parent adds nothing.
        let parent = c.parent(Resolution::Seven).unwrap();
        let children: Vec<CellIndex> = parent.children(FIBRE_H3_RESOLUTION).collect();
        let mixed = cells_outline(&[c, parent]);
        assert!(mixed.relate(&cells_outline(&children)).is_equal_topo());
        assert_eq!(mixed.0.len(), 1);
    }

    #[test]
    fn points_and_polygons_map_to_their_cells() {
        let p = Coord {
            x: 108.2208,
            y: 16.0678,
        };
        assert_eq!(
            fibre_cells(&Geometry::Point(Point(p))),
            vec![cell_at(p, FIBRE_H3_RESOLUTION).unwrap()]
        );
        // A 2 km square: every cell covering it, which includes the cells of
        // its corners and centre.
        let sq = polygon![(x: 108.20, y: 16.05), (x: 108.22, y: 16.05), (x: 108.22, y: 16.07), (x: 108.20, y: 16.07)];
        let cells = fibre_cells(&Geometry::Polygon(sq.clone()));
        for corner in sq.exterior().coords().chain([&p]) {
            assert!(cells.contains(&cell_at(*corner, FIBRE_H3_RESOLUTION).unwrap()));
        }
        assert!(cells_outline(&cells).contains(&sq));
        // Not valid lon/lat: nothing, and no panic.
        assert!(fibre_cells(&Geometry::Point(Point::new(f64::NAN, 16.0))).is_empty());
    }

    #[test]
    fn the_memo_answers_what_computing_afresh_answers_and_sees_a_moved_route() {
        use geo::line_string;
        let a: Geometry<f64> = line_string![(x: 108.20, y: 16.05), (x: 108.23, y: 16.07)].into();
        let b: Geometry<f64> = line_string![(x: 108.20, y: 16.05), (x: 108.23, y: 16.08)].into();
        for route in [&a, &b, &a] {
            let g = generalise(route);
            assert_eq!(g.cells, fibre_cells(route));
            assert_eq!(g.outline, cells_outline(&g.cells));
        }
        assert_ne!(generalise(&a).cells, generalise(&b).cells);
    }

    #[test]
    fn a_route_spanning_the_globe_is_generalised_coarser_within_its_cap() {
        use geo::line_string;
        let globe: Geometry<f64> =
            line_string![(x: -179.9, y: -60.0), (x: 0.0, y: 10.0), (x: 179.9, y: 60.0)].into();
        let res = route_resolution(&globe);
        assert!(res < FIBRE_H3_RESOLUTION, "{res:?}");
        let g = generalise(&globe);
        assert_eq!(g.resolution, res);
        assert!(g.cells.iter().all(|c| c.resolution() == res));
        // Bounded: the samples fit the cap, so the cells do too (each
        // sampled cell adds at most its 6 neighbours).
        assert!(
            g.cells.len() as u64 <= 7 * MAX_ROUTE_SAMPLES,
            "{}",
            g.cells.len()
        );
        // Every vertex is in a cell of the answer.
        for c in globe.coords_iter() {
            assert!(g.cells.contains(&cell_at(c, res).unwrap()));
        }
        // A city route keeps resolution 8.
        let city: Geometry<f64> = line_string![(x: 108.20, y: 16.05), (x: 108.23, y: 16.07)].into();
        assert_eq!(route_resolution(&city), FIBRE_H3_RESOLUTION);
    }
}
