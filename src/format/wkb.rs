//! Well-known binary (ISO WKB, as in GeoPackage blobs) read within a
//! [`GeometryBudget`]. geozero's reader recurses into nested collections
//! and its geometry writer sizes vectors from the element counts in the
//! input, so a few bytes claiming 2³¹ points would allocate gigabytes: a
//! structural walk runs first, and only input it accepts is decoded.
//!
//! The walk reads every header and count once, without allocating: byte
//! order 0 or 1; type codes 1–7 (Point … GeometryCollection) with the ISO
//! dimension offsets 1000 (Z), 2000 (M) and 3000 (ZM); members of
//! MultiPoint, MultiLineString and MultiPolygon of the matching type; every
//! count times the smallest size of its element no larger than the bytes
//! that remain; nesting no deeper than the budget; positions no more than
//! the budget; no bytes after the geometry. PostGIS EWKB flags and curved
//! or surface types are refused with a message that says so.

use super::{GeometryBudget, GeometryReadError};

/// Bytes of a geometry header: byte order and type code.
const HEADER: usize = 5;
/// Bytes of a count.
const COUNT: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Point,
    LineString,
    Polygon,
    MultiPoint,
    MultiLineString,
    MultiPolygon,
    Collection,
}

struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
    budget: GeometryBudget,
    positions: usize,
}

fn invalid(msg: impl Into<String>) -> GeometryReadError {
    GeometryReadError::Invalid(msg.into())
}

impl Walk<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&[u8], GeometryReadError> {
        if n > self.remaining() {
            return Err(invalid(format!(
                "holds truncated WKB: {n} bytes needed at byte {}, {} remain",
                self.at,
                self.remaining()
            )));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn u32(&mut self, little: bool) -> Result<u32, GeometryReadError> {
        let b: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| invalid("holds truncated WKB"))?;
        Ok(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    /// Reads a header: (kind, little-endian, bytes per position).
    fn header(&mut self) -> Result<(Kind, bool, usize), GeometryReadError> {
        let at = self.at;
        let order = self.take(1)?[0];
        let little = match order {
            0 => false,
            1 => true,
            o => {
                return Err(invalid(format!(
                    "holds invalid WKB: byte order {o} at byte {at} (0 or 1 expected)"
                )));
            }
        };
        let code = self.u32(little)?;
        if code & 0xE000_0000 != 0 {
            return Err(invalid(format!(
                "holds PostGIS extended WKB (type code {code:#010x} at byte {at}); GeoPackage geometries are ISO WKB (Z, M as type codes 1000, 2000, 3000 higher)"
            )));
        }
        let dims = match code / 1000 {
            0 => 2,
            1 | 2 => 3,
            3 => 4,
            _ => {
                return Err(invalid(format!(
                    "holds an unknown WKB type code {code} at byte {at}"
                )));
            }
        };
        let kind = match code % 1000 {
            1 => Kind::Point,
            2 => Kind::LineString,
            3 => Kind::Polygon,
            4 => Kind::MultiPoint,
            5 => Kind::MultiLineString,
            6 => Kind::MultiPolygon,
            7 => Kind::Collection,
            8..=17 => {
                return Err(invalid(format!(
                    "holds a curved or surface geometry (WKB type {code}); only points, line strings and polygons are supported"
                )));
            }
            _ => {
                return Err(invalid(format!(
                    "holds an unknown WKB type code {code} at byte {at}"
                )));
            }
        };
        Ok((kind, little, dims * 8))
    }

    /// Reads a count of elements each at least `min_size` bytes long,
    /// refusing it unless that many fit in the bytes that remain.
    fn count(
        &mut self,
        little: bool,
        min_size: usize,
        what: &str,
    ) -> Result<usize, GeometryReadError> {
        let at = self.at;
        let n = self.u32(little)? as usize;
        if n.saturating_mul(min_size) > self.remaining() {
            return Err(invalid(format!(
                "holds invalid WKB: {n} {what} claimed at byte {at}, but only {} bytes remain",
                self.remaining()
            )));
        }
        Ok(n)
    }

    /// Counts positions; the total is compared with the budget at the end
    /// (the walk allocates nothing, and each count was checked against the
    /// bytes), so the refusal can say how many there are.
    fn add_positions(&mut self, n: usize) {
        self.positions = self.positions.saturating_add(n);
    }

    fn points(&mut self, little: bool, size: usize) -> Result<(), GeometryReadError> {
        let n = self.count(little, size, "positions")?;
        self.add_positions(n);
        self.take(n * size)?;
        Ok(())
    }

    /// A polygon's rings: each a closed ring of at least 4 positions, as
    /// PostGIS (`ST_GeomFromWKB`) and GEOS require (the decoder would
    /// otherwise close an open ring itself, adding a position the budget
    /// did not count).
    fn rings(&mut self, little: bool, size: usize) -> Result<(), GeometryReadError> {
        let rings = self.count(little, COUNT, "rings")?;
        for _ in 0..rings {
            let at = self.at;
            let n = self.count(little, size, "positions")?;
            self.add_positions(n);
            let coords = self.take(n * size)?;
            if n < 4 {
                return Err(invalid(format!(
                    "holds invalid WKB: the polygon ring at byte {at} has {n} positions; a ring needs at least 4"
                )));
            }
            if coords[..16] != coords[(n - 1) * size..(n - 1) * size + 16] {
                return Err(invalid(format!(
                    "holds invalid WKB: the polygon ring at byte {at} is not closed (its last position is not its first)"
                )));
            }
        }
        Ok(())
    }

    /// Walks one geometry at nesting `depth` (1 at the top); `expected` is
    /// the member type of a Multi* parent.
    fn geometry(&mut self, depth: usize, expected: Option<Kind>) -> Result<(), GeometryReadError> {
        if depth > self.budget.max_depth {
            return Err(GeometryReadError::Depth {
                limit: self.budget.max_depth,
            });
        }
        let at = self.at;
        let (kind, little, size) = self.header()?;
        if let Some(e) = expected
            && e != kind
        {
            return Err(invalid(format!(
                "holds invalid WKB: a {kind:?} at byte {at} inside a collection of {e:?}s"
            )));
        }
        match kind {
            Kind::Point => {
                self.add_positions(1);
                self.take(size)?;
            }
            Kind::LineString => self.points(little, size)?,
            Kind::Polygon => self.rings(little, size)?,
            Kind::MultiPoint | Kind::MultiLineString | Kind::MultiPolygon | Kind::Collection => {
                let (member, min_size, what) = match kind {
                    Kind::MultiPoint => (Some(Kind::Point), HEADER + 16, "points"),
                    Kind::MultiLineString => {
                        (Some(Kind::LineString), HEADER + COUNT, "line strings")
                    }
                    Kind::MultiPolygon => (Some(Kind::Polygon), HEADER + COUNT, "polygons"),
                    _ => (None, HEADER + COUNT, "geometries"),
                };
                let n = self.count(little, min_size, what)?;
                for _ in 0..n {
                    self.geometry(depth + 1, member)?;
                }
            }
        }
        Ok(())
    }
}

/// Checks the structure of `wkb` against `budget` without allocating;
/// returns its number of positions.
///
/// # Errors
/// [`GeometryReadError::Depth`] or [`GeometryReadError::Positions`] over
/// the budget, [`GeometryReadError::Invalid`] for anything malformed.
pub fn check(wkb: &[u8], budget: GeometryBudget) -> Result<usize, GeometryReadError> {
    let mut w = Walk {
        bytes: wkb,
        at: 0,
        budget,
        positions: 0,
    };
    w.geometry(1, None)?;
    if w.positions > budget.max_positions {
        return Err(GeometryReadError::Positions {
            found: w.positions,
            limit: budget.max_positions,
        });
    }
    if w.remaining() > 0 {
        return Err(invalid(format!(
            "holds {} bytes after the end of its WKB geometry",
            w.remaining()
        )));
    }
    Ok(w.positions)
}

/// Decodes ISO WKB into a geometry (lon/lat order: x is the longitude;
/// Z and M are dropped) once [`check`] has accepted it.
///
/// # Errors
/// As [`check`], and [`GeometryReadError::Invalid`] when geozero refuses it.
pub fn read(wkb: &[u8], budget: GeometryBudget) -> Result<geo::Geometry<f64>, GeometryReadError> {
    use geozero::ToGeo;
    check(wkb, budget)?;
    geozero::wkb::Wkb(wkb)
        .to_geo()
        .map_err(|e| invalid(format!("holds invalid WKB: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: GeometryBudget = GeometryBudget {
        max_depth: 8,
        max_positions: 1000,
    };

    fn header(code: u32) -> Vec<u8> {
        let mut b = vec![1u8];
        b.extend_from_slice(&code.to_le_bytes());
        b
    }

    fn line(code: u32, coords: &[f64]) -> Vec<u8> {
        let dims = match code / 1000 {
            0 => 2,
            3 => 4,
            _ => 3,
        };
        let mut b = header(code);
        b.extend_from_slice(&((coords.len() / dims) as u32).to_le_bytes());
        for c in coords {
            b.extend_from_slice(&c.to_le_bytes());
        }
        b
    }

    #[test]
    fn wkb_written_by_geozero_passes_the_walk_and_decodes() {
        use geozero::{CoordDimensions, ToWkb};
        let g: geo::Geometry<f64> = geo::MultiPolygon::new(vec![geo::Polygon::new(
            geo::LineString::from(vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]),
            vec![],
        )])
        .into();
        let wkb = g.to_wkb(CoordDimensions::xy()).unwrap();
        assert_eq!(check(&wkb, BUDGET), Ok(4));
        assert_eq!(read(&wkb, BUDGET).unwrap(), g);
    }

    #[test]
    fn iso_z_and_m_positions_are_sized_by_their_type_code() {
        let xyz = line(1002, &[108.0, 16.0, 5.0, 108.1, 16.1, 6.0]);
        assert_eq!(check(&xyz, BUDGET), Ok(2));
        let g = read(&xyz, BUDGET).unwrap();
        assert_eq!(
            g,
            geo::Geometry::LineString(geo::LineString::from(vec![(108.0, 16.0), (108.1, 16.1)]))
        );
        let xyzm = line(3002, &[108.0, 16.0, 5.0, 1.0, 108.1, 16.1, 6.0, 2.0]);
        assert_eq!(check(&xyzm, BUDGET), Ok(2));
        // Read as if 2D, the same bytes would leave bytes over.
        let mut lying = xyzm.clone();
        lying[1..5].copy_from_slice(&2u32.to_le_bytes());
        assert!(check(&lying, BUDGET).is_err());
    }

    #[test]
    fn a_count_larger_than_the_bytes_that_remain_is_refused_before_allocating() {
        let mut b = header(2);
        b.extend_from_slice(&(1u32 << 31).to_le_bytes());
        b.extend_from_slice(&[0; 16]);
        let e = check(&b, BUDGET).unwrap_err().to_string();
        assert!(e.contains("2147483648 positions claimed"), "{e}");
        let mut c = header(7);
        c.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(check(&c, BUDGET).is_err());
    }

    #[test]
    fn deep_collections_ewkb_curves_and_trailing_bytes_are_refused() {
        let mut deep = Vec::new();
        for _ in 0..100_000 {
            deep.extend(header(7));
            deep.extend_from_slice(&1u32.to_le_bytes());
        }
        deep.extend(line(2, &[0.0, 0.0, 1.0, 1.0]));
        assert_eq!(
            check(&deep, BUDGET),
            Err(GeometryReadError::Depth { limit: 8 })
        );
        assert!(read(&deep, BUDGET).is_err());
        let ewkb = line(0x8000_0002, &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        assert!(
            check(&ewkb, BUDGET)
                .unwrap_err()
                .to_string()
                .contains("extended WKB")
        );
        assert!(
            check(&header(8), BUDGET)
                .unwrap_err()
                .to_string()
                .contains("curved")
        );
        let mut trailing = line(2, &[0.0, 0.0, 1.0, 1.0]);
        trailing.push(0);
        assert!(check(&trailing, BUDGET).is_err());
        let mut bad_order = line(2, &[0.0, 0.0, 1.0, 1.0]);
        bad_order[0] = 7;
        assert!(check(&bad_order, BUDGET).is_err());
    }

    /// A polygon of one ring with `coords` (x, y pairs), little-endian.
    fn polygon(coords: &[f64]) -> Vec<u8> {
        let mut b = header(3);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&((coords.len() / 2) as u32).to_le_bytes());
        for c in coords {
            b.extend_from_slice(&c.to_le_bytes());
        }
        b
    }

    #[test]
    fn open_or_short_polygon_rings_are_refused_as_postgis_does() {
        // Decoded, an open ring would be closed with a position nobody counted.
        let short = polygon(&[108.2, 16.0]);
        let e = check(&short, BUDGET).unwrap_err().to_string();
        assert!(
            e.contains("has 1 positions; a ring needs at least 4"),
            "{e}"
        );
        let open = polygon(&[0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]);
        let e = check(&open, BUDGET).unwrap_err().to_string();
        assert!(e.contains("is not closed"), "{e}");
        let closed = polygon(&[0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(check(&closed, BUDGET), Ok(4));
    }

    #[test]
    fn positions_over_the_budget_are_counted_and_named() {
        let coords: Vec<f64> = (0..2002).map(f64::from).collect();
        let b = line(2, &coords);
        assert_eq!(
            check(&b, BUDGET),
            Err(GeometryReadError::Positions {
                found: 1001,
                limit: 1000
            })
        );
    }
}
