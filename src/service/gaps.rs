//! The coverage gap grid: the H3 cells of an area with the operators whose
//! sectors cover each cell's centre (`GET /coverage/gaps`).
//!
//! The size guard holds before any cell is built: [`grid::max_cells`]
//! bounds the count for the region the tiler really tiles (the planar
//! lon/lat box or district), and the tiling itself stops one cell past
//! [`MAX_GAP_CELLS`]. The grid, the coverage test of every centre and the
//! GeoJSON are computed on the CPU pool ([`crate::cpu`]) and stop when the
//! request ends.

use std::sync::Arc;

use serde_json::json;

use super::error::{ServiceError, ServiceResult};
use super::render::geojson_geometry;
use crate::coverage::index::CoverageIndex;
use crate::cpu::{self, Cancel};
use crate::db::Bbox;
use crate::domain::tower::Technology;
use crate::spatial::grid;

/// Most H3 cells in one gap answer.
pub const MAX_GAP_CELLS: usize = 250_000;

/// The largest upper bound ([`grid::max_cells`]) of an area's cells for
/// which the grid is built at all: the bound is about 3 times the count
/// for compact areas, so areas near [`MAX_GAP_CELLS`] pass and the tiling
/// then stops at its limit.
pub const MAX_GAP_CELLS_BOUND: usize = 4 * MAX_GAP_CELLS;

/// Cells between two cancellation checks.
const CHECK_EVERY: usize = 4_096;

/// The area of a gap grid.
#[derive(Debug, Clone)]
pub enum GapArea {
    /// One district, by code.
    District(String),
    /// A lon/lat box.
    Bbox(Bbox),
    /// Every district.
    AllDistricts,
}

/// A gap grid request.
#[derive(Debug, Clone)]
pub struct GapQuery {
    /// Technology of the coverage.
    pub technology: Technology,
    /// H3 resolution ([`grid::RESOLUTIONS`]).
    pub resolution: u8,
    /// Keep only cells covered by fewer than this many operators.
    pub max_operators: Option<u32>,
    /// Where.
    pub area: GapArea,
}

/// The gap grid of `q` over `index` as a GeoJSON FeatureCollection (bytes):
/// hexagons with `h3`, `operators` and `operator_ids`, and the counts of
/// cells, not-spots and partial not-spots.
///
/// # Errors
/// [`ServiceError::BadOption`] naming `resolution` when the area has (or
/// may have) more than [`MAX_GAP_CELLS`] cells, naming `bbox` for a box
/// the tiler refuses; [`ServiceError::NotFound`] for an unknown district;
/// [`ServiceError::Cancelled`] when the request ended first.
pub async fn gaps_cached(
    coverage: &crate::coverage::listener::CoverageState,
    q: GapQuery,
) -> ServiceResult<Arc<Vec<u8>>> {
    use super::read_model::{Answer, ReadModel};
    let index = coverage.snapshot();
    let Some(model) = ReadModel::of(coverage) else {
        return Ok(Arc::new(gaps(index, q).await?));
    };
    let key = format!("gaps|{}|{q:?}", index.version);
    if let Some(Answer::Bytes(b)) = model.answers().get(&key) {
        return Ok(b);
    }
    let body = Arc::new(gaps(index, q).await?);
    model.answers().insert(key, Answer::Bytes(body.clone()));
    Ok(body)
}

/// The gap grid of `q` over `index` (computed now; [`gaps_cached`] keeps
/// answers per coverage index version).
///
/// # Errors
/// As [`gaps_cached`].
pub async fn gaps(index: Arc<CoverageIndex>, q: GapQuery) -> ServiceResult<Vec<u8>> {
    let area = match &q.area {
        GapArea::District(code) => index
            .areas
            .iter()
            .find(|a| &a.code == code)
            .map(|a| a.geometry.clone())
            .ok_or_else(|| ServiceError::NotFound(format!("no district '{code}'")))?,
        GapArea::Bbox(b) => grid::bbox_polygon(b.min_lon, b.min_lat, b.max_lon, b.max_lat),
        GapArea::AllDistricts => geo::MultiPolygon::new(
            index
                .areas
                .iter()
                .flat_map(|a| a.geometry.0.iter().cloned())
                .collect(),
        ),
    };
    let resolution = q.resolution;
    let bound = grid::max_cells(&area, resolution);
    if bound > MAX_GAP_CELLS_BOUND {
        return Err(ServiceError::BadOption {
            option: "resolution",
            detail: format!(
                "up to {bound} cells at resolution {resolution} (bound computed before tiling); \
                 at most {MAX_GAP_CELLS} per response: use a coarser resolution or a smaller area"
            ),
        });
    }
    let from_bbox = matches!(q.area, GapArea::Bbox(_));
    cpu::run(move |cancel| render(&index, &q, &area, from_bbox, cancel)).await?
}

fn render(
    index: &CoverageIndex,
    q: &GapQuery,
    area: &geo::MultiPolygon<f64>,
    from_bbox: bool,
    cancel: &Cancel,
) -> ServiceResult<Vec<u8>> {
    let resolution = q.resolution;
    let cells = grid::cells_in_at_most(area, resolution, MAX_GAP_CELLS).map_err(|e| match e {
        grid::GridError::Resolution(_) => ServiceError::BadOption {
            option: "resolution",
            detail: e.to_string(),
        },
        grid::GridError::TooMany { max } => ServiceError::BadOption {
            option: "resolution",
            detail: format!(
                "more than {max} cells at resolution {resolution}; at most {MAX_GAP_CELLS} per \
                 response: use a coarser resolution or a smaller area"
            ),
        },
        // A box the caller drew; a district's stored geometry is ours.
        grid::GridError::Area(ref why) if from_bbox => ServiceError::BadOption {
            option: "bbox",
            detail: format!("{e}: {why}"),
        },
        grid::GridError::Area(_) => ServiceError::output("tiling a district", e),
    })?;
    cancel.check()?;
    let mut masks = Vec::with_capacity(cells.len());
    for chunk in cells.chunks(CHECK_EVERY) {
        let centres: Vec<[f64; 2]> = chunk.iter().map(|c| grid::centre(*c)).collect();
        masks.extend(index.operators_covering_batch(&centres, Some(q.technology), 1));
        cancel.check()?;
    }
    let all_ops: Vec<usize> = index
        .operators_with(Some(q.technology))
        .into_iter()
        .map(usize::from)
        .collect();
    let (mut not_spots, mut partial, mut returned) = (0usize, 0usize, 0usize);
    for mask in &masks {
        let n = mask.count_ones();
        if n == 0 {
            not_spots += 1;
        } else if (n as usize) < all_ops.len() {
            partial += 1;
        }
        if q.max_operators.is_none_or(|k| n < k) {
            returned += 1;
        }
    }
    let ops_total: Vec<&str> = all_ops
        .iter()
        .map(|o| index.operators[*o].as_str())
        .collect();
    let head = serde_json::to_vec(&json!({
        "type": "FeatureCollection",
        "technology": q.technology.as_str(),
        "resolution": resolution,
        "cells": cells.len(),
        "not_spots": not_spots,
        "partial_not_spots": partial,
        "operators_total": ops_total,
        "numberReturned": returned,
    }))
    .map_err(|e| ServiceError::output("rendering the gap grid", e))?;
    // The features are written one by one after the head's members (no
    // JSON tree of the whole answer is built).
    let mut out = Vec::with_capacity(head.len() + returned * 400);
    out.extend_from_slice(&head[..head.len() - 1]);
    out.extend_from_slice(b",\"features\":[");
    let mut first = true;
    for (k, (cell, mask)) in cells.iter().zip(&masks).enumerate() {
        if k % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        let n = mask.count_ones();
        if q.max_operators.is_some_and(|k| n >= k) {
            continue;
        }
        let ids: Vec<&str> = (0..128)
            .filter(|b| mask & (1u128 << b) != 0)
            .map(|b| index.operators[b].as_str())
            .collect();
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(
            &mut out,
            &json!({
                "type": "Feature",
                "id": cell.to_string(),
                "geometry": geojson_geometry(&geo::Geometry::Polygon(grid::boundary(*cell))),
                "properties": {"h3": cell.to_string(), "operators": n, "operator_ids": ids},
            }),
        )
        .map_err(|e| ServiceError::output("rendering the gap grid", e))?;
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}
