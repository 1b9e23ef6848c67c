//! Distances and bearings on the WGS84 ellipsoid, and the one set of WGS84
//! constants and local metre conversions the crate uses.
//!
//! Local metres: [`metres_per_degree`] gives the length of a degree of
//! longitude and of latitude at a latitude (the scale of an equirectangular
//! frame centred there, as [`LocalFrame`](super::frame::LocalFrame) uses);
//! [`M_PER_DEG_LON_EQUATOR`] and [`M_PER_DEG_LAT_EQUATOR`] bound them from
//! below anywhere on Earth.
//!
//! [`offset_m`] is the fast path used by the coverage engine: the east/north
//! offset between two nearby points on the plane tangent at their mid-latitude,
//! with the ellipsoid's prime-vertical radius `N(φm)` and meridional radius
//! `M(φm)`:
//!
//! ```text
//! dx = Δλ · N(φm) · cos φm        dy = Δφ · M(φm)
//! N = a / √(1 − e² sin² φm)       M = a (1 − e²) / (1 − e² sin² φm)^{3/2}
//! ```
//!
//! Its error against Karney's geodesic (`geo::Geodesic`) grows with the cube of
//! the distance: under 2 cm in distance and 0.0005° in initial bearing (after the meridian-convergence correction of [`initial_bearing`]) for pairs up to
//! 20 km apart at Vietnam's latitudes (checked by the unit tests). Decisions
//! closer than [`EXACT_BAND_M`] to a boundary are redone with `geo::Geodesic`,
//! so coverage answers are the geodesic ones.

use std::f64::consts::PI;

use geo::{Bearing, Distance, Geodesic, Point};

/// WGS84 semi-major axis, metres (also the sphere radius of Web Mercator,
/// EPSG:3857).
pub const WGS84_A: f64 = 6_378_137.0;
/// WGS84 flattening.
pub const WGS84_F: f64 = 1.0 / 298.257_223_563;
/// WGS84 first eccentricity squared.
pub const WGS84_E2: f64 = WGS84_F * (2.0 - WGS84_F);

/// Length of a degree of longitude on the equator, metres: `a · π / 180`
/// (111,319.49 m). At latitude φ a degree of longitude is
/// `N(φ) cos φ · π / 180` ([`metres_per_degree`]), never less than
/// `M_PER_DEG_LON_EQUATOR · cos φ` (N ≥ a).
pub const M_PER_DEG_LON_EQUATOR: f64 = WGS84_A * PI / 180.0;

/// Length of a degree of latitude on the equator, metres:
/// `a (1 − e²) · π / 180` (110,574.27 m). The meridional radius grows
/// towards the poles, so this is the shortest degree of latitude anywhere
/// (at Đà Nẵng, 16° N, one is 110,659 m; at the poles 111,694 m).
pub const M_PER_DEG_LAT_EQUATOR: f64 = WGS84_A * (1.0 - WGS84_E2) * PI / 180.0;

/// Distance from a boundary (metres) within which a coverage decision is
/// recomputed with the exact geodesic instead of the fast local formula.
pub const EXACT_BAND_M: f64 = 0.25;

/// Prime-vertical (N) and meridional (M) radii of curvature at `lat_deg`, metres.
#[inline]
pub fn radii_m(lat_deg: f64) -> (f64, f64) {
    let s = lat_deg.to_radians().sin();
    let w = 1.0 - WGS84_E2 * s * s;
    let n = WGS84_A / w.sqrt();
    (n, n * (1.0 - WGS84_E2) / w)
}

/// Metres per degree of longitude (east) and of latitude (north) at
/// `lat_deg`: `N(φ) cos φ · π / 180` and `M(φ) · π / 180`, exact on the
/// ellipsoid at that latitude.
///
/// Used as the scale of a local equirectangular frame centred at `lat_deg`
/// (x = Δlon · east, y = Δlat · north), its distances are off by the change
/// of these scales across the frame: about 0.1 % over Đà Nẵng's 0.35° of
/// latitude, 0.5 % over 2° (see [`LocalFrame`](super::frame::LocalFrame),
/// which bounds it). Within a few kilometres of the centre latitude the
/// error is centimetres, as for [`offset_m`].
#[inline]
pub fn metres_per_degree(lat_deg: f64) -> (f64, f64) {
    let (n, m) = radii_m(lat_deg);
    (n * lat_deg.to_radians().cos() * PI / 180.0, m * PI / 180.0)
}

/// East and north offset, metres, from `from` to `to` (lon/lat degrees), on the
/// tangent plane at the mid-latitude. Accurate to centimetres within 20 km.
#[inline]
pub fn offset_m(from: (f64, f64), to: (f64, f64)) -> (f64, f64) {
    let mid = 0.5 * (from.1 + to.1);
    let (n, m) = radii_m(mid);
    let mut dlon = to.0 - from.0;
    if dlon > 180.0 {
        dlon -= 360.0;
    } else if dlon < -180.0 {
        dlon += 360.0;
    }
    let dx = dlon.to_radians() * n * mid.to_radians().cos();
    let dy = (to.1 - from.1).to_radians() * m;
    (dx, dy)
}

/// Distance (metres) up to which [`destination`] uses the local formula.
pub const FAST_DESTINATION_M: f64 = 20_000.0;

/// The point `dist_m` metres from `from` (lon/lat degrees) along the geodesic
/// with initial bearing `bearing_deg`, as lon/lat degrees.
///
/// Up to [`FAST_DESTINATION_M`] it inverts [`offset_m`] and
/// [`initial_bearing`] by fixed-point iteration (centimetre accuracy, like
/// them; checked against Karney by the unit tests), which is about ten
/// times cheaper than Karney's direct problem; beyond, it is Karney's.
pub fn destination(from: (f64, f64), bearing_deg: f64, dist_m: f64) -> (f64, f64) {
    if dist_m > FAST_DESTINATION_M {
        let p = geo::Destination::destination(
            &Geodesic,
            Point::new(from.0, from.1),
            bearing_deg,
            dist_m,
        );
        return (p.x(), p.y());
    }
    let (lon1, lat1) = from;
    let (mut lon2, mut lat2) = from;
    for _ in 0..3 {
        let mid = 0.5 * (lat1 + lat2);
        let (n, m) = radii_m(mid);
        let (sin_mid, cos_mid) = mid.to_radians().sin_cos();
        // The bearing at the midpoint: the initial one plus half the
        // meridian convergence along the way.
        let b = (bearing_deg + 0.5 * (lon2 - lon1) * sin_mid).to_radians();
        let (sin_b, cos_b) = b.sin_cos();
        lat2 = lat1 + (dist_m * cos_b / m).to_degrees();
        lon2 = lon1 + (dist_m * sin_b / (n * cos_mid)).to_degrees();
    }
    (lon2, lat2)
}

/// Bearing of an east/north offset, degrees clockwise from north in [0, 360).
#[inline]
pub fn bearing_of(dx: f64, dy: f64) -> f64 {
    let b = dx.atan2(dy).to_degrees();
    if b < 0.0 { b + 360.0 } else { b }
}

/// Initial bearing at `from`, degrees in [0, 360), from the mid-latitude
/// offset `(dx, dy)`: the plane gives the bearing at the midpoint, and the
/// meridians converge by `Δλ · sin φm` along the way, so half of that is
/// taken off.
#[inline]
pub fn initial_bearing(dx: f64, dy: f64, dlon_deg: f64, sin_mid_lat: f64) -> f64 {
    (bearing_of(dx, dy) - 0.5 * dlon_deg * sin_mid_lat).rem_euclid(360.0)
}

/// Exact geodesic distance (metres) and initial bearing (degrees, [0, 360))
/// from `from` to `to` (lon/lat degrees), by Karney's algorithm.
pub fn geodesic(from: (f64, f64), to: (f64, f64)) -> (f64, f64) {
    let (a, b) = (Point::new(from.0, from.1), Point::new(to.0, to.1));
    (Geodesic.distance(a, b), Geodesic.bearing(a, b))
}

/// Smallest absolute difference between two bearings, degrees in [0, 180].
#[inline]
pub fn angle_between(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    if d > 180.0 { 360.0 - d } else { d }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_destination_agrees_with_karney_to_centimetres_within_20_km() {
        let mut next = crate::testing::xorshift(0x2545_f491_4f6c_dd1d_u64);
        let mut worst = 0.0f64;
        for _ in 0..20_000 {
            let from = (102.0 + next() * 8.0, 8.0 + next() * 15.0);
            let (bearing, dist) = (next() * 360.0, next() * FAST_DESTINATION_M);
            let fast = destination(from, bearing, dist);
            let exact =
                geo::Destination::destination(&Geodesic, Point::new(from.0, from.1), bearing, dist);
            let err = Geodesic.distance(Point::new(fast.0, fast.1), exact);
            worst = worst.max(err);
        }
        assert!(worst < 0.05, "worst {worst} m");
        // Beyond the fast range it is Karney's own answer.
        let far = destination((108.2, 16.05), 45.0, 50_000.0);
        let exact =
            geo::Destination::destination(&Geodesic, Point::new(108.2, 16.05), 45.0, 50_000.0);
        assert_eq!(far, (exact.x(), exact.y()));
    }

    #[test]
    fn the_local_formula_agrees_with_karney_to_centimetres_within_20_km() {
        let mut next = crate::testing::xorshift(0x9e37_79b9_7f4a_7c15_u64);
        let (mut worst_d, mut worst_b) = (0.0f64, 0.0f64);
        for _ in 0..20_000 {
            let from = (102.0 + next() * 8.0, 8.5 + next() * 15.0);
            let to = (
                from.0 + (next() - 0.5) * 0.36,
                from.1 + (next() - 0.5) * 0.36,
            );
            let (dx, dy) = offset_m(from, to);
            let d = dx.hypot(dy);
            if !(1.0..=20_000.0).contains(&d) {
                continue;
            }
            let (gd, gb) = geodesic(from, to);
            worst_d = worst_d.max((d - gd).abs());
            let mid = (0.5 * (from.1 + to.1)).to_radians().sin();
            worst_b = worst_b.max(angle_between(
                initial_bearing(dx, dy, to.0 - from.0, mid),
                gb,
            ));
        }
        assert!(worst_d < 0.02, "distance error {worst_d} m");
        assert!(worst_b < 0.0005, "bearing error {worst_b}°");
    }

    #[test]
    fn the_plane_distance_is_within_a_ten_thousandth_of_the_geodesic_up_to_100_km_and_70_degrees() {
        let mut next = crate::testing::xorshift(0x2545_f491_4f6c_dd1d_u64);
        let mut worst: f64 = 0.0;
        for _ in 0..20_000 {
            let from = (-180.0 + next() * 360.0, -70.0 + next() * 140.0);
            let (b, d) = (next() * 360.0, 1_000.0 + next() * 99_000.0);
            let to = destination(from, b, d);
            let (dx, dy) = offset_m(from, to);
            let (gd, _) = geodesic(from, to);
            worst = worst.max((dx.hypot(dy) - gd).abs() / gd);
        }
        assert!(worst < 1e-4, "relative error {worst}");
    }

    #[test]
    fn a_degree_has_the_textbook_length_and_the_equator_bounds_it() {
        assert!((M_PER_DEG_LON_EQUATOR - 111_319.49).abs() < 0.01);
        assert!((M_PER_DEG_LAT_EQUATOR - 110_574.27).abs() < 0.01);
        let (east, north) = metres_per_degree(0.0);
        assert!((east - M_PER_DEG_LON_EQUATOR).abs() < 1e-6);
        assert!((north - M_PER_DEG_LAT_EQUATOR).abs() < 1e-6);
        // Đà Nẵng: 1° of latitude is 110.66 km, of longitude 107.03 km.
        let (east, north) = metres_per_degree(16.0);
        assert!((north - 110_658.7).abs() < 0.1, "{north}");
        assert!((east - 107_034.4).abs() < 0.1, "{east}");
        // A degree measured by Karney agrees to well under a metre.
        let (d_north, _) = geodesic((108.0, 15.5), (108.0, 16.5));
        assert!((d_north - north).abs() < 0.1, "{d_north} vs {north}");
        for lat in [-80.0, -30.0, 0.0, 16.0, 45.0, 85.0] {
            let (east, north) = metres_per_degree(lat);
            assert!(north >= M_PER_DEG_LAT_EQUATOR - 1e-6);
            assert!(east >= M_PER_DEG_LON_EQUATOR * lat.to_radians().cos() - 1e-6);
        }
    }

    #[test]
    fn bearings_wrap_around_north() {
        assert_eq!(angle_between(350.0, 10.0), 20.0);
        assert_eq!(angle_between(10.0, 350.0), 20.0);
        assert_eq!(bearing_of(0.0, 1.0), 0.0);
        assert_eq!(bearing_of(1.0, 0.0), 90.0);
        assert_eq!(bearing_of(-1.0, 0.0), 270.0);
    }
}
