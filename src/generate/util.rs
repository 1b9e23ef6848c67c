//! Small helpers: rounding, random draws, GeoJSON assembly, operator codes.

use geo::Coord;
use rand::Rng;
use serde_json::{Map, Value};

/// Rounds to `decimals` decimal places.
pub(super) fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Rounds to one decimal (heights, angles, powers).
pub(super) fn round1(x: f64) -> f64 {
    round_to(x, 1)
}

/// Rounds a lon/lat coordinate to 6 decimals (about 0.1 m).
pub(super) fn round_coord(c: Coord<f64>) -> Coord<f64> {
    Coord {
        x: round_to(c.x, 6),
        y: round_to(c.y, 6),
    }
}

/// A GeoJSON position `[lon, lat]`.
pub(super) fn position(c: Coord<f64>) -> Vec<f64> {
    vec![c.x, c.y]
}

/// A standard normal draw (Box–Muller).
pub(super) fn gaussian<R: Rng>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.r#gen::<f64>(); // (0, 1]
    let u2: f64 = rng.r#gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Picks an item with probability proportional to its weight. Weights must
/// be non-negative with a positive sum; `items` must not be empty.
pub(super) fn pick_weighted<'a, T, R: Rng>(rng: &mut R, items: &'a [(T, f64)]) -> &'a T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.r#gen::<f64>() * total;
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    // Rounding: fall back to the last item with a positive weight.
    &items
        .iter()
        .rev()
        .find(|(_, w)| *w > 0.0)
        .unwrap_or(&items[items.len() - 1])
        .0
}

/// Index of `weights` chosen with probability proportional to the weight.
pub(super) fn pick_index<R: Rng>(rng: &mut R, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.r#gen::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}

/// Uniform draw in `[lo, hi]` rounded to one decimal.
pub(super) fn uniform1<R: Rng>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    round1(rng.gen_range(lo..=hi)).clamp(lo, hi)
}

/// Short code of an operator used in site codes and external ids.
pub(super) fn code_prefix(operator: &str) -> &'static str {
    match operator {
        "viettel" => "VTL",
        "vnpt" => "VNP",
        "mobifone" => "MBF",
        "fpt" => "FPT",
        _ => "OPR",
    }
}

/// Brand name of an operator as used in asset names.
pub(super) fn brand(operator: &str) -> &'static str {
    match operator {
        "viettel" => "Viettel",
        "vnpt" => "VNPT",
        "mobifone" => "MobiFone",
        "fpt" => "FPT",
        _ => "Operator",
    }
}

/// A Feature with the given geometry and properties, no id.
pub(super) fn feature(
    geometry: geojson::Value,
    properties: Map<String, Value>,
) -> geojson::Feature {
    geojson::Feature {
        bbox: None,
        geometry: Some(geojson::Geometry::new(geometry)),
        id: None,
        properties: Some(properties),
        foreign_members: None,
    }
}

/// A FeatureCollection of `features`.
pub(super) fn collection(features: Vec<geojson::Feature>) -> geojson::FeatureCollection {
    geojson::FeatureCollection {
        bbox: None,
        features,
        foreign_members: None,
    }
}

/// Unwraps the object of a `json!({...})` literal.
pub(super) fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
