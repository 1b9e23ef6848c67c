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
}

/// The H3 cells at `resolution` whose centres lie inside `area` (lon/lat),
/// sorted by index.
///
/// # Errors
/// [`GridError`] for a bad resolution or polygon.
pub fn cells_in(area: &MultiPolygon<f64>, resolution: u8) -> Result<Vec<CellIndex>, GridError> {
    let res = Resolution::try_from(resolution).map_err(|_| GridError::Resolution(resolution))?;
    if !RESOLUTIONS.contains(&resolution) {
        return Err(GridError::Resolution(resolution));
    }
    let mut tiler = TilerBuilder::new(res)
        .containment_mode(ContainmentMode::ContainsCentroid)
        .build();
    for p in area {
        tiler.add(p.clone()).map_err(GridError::Area)?;
    }
    let mut cells: Vec<CellIndex> = tiler.into_coverage().collect();
    cells.sort_unstable();
    cells.dedup();
    Ok(cells)
}

/// An upper estimate of the number of cells `cells_in` would return.
pub fn estimate_cells(area: &MultiPolygon<f64>, resolution: u8) -> usize {
    let Ok(res) = Resolution::try_from(resolution) else {
        return usize::MAX;
    };
    let area_km2: f64 = {
        use geo::GeodesicArea;
        area.geodesic_area_unsigned() / 1e6
    };
    (area_km2 / res.area_km2() * 1.2) as usize + 16
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
