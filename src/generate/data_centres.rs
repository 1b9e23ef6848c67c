//! Data centres in the central urban districts: a Point, or for every second
//! one a rotated 60 × 80 m rectangular footprint.

use geo::Coord;
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::json;

use super::spatial::{LocalProjection, PointGrid, PreparedArea};
use super::util::{
    brand, code_prefix, feature, object, pick_index, pick_weighted, position, round_coord,
};
use super::{GenerateError, OPERATORS};

/// Preferred districts (GSO code, weight): Hải Châu, Thanh Khê, Liên Chiểu
/// (high-tech and IT parks) and Cẩm Lệ.
const PREFERRED: &[(&str, f64)] = &[("492", 3.0), ("491", 2.0), ("490", 2.0), ("495", 1.0)];
/// Operators in the order data centres are handed out (indexes into [`OPERATORS`]).
const ROTATION: [usize; 4] = [0, 1, 3, 2];
/// Preferred distance between two data centres, metres.
const SPACING_M: f64 = 300.0;

/// Generates `n` data centres.
pub(super) fn generate<R: Rng>(
    rng: &mut R,
    n: usize,
    areas: &[PreparedArea<'_>],
    proj: &LocalProjection,
) -> Result<Vec<geojson::Feature>, GenerateError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    // Candidate districts: the preferred ones, else the urban ones, else all.
    let mut weights: Vec<f64> = areas
        .iter()
        .map(|a| {
            PREFERRED
                .iter()
                .find(|(code, _)| *code == a.area.code)
                .map_or(0.0, |(_, w)| *w)
        })
        .collect();
    if weights.iter().all(|w| *w == 0.0) {
        weights = areas
            .iter()
            .map(|a| if a.area.rural { 0.0 } else { 1.0 })
            .collect();
    }
    if weights.iter().all(|w| *w == 0.0) {
        weights = vec![1.0; areas.len()];
    }

    // About one in eight is still planned (exactly one of the default eight).
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let planned_count = if n >= 2 { (n / 8).max(1) } else { 0 };
    let mut planned = vec![false; n];
    for &i in &order[..planned_count] {
        planned[i] = true;
    }

    let mut grid = PointGrid::new(SPACING_M);
    let mut numbers = [0usize; 4];
    let mut features = Vec::with_capacity(n);
    for (i, &is_planned) in planned.iter().enumerate() {
        let op = ROTATION[i % ROTATION.len()];
        numbers[op] += 1;
        let ai = pick_index(rng, &weights);
        let area = &areas[ai];
        let footprint = i % 2 == 1;
        let (centre, geometry) = place(rng, area, proj, &grid, footprint)?;
        grid.insert(centre, i);

        let id = OPERATORS[op].id;
        let base = match id {
            "viettel" | "vnpt" => format!("{} IDC Đà Nẵng", brand(id)),
            _ => format!("{} Data Center Đà Nẵng", brand(id)),
        };
        let name = if numbers[op] == 1 {
            base
        } else {
            format!("{base} {}", numbers[op])
        };
        let tier = *pick_weighted(rng, &[(2u8, 0.25), (3, 0.60), (4, 0.15)]);
        let power_mw = super::util::uniform1(rng, 0.5, 10.0);
        let racks = ((power_mw * 70.0 + rng.gen_range(-30.0..30.0)).round() as i64).clamp(50, 800);
        features.push(feature(
            geometry,
            object(json!({
                "operator": id,
                "name": name,
                "external_id": format!("{}-DC-{:02}", code_prefix(id), numbers[op]),
                "tier": tier,
                "power_mw": power_mw,
                "racks": racks,
                "status": if is_planned { "planned" } else { "operational" },
                "synthetic": true,
            })),
        ));
    }
    Ok(features)
}

/// Places one data centre in `area`, away from the others when possible.
/// Returns its centre (local metres) and geometry.
fn place<R: Rng>(
    rng: &mut R,
    area: &PreparedArea<'_>,
    proj: &LocalProjection,
    grid: &PointGrid,
    footprint: bool,
) -> Result<(Coord<f64>, geojson::Value), GenerateError> {
    let mut spacing = SPACING_M;
    for attempt in 0..5_000 {
        if attempt > 0 && attempt % 200 == 0 {
            spacing *= 0.7;
        }
        let Some(c) = area.sample_uniform(rng, 1) else {
            continue;
        };
        let c = round_coord(c);
        let m = proj.to_m(c);
        if !area.contains(c) || grid.any_within(m, spacing) {
            continue;
        }
        if !footprint {
            return Ok((m, geojson::Value::Point(position(c))));
        }
        // A 60 × 80 m rectangle rotated by θ; corners counter-clockwise.
        let theta = rng.gen_range(0.0..std::f64::consts::FRAC_PI_2);
        let (s, co) = theta.sin_cos();
        let corners = [(-30.0, -40.0), (30.0, -40.0), (30.0, 40.0), (-30.0, 40.0)];
        let ring: Vec<Coord<f64>> = corners
            .iter()
            .map(|&(x, y)| {
                round_coord(proj.to_lonlat(Coord {
                    x: m.x + x * co - y * s,
                    y: m.y + x * s + y * co,
                }))
            })
            .collect();
        if ring.iter().all(|&q| area.contains(q)) {
            let mut positions: Vec<Vec<f64>> = ring.iter().map(|&q| position(q)).collect();
            positions.push(position(ring[0]));
            return Ok((m, geojson::Value::Polygon(vec![positions])));
        }
    }
    Err(GenerateError::PlacementFailed {
        code: area.area.code.clone(),
        what: "data centres",
    })
}
