//! Per-district indicators computed from the coverage index on an H3 grid.
//!
//! A district is tiled with the H3 cells (at the configured resolution) whose
//! centres lie inside it. Each cell stands for its own area (`area_km2` of the
//! cell) and for a share of the district's population given by a
//! [`PopulationModel`]. A cell is covered by an operator when one of the
//! operator's sectors covers the cell's centre (the coverage engine's rule),
//! and within fibre reach when its centre lies within `fibre_reach_m` of an
//! operational fibre route (distance measured in the index frame, whose
//! distortion over Đà Nẵng is under 0.1 %, i.e. under 0.5 m at 500 m).

use std::collections::HashMap;

use h3o::{CellIndex, LatLng, Resolution};
use rstar::PointDistance;
use serde::Serialize;

use super::grid;
use crate::coverage::index::{Area, CoverageIndex};
use crate::domain::tower::Technology;

/// How a district's population is spread over its cells.
pub trait PopulationModel: Send + Sync {
    /// The population of each of `cells` (same order; `cell_km2` their
    /// areas), for a district of `population` residents; the weights should
    /// add up to `population`.
    fn weights(
        &self,
        area: &Area,
        population: f64,
        cells: &[CellIndex],
        cell_km2: &[f64],
    ) -> Vec<f64>;
}

/// Population spread uniformly over the district's area (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct UniformPopulation;

impl PopulationModel for UniformPopulation {
    fn weights(
        &self,
        _area: &Area,
        population: f64,
        cells: &[CellIndex],
        cell_km2: &[f64],
    ) -> Vec<f64> {
        let total: f64 = cell_km2.iter().sum();
        if total <= 0.0 {
            return vec![0.0; cells.len()];
        }
        cell_km2.iter().map(|a| population * a / total).collect()
    }
}

/// Population from points (e.g. a census grid's centroids or a raster's
/// pixel centres): each point's population goes to the cell containing it,
/// then the cells' shares are scaled to the district's total. A district with
/// no points falls back to the uniform model.
#[derive(Debug, Clone, Default)]
pub struct PointPopulation {
    /// `(lon, lat, population)` points.
    pub points: Vec<(f64, f64, f64)>,
}

impl PopulationModel for PointPopulation {
    fn weights(
        &self,
        area: &Area,
        population: f64,
        cells: &[CellIndex],
        cell_km2: &[f64],
    ) -> Vec<f64> {
        let Some(res) = cells.first().map(|c| c.resolution()) else {
            return Vec::new();
        };
        let mut per_cell: HashMap<CellIndex, f64> = HashMap::new();
        for (lon, lat, pop) in &self.points {
            if let Ok(ll) = LatLng::new(*lat, *lon) {
                *per_cell.entry(ll.to_cell(res)).or_default() += pop;
            }
        }
        let raw: Vec<f64> = cells
            .iter()
            .map(|c| per_cell.get(c).copied().unwrap_or(0.0))
            .collect();
        let total: f64 = raw.iter().sum();
        if total <= 0.0 {
            return UniformPopulation.weights(area, population, cells, cell_km2);
        }
        raw.into_iter().map(|w| population * w / total).collect()
    }
}

/// What to compute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalysisParams {
    /// Technology whose coverage is measured.
    pub technology: Technology,
    /// H3 resolution of the grid (7–11).
    pub resolution: u8,
    /// Distance from a fibre route that counts as reached, metres.
    pub fibre_reach_m: f64,
}

/// Coverage and infrastructure indicators of one district (units in names).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct CoverageIndicators {
    /// H3 cells in the district.
    pub cells: usize,
    /// Operators with sectors of the technology anywhere ("all operators").
    pub operators_total: usize,
    /// Area covered by at least one operator, %.
    pub area_coverage_any_pct: f64,
    /// Area covered by every operator, %.
    pub area_coverage_all_pct: f64,
    /// Area covered by no operator (not-spots), %.
    pub not_spot_area_pct: f64,
    /// Population covered by at least one operator, %.
    pub pop_coverage_any_pct: f64,
    /// Population covered by every operator, %.
    pub pop_coverage_all_pct: f64,
    /// Population in not-spots, %.
    pub not_spot_pop_pct: f64,
    /// Area within the fibre reach distance of an operational route, %.
    pub fibre_reach_area_pct: f64,
    /// Population within the fibre reach distance, %.
    pub fibre_reach_pop_pct: f64,
    /// Population-weighted centre, `[lon, lat]`.
    pub pop_centre: [f64; 2],
    /// Geodesic distance from the population-weighted centre to the nearest
    /// operational data centre, km (`None` when there is none).
    pub nearest_data_centre_km: Option<f64>,
    /// `terrain` when the coverage model sees the DEM and land use, else
    /// `flat`.
    pub coverage_model: &'static str,
    /// Share of the district's area (its cells' centres) that the DEM
    /// covers, %: where coverage is terrain-aware (0 with the flat model).
    pub dem_area_pct: f64,
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        (100.0 * part / whole * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

/// Computes the coverage and fibre indicators of `area` with `population`
/// residents.
///
/// # Errors
/// When the area cannot be tiled (invalid polygon or resolution).
pub fn coverage_indicators(
    index: &CoverageIndex,
    area: &Area,
    population: f64,
    params: &AnalysisParams,
    pop_model: &dyn PopulationModel,
) -> Result<CoverageIndicators, grid::GridError> {
    let g = index
        .area_grids
        .get(&area.code, &area.geometry, params.resolution)?;
    let (cells, centres, areas) = (&g.cells, &g.centres, &g.cell_km2);
    let pops = pop_model.weights(area, population, cells, areas);
    let masks = index.operators_covering_batch(centres, Some(params.technology), 1);
    let all_ops = index.operators_with(Some(params.technology));
    let all_mask: u128 = all_ops.iter().fold(0, |m, o| m | (1u128 << o));
    let (mut a_tot, mut a_any, mut a_all, mut p_tot, mut p_any, mut p_all) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut a_fibre, mut p_fibre) = (0.0, 0.0);
    let (mut cx, mut cy) = (0.0, 0.0);
    let mut a_dem = 0.0;
    let dem = index.terrain.as_ref().map(|t| &t.dem);
    let reach2 = params.fibre_reach_m * params.fibre_reach_m;
    for i in 0..cells.len() {
        let (a, p, m) = (areas[i], pops[i], masks[i]);
        a_tot += a;
        p_tot += p;
        cx += p * centres[i][0];
        cy += p * centres[i][1];
        if dem.is_some_and(|d| d.elevation_m(centres[i][0], centres[i][1]).is_some()) {
            a_dem += a;
        }
        if m != 0 {
            a_any += a;
            p_any += p;
        }
        if all_mask != 0 && m & all_mask == all_mask {
            a_all += a;
            p_all += p;
        }
        let fp = index.frame.fwd(centres[i][0], centres[i][1]);
        if index
            .fibre
            .locate_within_distance(fp, reach2)
            .any(|s| s.geom().distance_2(&fp) <= reach2)
        {
            a_fibre += a;
            p_fibre += p;
        }
    }
    let pop_centre = if p_tot > 0.0 {
        [cx / p_tot, cy / p_tot]
    } else {
        let n = centres.len().max(1) as f64;
        [
            centres.iter().map(|c| c[0]).sum::<f64>() / n,
            centres.iter().map(|c| c[1]).sum::<f64>() / n,
        ]
    };
    let nearest_data_centre_km =
        nearest_data_centre_m(index, pop_centre).map(|m| (m / 10.0).round() / 100.0);
    Ok(CoverageIndicators {
        cells: cells.len(),
        operators_total: all_ops.len(),
        coverage_model: if index.terrain.is_some() {
            "terrain"
        } else {
            "flat"
        },
        dem_area_pct: pct(a_dem, a_tot),
        area_coverage_any_pct: pct(a_any, a_tot),
        area_coverage_all_pct: pct(a_all, a_tot),
        not_spot_area_pct: pct(a_tot - a_any, a_tot),
        pop_coverage_any_pct: pct(p_any, p_tot),
        pop_coverage_all_pct: pct(p_all, p_tot),
        not_spot_pop_pct: pct(p_tot - p_any, p_tot),
        fibre_reach_area_pct: pct(a_fibre, a_tot),
        fibre_reach_pop_pct: pct(p_fibre, p_tot),
        pop_centre,
        nearest_data_centre_km,
    })
}

/// Geodesic distance (metres) from `[lon, lat]` to the nearest operational
/// data centre: the frame's five nearest candidates, measured on the ellipsoid.
pub fn nearest_data_centre_m(index: &CoverageIndex, at: [f64; 2]) -> Option<f64> {
    let p = index.frame.fwd(at[0], at[1]);
    let frame_best = index.data_centres.nearest_neighbor_iter(p).next()?;
    let limit = frame_best.geom().distance_2(&p).sqrt() * (1.0 + 4.0 * index.frame.rel_error) + 2.0;
    let inv = |q: [f64; 2]| index.frame.inv(q);
    index
        .data_centres
        .nearest_neighbor_iter(p)
        .take_while(|d| d.geom().distance_2(&p).sqrt() <= limit)
        .map(|d| {
            let [lon, lat] = inv(*d.geom());
            super::geodesy::geodesic((at[0], at[1]), (lon, lat)).0
        })
        .min_by(f64::total_cmp)
}

/// Checks that a resolution is accepted.
pub fn resolution_ok(r: u8) -> bool {
    grid::RESOLUTIONS.contains(&r) && Resolution::try_from(r).is_ok()
}
