//! H3 hexagonal grids over analysis areas (h3o).

use geo::{LineString, MultiPolygon, Polygon};
use h3o::geom::{ContainmentMode, TilerBuilder};
use h3o::{CellIndex, LatLng, Resolution};

/// Resolutions accepted for gap grids (7: ~5 km², 11: ~2,100 m²).
pub const RESOLUTIONS: std::ops::RangeInclusive<u8> = 7..=11;

/// Errors building a grid.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// Resolution outside [`RESOLUTIONS`].
    #[error("resolution {0} is outside 7–11")]
    Resolution(u8),
    /// The area is not a valid polygon for H3.
    #[error("the area is not a valid polygon for the H3 grid")]
    Area(#[source] h3o::error::InvalidGeometry),
    /// More cells than the caller's bound.
    #[error("more than {max} cells")]
    TooMany {
        /// The bound.
        max: usize,
    },
}

/// The H3 cells at `resolution` whose centres lie inside `area` (lon/lat),
/// sorted by index.
///
/// # Errors
/// [`GridError`] for a bad resolution or polygon.
pub fn cells_in(area: &MultiPolygon<f64>, resolution: u8) -> Result<Vec<CellIndex>, GridError> {
    cells_in_at_most(area, resolution, usize::MAX)
}

/// [`cells_in`], stopping as soon as more than `max_cells` cells are found:
/// the tiler streams its cells (it holds the outline and two rings of the
/// inward fill), so no more than about `max_cells` are ever built.
///
/// The area is tiled as the planar lon/lat region it is (h3o's
/// antimeridian heuristic off, edges split into steps of at most
/// [`MAX_EDGE_DEG`] so that h3o's outline tracing, which samples an edge by
/// its great-circle length, follows long edges near the poles).
///
/// # Errors
/// [`GridError::TooMany`] past `max_cells`; as [`cells_in`] otherwise.
pub fn cells_in_at_most(
    area: &MultiPolygon<f64>,
    resolution: u8,
    max_cells: usize,
) -> Result<Vec<CellIndex>, GridError> {
    let res = Resolution::try_from(resolution).map_err(|_| GridError::Resolution(resolution))?;
    if !RESOLUTIONS.contains(&resolution) {
        return Err(GridError::Resolution(resolution));
    }
    let mut tiler = TilerBuilder::new(res)
        .containment_mode(ContainmentMode::ContainsCentroid)
        .disable_transmeridian_heuristic()
        .build();
    for p in area {
        tiler.add(densified(p)).map_err(GridError::Area)?;
    }
    let mut cells: Vec<CellIndex> = Vec::new();
    for c in tiler.into_coverage() {
        if cells.len() >= max_cells {
            return Err(GridError::TooMany { max: max_cells });
        }
        cells.push(c);
    }
    cells.sort_unstable();
    cells.dedup();
    Ok(cells)
}

/// Longest edge, degrees of longitude or latitude, of an area given to the
/// tiler ([`cells_in_at_most`] splits longer ones).
pub const MAX_EDGE_DEG: f64 = 0.5;

/// `p` with every edge split into steps of at most [`MAX_EDGE_DEG`] in
/// longitude and latitude (the same planar region).
fn densified(p: &Polygon<f64>) -> Polygon<f64> {
    let ring = |r: &LineString<f64>| {
        let mut out = Vec::with_capacity(r.0.len());
        for l in r.lines() {
            let span = (l.end.x - l.start.x).abs().max((l.end.y - l.start.y).abs());
            let steps = (span / MAX_EDGE_DEG).ceil().clamp(1.0, 1e6) as u32;
            for i in 0..steps {
                let t = f64::from(i) / f64::from(steps);
                out.push(l.start + (l.end - l.start) * t);
            }
        }
        if let Some(last) = r.0.last() {
            out.push(*last);
        }
        LineString::new(out)
    };
    Polygon::new(ring(p.exterior()), p.interiors().iter().map(ring).collect())
}

/// Mean radius of the Earth used by H3, km.
const EARTH_RADIUS_KM: f64 = 6_371.007_180_918_475;

/// An upper bound on the number of cells [`cells_in`] returns for `area` at
/// `resolution`, computed in O(vertices) before any cell is built.
///
/// The cells counted have their centres in the planar lon/lat region of
/// `area` (what the tiler tiles), so each lies within one cell radius r of
/// it, and they do not overlap: their number is at most the area of the
/// region grown by r, divided by the smallest cell's area. The region's
/// area on the sphere is exact (∮ −sin φ dλ along its straight lon/lat
/// edges, holes not subtracted); growing it by r adds at most 2·r·L + π·r²
/// per ring for a boundary of ground length L (bounded per edge by its
/// lon/lat extent at its widest latitude). r is twice the resolution's mean
/// edge length (a hexagon's circumradius is its edge); the smallest cell is
/// taken as 80% of the smallest pentagon (pentagons are the smallest cells
/// of a resolution, as in H3's own estimator). Off by a factor of about 3
/// for compact areas, never below the count.
pub fn max_cells(area: &MultiPolygon<f64>, resolution: u8) -> usize {
    let Ok(res) = Resolution::try_from(resolution) else {
        return usize::MAX;
    };
    let r_km = 2.0 * res.edge_length_km();
    let min_cell_km2 = 0.8
        * res
            .pentagons()
            .map(CellIndex::area_km2)
            .fold(f64::INFINITY, f64::min);
    let mut grown_km2 = 0.0;
    for p in area {
        grown_km2 += ring_area_km2(p.exterior());
        for r in std::iter::once(p.exterior()).chain(p.interiors()) {
            grown_km2 += 2.0 * r_km * ring_length_bound_km(r) + std::f64::consts::PI * r_km * r_km;
        }
    }
    let n = (grown_km2 / min_cell_km2).ceil();
    if n.is_finite() && n < usize::MAX as f64 {
        n as usize
    } else {
        usize::MAX
    }
}

/// Area on the sphere of the planar lon/lat region a ring bounds, km²:
/// ∮ −sin φ dλ, integrated exactly along each straight lon/lat edge.
fn ring_area_km2(r: &LineString<f64>) -> f64 {
    let mut sum = 0.0;
    for l in r.lines() {
        let (l0, p0) = (l.start.x.to_radians(), l.start.y.to_radians());
        let (l1, p1) = (l.end.x.to_radians(), l.end.y.to_radians());
        let half = (p1 - p0) / 2.0;
        let sinc = if half.abs() < 1e-12 {
            1.0
        } else {
            half.sin() / half
        };
        sum += -(l1 - l0) * ((p0 + p1) / 2.0).sin() * sinc;
    }
    sum.abs() * EARTH_RADIUS_KM * EARTH_RADIUS_KM
}

/// A bound on the ground length of a ring of straight lon/lat edges, km.
fn ring_length_bound_km(r: &LineString<f64>) -> f64 {
    r.lines()
        .map(|l| {
            let dlat = (l.end.y - l.start.y).to_radians();
            let widest = if l.start.y.signum() == l.end.y.signum() {
                l.start.y.abs().min(l.end.y.abs()).to_radians().cos()
            } else {
                1.0
            };
            let dlon = (l.end.x - l.start.x).to_radians() * widest;
            EARTH_RADIUS_KM * dlat.hypot(dlon)
        })
        .sum()
}

/// A lon/lat box as a polygon.
pub fn bbox_polygon(w: f64, s: f64, e: f64, n: f64) -> MultiPolygon<f64> {
    MultiPolygon::new(vec![Polygon::new(
        LineString::from(vec![(w, s), (e, s), (e, n), (w, n), (w, s)]),
        vec![],
    )])
}

/// The centre of a cell, `[lon, lat]`.
pub fn centre(cell: CellIndex) -> [f64; 2] {
    let ll = LatLng::from(cell);
    [ll.lng(), ll.lat()]
}

/// The boundary of a cell as a closed lon/lat polygon (counter-clockwise).
pub fn boundary(cell: CellIndex) -> Polygon<f64> {
    let mut coords: Vec<(f64, f64)> = cell
        .boundary()
        .iter()
        .map(|ll| (ll.lng(), ll.lat()))
        .collect();
    if let Some(first) = coords.first().copied() {
        coords.push(first);
    }
    let mut p = Polygon::new(LineString::from(coords), vec![]);
    use geo::orient::{Direction, Orient};
    p = p.orient(Direction::Default);
    p
}

/// The cells of an area at a resolution, with each cell's area in km².
#[derive(Debug, Clone, PartialEq)]
pub struct AreaGrid {
    /// Cells whose centres lie in the area, sorted.
    pub cells: Vec<CellIndex>,
    /// Area of each cell, km² (same order).
    pub cell_km2: Vec<f64>,
    /// Centre of each cell, `[lon, lat]` (same order).
    pub centres: Vec<[f64; 2]>,
}

/// A memo of area tilings keyed by (area code, resolution). Tiling a
/// detailed district polygon is the costliest step of an analysis, and the
/// areas change rarely: a new set of areas gets a new, empty cache.
#[derive(Debug, Default)]
pub struct GridCache {
    grids: std::sync::Mutex<std::collections::HashMap<(String, u8), std::sync::Arc<AreaGrid>>>,
}

impl GridCache {
    /// The tiling of `area` (named `code`) at `resolution`, computed once.
    ///
    /// # Errors
    /// As [`cells_in`].
    pub fn get(
        &self,
        code: &str,
        area: &MultiPolygon<f64>,
        resolution: u8,
    ) -> Result<std::sync::Arc<AreaGrid>, GridError> {
        let key = (code.to_owned(), resolution);
        if let Some(g) = self
            .grids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Ok(g.clone());
        }
        let cells = cells_in(area, resolution)?;
        let grid = std::sync::Arc::new(AreaGrid {
            cell_km2: cells.iter().map(|c| c.area_km2()).collect(),
            centres: cells.iter().map(|c| centre(*c)).collect(),
            cells,
        });
        self.grids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, grid.clone());
        Ok(grid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn the_bound_is_never_below_the_count_of_cells_tiled() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        // Boxes from the equator to near the poles, and whole polar rings
        // (the planar box h3o tiles, not the geodesic polygon).
        let mut boxes: Vec<(u8, MultiPolygon<f64>)> = vec![
            (7, bbox_polygon(-180.0, 88.0, 180.0, 89.0)),
            (7, bbox_polygon(-180.0, -89.5, 180.0, -88.5)),
        ];
        for _ in 0..80 {
            let lat0: f64 = rng.gen_range(-85.0..84.0);
            let w: f64 = rng.gen_range(-180.0..170.0);
            let dlon: f64 = rng.gen_range(0.001..(180.0 - w).min(3.0));
            let dlat: f64 = rng.gen_range(0.001..(89.0 - lat0).min(1.0));
            boxes.push((
                rng.gen_range(7..=9),
                bbox_polygon(w, lat0, w + dlon, lat0 + dlat),
            ));
        }
        let mut checked = 0;
        for (res, area) in boxes {
            let bound = max_cells(&area, res);
            // Keep the test quick: ~100,000 cells at most.
            if bound > 300_000 {
                continue;
            }
            let n = cells_in(&area, res).unwrap().len();
            assert!(bound >= n, "{bound} < {n} at res {res} for {area:?}");
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} boxes checked");
    }

    #[test]
    fn a_wide_box_near_the_pole_is_bounded_by_its_planar_area() {
        // The box's geodesic area is nearly nothing (its long edges are
        // geodesics of length 0), but the tiler fills the lon/lat box.
        let area = bbox_polygon(-180.0, 80.0, 180.0, 89.0);
        let planar_km2 = 2.0
            * std::f64::consts::PI
            * EARTH_RADIUS_KM.powi(2)
            * (89f64.to_radians().sin() - 80f64.to_radians().sin());
        assert!((ring_area_km2(area.0[0].exterior()) - planar_km2).abs() < 1e-6 * planar_km2);
        for res in 9..=11 {
            let mean = planar_km2 / Resolution::try_from(res).unwrap().area_km2();
            assert!(max_cells(&area, res) as f64 > mean);
        }
    }

    #[test]
    fn tiling_stops_one_cell_past_its_limit() {
        let area = bbox_polygon(108.0, 16.0, 108.3, 16.2);
        let all = cells_in(&area, 9).unwrap();
        assert!(all.len() > 1_000);
        assert!(matches!(
            cells_in_at_most(&area, 9, 1_000),
            Err(GridError::TooMany { max: 1_000 })
        ));
        assert_eq!(cells_in_at_most(&area, 9, all.len()).unwrap(), all);
    }

    #[test]
    fn a_box_wider_than_half_the_globe_is_tiled_as_the_box() {
        // With h3o's antimeridian heuristic this box would be read as its
        // complement; without edge splitting its long edges would leak.
        let area = bbox_polygon(-170.0, 10.0, 170.0, 10.2);
        let cells = cells_in(&area, 7).unwrap_or_else(|e| panic!("{e}"));
        assert!(cells.len() <= max_cells(&area, 7));
        for c in cells.iter().step_by(97) {
            let [lon, lat] = centre(*c);
            assert!((-170.0..=170.0).contains(&lon) && (10.0..=10.2).contains(&lat));
        }
    }
}
