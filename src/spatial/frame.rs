//! A local metric frame for indexing: an equirectangular projection centred
//! on the data's extent, with WGS84 radii of curvature at the centre latitude.
//!
//! The frame is used only to place bounding boxes in an R-tree; coverage
//! decisions use [`super::geodesy`]. Its distance distortion relative to the
//! ellipsoid, anywhere in the extent, is at most [`LocalFrame::rel_error`]
//! (for Đà Nẵng, lat 15.9–16.25°: about 0.09 %, i.e. under 5 m at 5 km);
//! index envelopes are inflated by `rel_error × range + 1 m`, so no covering
//! sector is ever missed by the prefilter.

use super::geodesy::metres_per_degree;
use crate::domain::region::CITY_BBOX;

/// An equirectangular frame: x east and y north in metres from `(lon0, lat0)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalFrame {
    /// Centre longitude, degrees.
    pub lon0: f64,
    /// Centre latitude, degrees.
    pub lat0: f64,
    kx: f64,
    ky: f64,
    /// Bound on the relative distance distortion within the frame's extent.
    pub rel_error: f64,
    /// Latitude band (degrees) for which `rel_error` holds.
    pub lat_range: (f64, f64),
}

impl LocalFrame {
    /// The frame for data spanning `[min_lon, max_lon] × [min_lat, max_lat]`
    /// (degrees); latitudes are clamped to ±85°.
    pub fn for_extent(min_lon: f64, min_lat: f64, max_lon: f64, max_lat: f64) -> Self {
        let (lo, hi) = (min_lat.clamp(-85.0, 85.0), max_lat.clamp(-85.0, 85.0));
        let lat0 = 0.5 * (lo + hi);
        let lon0 = 0.5 * (min_lon + max_lon);
        let (kx, ky) = metres_per_degree(lat0);
        let mut rel_error: f64 = 0.0;
        for i in 0..=32 {
            let lat = lo + (hi - lo) * f64::from(i) / 32.0;
            let (x, y) = metres_per_degree(lat);
            rel_error = rel_error
                .max((x / kx - 1.0).abs())
                .max((y / ky - 1.0).abs());
        }
        Self {
            lon0,
            lat0,
            kx,
            ky,
            rel_error: rel_error + 1e-6,
            lat_range: (lo, hi),
        }
    }

    /// The default frame: Đà Nẵng ([`CITY_BBOX`]), used when there is no
    /// data yet.
    pub fn da_nang() -> Self {
        let [w, s, e, n] = CITY_BBOX;
        Self::for_extent(w, s, e, n)
    }

    /// Metres per degree of longitude and of latitude at the centre (the
    /// frame's scales).
    pub fn metres_per_degree(&self) -> (f64, f64) {
        (self.kx, self.ky)
    }

    /// Projects lon/lat degrees to frame metres `[x, y]`.
    #[inline]
    pub fn fwd(&self, lon: f64, lat: f64) -> [f64; 2] {
        [(lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky]
    }

    /// Inverse of [`LocalFrame::fwd`]: frame metres to lon/lat degrees.
    #[inline]
    pub fn inv(&self, [x, y]: [f64; 2]) -> [f64; 2] {
        [self.lon0 + x / self.kx, self.lat0 + y / self.ky]
    }

    /// True when `lat` lies in the band the error bound holds for.
    pub fn contains_lat(&self, lat: f64) -> bool {
        lat >= self.lat_range.0 && lat <= self.lat_range.1
    }

    /// Margin (metres) to add around a shape of extent `range_m` so that the
    /// frame's distortion cannot exclude a point that is truly inside.
    #[inline]
    pub fn margin_m(&self, range_m: f64) -> f64 {
        range_m * self.rel_error + 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_da_nang_frame_distorts_distances_by_less_than_a_tenth_of_a_percent() {
        let f = LocalFrame::da_nang();
        assert!(f.rel_error < 0.001, "{}", f.rel_error);
        assert!(f.margin_m(5_000.0) < 6.0);
    }
}
