//! The tile matrix set: OGC `WebMercatorQuad` (EPSG:3857), its tile
//! addresses and the coordinate space of a tile's layers.
//!
//! Tile rows count from the north (`y = 0` at the top), as in XYZ and OGC
//! API – Tiles; coordinates elsewhere are lon/lat (EPSG:4326).

use geo::{Coord, Rect};

use crate::spatial::geodesy::WGS84_A;

/// Half the side of the Web Mercator square, metres (π × [`WGS84_A`]).
pub const MERCATOR_HALF_M: f64 = 20_037_508.342_789_244;
/// Deepest zoom level served.
pub const MAX_ZOOM: u8 = 24;
/// Tile coordinate extent of every layer.
pub const EXTENT: u32 = 4096;
/// Buffer around each tile, in tile units, so that strokes and symbols do
/// not clip at tile edges.
pub const BUFFER: u32 = 64;
/// Web Mercator's latitude limit, degrees.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

/// A tile of the `WebMercatorQuad` tile matrix set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileCoord {
    /// Zoom level (tile matrix), 0–[`MAX_ZOOM`].
    pub z: u8,
    /// Column, 0 at the antimeridian (west).
    pub x: u32,
    /// Row, 0 at the north.
    pub y: u32,
}

/// Why a tile address is not in the tile matrix set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The zoom level is deeper than [`MAX_ZOOM`].
    #[error("zoom level {0} is outside 0–{MAX_ZOOM}")]
    Zoom(u32),
    /// The column or row is outside `0..2^z`.
    #[error("tile column {x} or row {y} is outside 0–{max} at zoom {z}")]
    Range {
        /// Zoom.
        z: u8,
        /// Column.
        x: u32,
        /// Row.
        y: u32,
        /// Largest valid index, `2^z - 1`.
        max: u32,
    },
}

impl TileCoord {
    /// Checks that the tile exists in `WebMercatorQuad`.
    ///
    /// # Errors
    /// [`AddressError`] when z, x or y is out of range.
    pub fn new(z: u32, x: u32, y: u32) -> Result<Self, AddressError> {
        if z > u32::from(MAX_ZOOM) {
            return Err(AddressError::Zoom(z));
        }
        let z = z as u8;
        let max = (1u64 << z) - 1;
        if u64::from(x) > max || u64::from(y) > max {
            return Err(AddressError::Range {
                z,
                x,
                y,
                max: max as u32,
            });
        }
        Ok(Self { z, x, y })
    }

    /// Side of the tile, metres of EPSG:3857.
    pub fn size_m(self) -> f64 {
        2.0 * MERCATOR_HALF_M / f64::from(1u32 << self.z.min(31))
    }

    /// Bounds in EPSG:3857 metres: `[min_x, min_y, max_x, max_y]`.
    pub fn bounds_3857(self) -> [f64; 4] {
        let size = self.size_m();
        let min_x = -MERCATOR_HALF_M + f64::from(self.x) * size;
        let max_y = MERCATOR_HALF_M - f64::from(self.y) * size;
        [min_x, max_y - size, min_x + size, max_y]
    }

    /// Bounds in lon/lat degrees, grown by `buffer` tile units on each side
    /// and clamped to the Web Mercator limits: `[west, south, east, north]`.
    pub fn bounds_lonlat(self, buffer: u32) -> [f64; 4] {
        let [x0, y0, x1, y1] = self.bounds_3857();
        let pad = self.size_m() * f64::from(buffer) / f64::from(EXTENT);
        let (w, s) = to_lonlat(x0 - pad, y0 - pad);
        let (e, n) = to_lonlat(x1 + pad, y1 + pad);
        [w.max(-180.0), s.max(-MAX_LAT), e.min(180.0), n.min(MAX_LAT)]
    }

    /// The tile grown by [`BUFFER`], EPSG:3857 metres: what a layer keeps.
    pub fn buffered_rect_3857(self) -> Rect<f64> {
        let [x0, y0, x1, y1] = self.bounds_3857();
        let pad = self.size_m() * f64::from(BUFFER) / f64::from(EXTENT);
        Rect::new(
            Coord {
                x: x0 - pad,
                y: y0 - pad,
            },
            Coord {
                x: x1 + pad,
                y: y1 + pad,
            },
        )
    }
}

/// Lon/lat degrees → EPSG:3857 metres (latitude clamped to [`MAX_LAT`]).
pub fn to_3857(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
    let x = lon.to_radians() * WGS84_A;
    let y = (std::f64::consts::FRAC_PI_4 + lat / 2.0).tan().ln() * WGS84_A;
    (x, y)
}

/// EPSG:3857 metres → lon/lat degrees.
pub fn to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = (x / WGS84_A).to_degrees();
    let lat = (2.0 * (y / WGS84_A).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees();
    (lon, lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_tile_spans_the_whole_mercator_square() {
        let t = TileCoord::new(0, 0, 0).unwrap();
        let [x0, y0, x1, y1] = t.bounds_3857();
        assert_eq!(
            [x0, y0, x1, y1],
            [
                -MERCATOR_HALF_M,
                -MERCATOR_HALF_M,
                MERCATOR_HALF_M,
                MERCATOR_HALF_M
            ]
        );
        let [w, s, e, n] = t.bounds_lonlat(0);
        assert!((w + 180.0).abs() < 1e-9 && (e - 180.0).abs() < 1e-9);
        assert!((n - MAX_LAT).abs() < 1e-9 && (s + MAX_LAT).abs() < 1e-9);
    }

    #[test]
    fn a_da_nang_tile_contains_the_city_centre() {
        // Da Nang city centre, lon/lat 108.2208, 16.0678: at zoom 14 it is in
        // column floor((lon + 180) / 360 * 2^14) and the row from the
        // Mercator formula (computed by hand: x 13117, y 7450).
        let t = TileCoord::new(14, 13117, 7450).unwrap();
        let [w, s, e, n] = t.bounds_lonlat(0);
        assert!(w <= 108.2208 && 108.2208 < e, "{w} {e}");
        assert!(s <= 16.0678 && 16.0678 < n, "{s} {n}");
    }

    #[test]
    fn the_mercator_square_is_the_equator_of_the_wgs84_sphere() {
        assert_eq!(MERCATOR_HALF_M, std::f64::consts::PI * WGS84_A);
        assert!((to_3857(180.0, 0.0).0 - MERCATOR_HALF_M).abs() < 1e-6);
    }

    #[test]
    fn mercator_round_trips() {
        for (lon, lat) in [(108.2, 16.05), (-70.0, -33.4), (0.0, 0.0), (179.9, 80.0)] {
            let (x, y) = to_3857(lon, lat);
            let (lon2, lat2) = to_lonlat(x, y);
            assert!((lon - lon2).abs() < 1e-9 && (lat - lat2).abs() < 1e-9);
        }
    }

    #[test]
    fn tiles_outside_the_matrix_are_refused() {
        assert_eq!(TileCoord::new(25, 0, 0), Err(AddressError::Zoom(25)));
        assert!(matches!(
            TileCoord::new(3, 8, 0),
            Err(AddressError::Range { max: 7, .. })
        ));
        assert!(TileCoord::new(24, (1 << 24) - 1, 0).is_ok());
    }
}
