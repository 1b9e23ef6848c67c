//! GeoJSON geometry input: parsing and validation into `geo` types.
//!
//! Accepts RFC 7946 geometry objects in EPSG:4326 with positions in
//! **lon/lat order** (a third, altitude, coordinate is accepted and dropped).
//! Rejects, with a JSON Pointer to the offending member: unknown or
//! disallowed geometry types, non-finite or out-of-range coordinates (lon
//! −180…180, lat −90…90), a `crs` other than CRS84/EPSG:4326, line strings
//! with fewer than two distinct positions, rings that are not closed or have
//! fewer than four positions, self-intersecting rings (the error gives the
//! lon/lat of an intersection), and polygons whose rings cross or whose holes
//! lie outside the shell (checked with `geo::Validation`).

use geo::{Coord, Geometry, Line, LineString, MultiLineString, MultiPolygon, Point, Polygon};
use geo::{Validation, line_intersection::line_intersection};
use serde_json::Value;

use super::Invalid;

/// CRS identifiers accepted in a `crs` member or a `Content-Crs` header.
pub const ACCEPTED_CRS: &[&str] = &[
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "https://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "urn:ogc:def:crs:OGC::CRS84",
    "http://www.opengis.net/def/crs/EPSG/0/4326",
    "https://www.opengis.net/def/crs/EPSG/0/4326",
    "urn:ogc:def:crs:EPSG::4326",
    "EPSG:4326",
    "OGC:CRS84",
];

/// True when `crs` names CRS84 or EPSG:4326 (the only CRS stored here).
pub fn is_accepted_crs(crs: &str) -> bool {
    let c = crs.trim().trim_start_matches('<').trim_end_matches('>');
    ACCEPTED_CRS.iter().any(|a| a.eq_ignore_ascii_case(c))
}

/// Checks a legacy GeoJSON 2008 `crs` member, if present, at `pointer`.
pub fn check_crs_member(obj: &serde_json::Map<String, Value>, pointer: &str, errors: &mut Invalid) {
    let Some(crs) = obj.get("crs") else { return };
    if crs.is_null() {
        return;
    }
    let name = crs
        .get("properties")
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str);
    match name {
        Some(n) if is_accepted_crs(n) => {}
        Some(n) => errors.push(
            format!("{pointer}/crs"),
            format!(
                "coordinate reference system '{n}' is not supported: send EPSG:4326 (CRS84) lon/lat"
            ),
        ),
        None => errors.push(
            format!("{pointer}/crs"),
            "unrecognised crs member: RFC 7946 GeoJSON has no crs; send EPSG:4326 lon/lat",
        ),
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

struct Parser {
    errors: Invalid,
}

impl Parser {
    fn position(&mut self, v: &Value, ptr: &str) -> Option<Coord<f64>> {
        let Some(arr) = v.as_array() else {
            self.errors.push(
                ptr,
                format!(
                    "a position must be an array [lon, lat], got {}",
                    describe(v)
                ),
            );
            return None;
        };
        if arr.len() < 2 || arr.len() > 3 {
            self.errors.push(
                ptr,
                format!(
                    "a position must have 2 numbers [lon, lat] (or 3 with altitude), got {}",
                    arr.len()
                ),
            );
            return None;
        }
        let (Some(lon), Some(lat)) = (arr[0].as_f64(), arr[1].as_f64()) else {
            self.errors
                .push(ptr, "a position's coordinates must be numbers [lon, lat]");
            return None;
        };
        if arr.len() == 3 && arr[2].as_f64().is_none() {
            self.errors
                .push(format!("{ptr}/2"), "altitude must be a number");
            return None;
        }
        let mut ok = true;
        if !(-180.0..=180.0).contains(&lon) {
            self.errors.push(
                format!("{ptr}/0"),
                format!("longitude {lon} is out of range −180…180 (positions are [lon, lat])"),
            );
            ok = false;
        }
        if !(-90.0..=90.0).contains(&lat) {
            let hint = if (-90.0..=90.0).contains(&lon) && (-180.0..=180.0).contains(&lat) {
                "; are longitude and latitude swapped? GeoJSON positions are [lon, lat]"
            } else {
                ""
            };
            self.errors.push(
                format!("{ptr}/1"),
                format!("latitude {lat} is out of range −90…90{hint}"),
            );
            ok = false;
        }
        ok.then_some(Coord { x: lon, y: lat })
    }

    fn positions(&mut self, v: &Value, ptr: &str) -> Option<Vec<Coord<f64>>> {
        let Some(arr) = v.as_array() else {
            self.errors.push(
                ptr,
                format!("must be an array of positions, got {}", describe(v)),
            );
            return None;
        };
        let before = self.errors.errors.len();
        let coords: Vec<Coord<f64>> = arr
            .iter()
            .enumerate()
            .filter_map(|(i, p)| self.position(p, &format!("{ptr}/{i}")))
            .collect();
        (self.errors.errors.len() == before).then_some(coords)
    }

    fn line_string(&mut self, v: &Value, ptr: &str) -> Option<LineString<f64>> {
        let coords = self.positions(v, ptr)?;
        let distinct = coords.windows(2).any(|w| w[0] != w[1]);
        if coords.len() < 2 || !distinct {
            self.errors
                .push(ptr, "a line string needs at least two distinct positions");
            return None;
        }
        Some(LineString::new(coords))
    }

    fn ring(&mut self, v: &Value, ptr: &str) -> Option<LineString<f64>> {
        let coords = self.positions(v, ptr)?;
        if coords.len() < 4 {
            self.errors.push(
                ptr,
                format!(
                    "a linear ring needs at least 4 positions (first = last), got {}",
                    coords.len()
                ),
            );
            return None;
        }
        let (first, last) = (coords[0], coords[coords.len() - 1]);
        if first != last {
            self.errors.push(
                ptr,
                format!(
                    "ring is not closed: first position [{}, {}] differs from last [{}, {}]",
                    first.x, first.y, last.x, last.y
                ),
            );
            return None;
        }
        let ring = LineString::new(coords);
        if let Some(at) = ring_self_intersection(&ring) {
            self.errors.push(
                ptr,
                format!("ring intersects itself at lon {:.7}, lat {:.7}", at.x, at.y),
            );
            return None;
        }
        Some(ring)
    }

    fn polygon(&mut self, v: &Value, ptr: &str) -> Option<Polygon<f64>> {
        let Some(rings) = v.as_array() else {
            self.errors.push(
                ptr,
                format!("must be an array of linear rings, got {}", describe(v)),
            );
            return None;
        };
        if rings.is_empty() {
            self.errors.push(ptr, "a polygon needs an exterior ring");
            return None;
        }
        let before = self.errors.errors.len();
        let parsed: Vec<Option<LineString<f64>>> = rings
            .iter()
            .enumerate()
            .map(|(i, r)| self.ring(r, &format!("{ptr}/{i}")))
            .collect();
        if self.errors.errors.len() != before {
            return None;
        }
        let mut parsed = parsed.into_iter().flatten();
        let exterior = parsed.next()?;
        let polygon = Polygon::new(exterior, parsed.collect());
        if let Err(e) = polygon.check_validation() {
            self.errors.push(ptr, format!("invalid polygon: {e}"));
            return None;
        }
        Some(polygon)
    }
}

/// Finds a point where two non-adjacent segments of a closed ring meet,
/// if any. Consecutive repeated positions are ignored. Segments are swept in
/// order of their minimum longitude, so typical rings cost O(n log n).
pub fn ring_self_intersection(ring: &LineString<f64>) -> Option<Coord<f64>> {
    let mut pts: Vec<Coord<f64>> = Vec::with_capacity(ring.0.len());
    for c in &ring.0 {
        if pts.last() != Some(c) {
            pts.push(*c);
        }
    }
    let n = pts.len().saturating_sub(1); // number of segments
    if n < 3 {
        return None;
    }
    let segs: Vec<Line<f64>> = (0..n).map(|i| Line::new(pts[i], pts[i + 1])).collect();
    let mut order: Vec<usize> = (0..n).collect();
    let min_x = |i: usize| segs[i].start.x.min(segs[i].end.x);
    let max_x = |i: usize| segs[i].start.x.max(segs[i].end.x);
    order.sort_by(|&a, &b| min_x(a).total_cmp(&min_x(b)));
    for (k, &i) in order.iter().enumerate() {
        for &j in &order[k + 1..] {
            if min_x(j) > max_x(i) {
                break;
            }
            let (a, b) = (i.min(j), i.max(j));
            let adjacent = b == a + 1 || (a == 0 && b == n - 1);
            match line_intersection(segs[a], segs[b]) {
                Some(geo::LineIntersection::Collinear { intersection })
                    if !adjacent || intersection.start != intersection.end =>
                {
                    return Some(intersection.start);
                }
                Some(geo::LineIntersection::SinglePoint { intersection, .. }) if !adjacent => {
                    return Some(intersection);
                }
                _ => {}
            }
        }
    }
    None
}

/// Parses and validates the member `geometry` (located at `pointer`) whose
/// GeoJSON type must be one of `allowed`.
///
/// # Errors
/// Every problem found, each with a JSON Pointer below `pointer`.
pub fn parse_geometry(
    value: Option<&Value>,
    allowed: &[&str],
    pointer: &str,
) -> Result<Geometry<f64>, Invalid> {
    let expected = allowed.join(" or ");
    let obj = match value {
        None | Some(Value::Null) => {
            return Err(Invalid::one(
                pointer,
                format!("is required: a GeoJSON {expected} in lon/lat (EPSG:4326)"),
            ));
        }
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(Invalid::one(
                pointer,
                format!("must be a GeoJSON geometry object, got {}", describe(other)),
            ));
        }
    };
    let mut p = Parser {
        errors: Invalid::default(),
    };
    check_crs_member(obj, pointer, &mut p.errors);
    let Some(gtype) = obj.get("type").and_then(Value::as_str) else {
        p.errors.push(
            format!("{pointer}/type"),
            format!("is required: one of {expected}"),
        );
        return Err(p.errors);
    };
    if !allowed.contains(&gtype) {
        p.errors.push(
            format!("{pointer}/type"),
            format!(
                "geometry type {gtype} is not accepted in this collection: expected {expected}"
            ),
        );
        return Err(p.errors);
    }
    let Some(coords) = obj.get("coordinates") else {
        p.errors
            .push(format!("{pointer}/coordinates"), "is required");
        return Err(p.errors);
    };
    let cptr = format!("{pointer}/coordinates");
    let geometry: Option<Geometry<f64>> = match gtype {
        "Point" => p.position(coords, &cptr).map(|c| Point::from(c).into()),
        "LineString" => p.line_string(coords, &cptr).map(Into::into),
        "MultiLineString" => match coords.as_array() {
            Some(lines) if !lines.is_empty() => {
                let before = p.errors.errors.len();
                let parsed: Vec<LineString<f64>> = lines
                    .iter()
                    .enumerate()
                    .filter_map(|(i, l)| p.line_string(l, &format!("{cptr}/{i}")))
                    .collect();
                (p.errors.errors.len() == before).then(|| MultiLineString::new(parsed).into())
            }
            _ => {
                p.errors
                    .push(&cptr, "must be a non-empty array of line strings");
                None
            }
        },
        "Polygon" => p.polygon(coords, &cptr).map(Into::into),
        "MultiPolygon" => match coords.as_array() {
            Some(polys) if !polys.is_empty() => {
                let before = p.errors.errors.len();
                let parsed: Vec<Polygon<f64>> = polys
                    .iter()
                    .enumerate()
                    .filter_map(|(i, poly)| p.polygon(poly, &format!("{cptr}/{i}")))
                    .collect();
                if p.errors.errors.len() == before {
                    let mp = MultiPolygon::new(parsed);
                    match mp.check_validation() {
                        Ok(()) => Some(mp.into()),
                        Err(e) => {
                            p.errors.push(&cptr, format!("invalid multipolygon: {e}"));
                            None
                        }
                    }
                } else {
                    None
                }
            }
            _ => {
                p.errors
                    .push(&cptr, "must be a non-empty array of polygons");
                None
            }
        },
        other => {
            p.errors.push(
                format!("{pointer}/type"),
                format!("unsupported geometry type {other}"),
            );
            None
        }
    };
    match geometry {
        Some(g) if p.errors.is_empty() => Ok(g),
        _ => Err(p.errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value, allowed: &[&str]) -> Result<Geometry<f64>, Invalid> {
        parse_geometry(Some(&v), allowed, "/geometry")
    }

    #[test]
    fn a_valid_point_parses_in_lon_lat_order() {
        let g = parse(
            json!({"type": "Point", "coordinates": [108.2, 16.05]}),
            &["Point"],
        )
        .unwrap();
        assert_eq!(g, Geometry::Point(Point::new(108.2, 16.05)));
    }

    #[test]
    fn swapped_coordinates_are_reported_with_a_hint() {
        let e = parse(
            json!({"type": "Point", "coordinates": [16.05, 108.2]}),
            &["Point"],
        )
        .unwrap_err();
        assert_eq!(e.errors[0].pointer, "/geometry/coordinates/1");
        assert!(e.errors[0].detail.contains("swapped"), "{e:?}");
    }

    #[test]
    fn a_bow_tie_ring_reports_where_it_crosses() {
        let bow = json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [2.0, 2.0], [2.0, 0.0], [0.0, 2.0], [0.0, 0.0]]]});
        let e = parse(bow, &["Polygon"]).unwrap_err();
        assert_eq!(e.errors[0].pointer, "/geometry/coordinates/0");
        assert!(
            e.errors[0].detail.contains("lon 1.0000000, lat 1.0000000"),
            "{e:?}"
        );
    }

    #[test]
    fn an_open_ring_is_rejected() {
        let open = json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]});
        let e = parse(open, &["Polygon"]).unwrap_err();
        assert!(e.errors[0].detail.contains("not closed"), "{e:?}");
    }

    #[test]
    fn a_square_is_not_self_intersecting() {
        let sq = LineString::from(vec![
            (0.0, 0.0),
            (1.0, 0.0),
            (1.0, 1.0),
            (0.0, 1.0),
            (0.0, 0.0),
        ]);
        assert_eq!(ring_self_intersection(&sq), None);
    }

    #[test]
    fn a_disallowed_geometry_type_names_the_accepted_ones() {
        let e = parse(
            json!({"type": "Point", "coordinates": [1.0, 1.0]}),
            &["LineString", "MultiLineString"],
        )
        .unwrap_err();
        assert_eq!(e.errors[0].pointer, "/geometry/type");
        assert!(e.errors[0].detail.contains("LineString or MultiLineString"));
    }

    #[test]
    fn a_foreign_crs_is_rejected() {
        let g = json!({"type": "Point", "coordinates": [1.0, 1.0],
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}});
        let e = parse(g, &["Point"]).unwrap_err();
        assert_eq!(e.errors[0].pointer, "/geometry/crs");
    }
}
