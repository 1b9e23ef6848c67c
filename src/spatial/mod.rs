//! Spatial computation in memory: geodesic measures now; the rstar index,
//! coverage model and grids arrive with the coverage engine.

use geo::{Geodesic, Length};

/// Geodesic length on the WGS84 ellipsoid of a line geometry, metres
/// (Karney's algorithm via `geo`); 0 for other geometry types.
pub fn geodesic_length_m(g: &geo::Geometry<f64>) -> f64 {
    match g {
        geo::Geometry::LineString(l) => Geodesic.length(l),
        geo::Geometry::MultiLineString(m) => m.0.iter().map(|l| Geodesic.length(l)).sum(),
        _ => 0.0,
    }
}
