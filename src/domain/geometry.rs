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
//! lie outside the shell (`geo::Validation`'s rules, checked in O(n log n):
//! see [`ring_self_intersection`]).
//!
//! Each layer bounds the size of its geometries ([`GeometryLimits`]): the
//! positions, parts and rings are counted from the array lengths before any
//! position is read or any ring checked, so an oversized geometry costs a
//! walk over the lengths of its arrays and nothing more.

use geo::line_intersection::line_intersection;
use geo::{Coord, Geometry, Line, LineString, MultiLineString, MultiPolygon, Point, Polygon};
use serde_json::Value;

use super::{CollectionId, Invalid};

/// The most a layer's geometry may hold (each bound is per feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeometryLimits {
    /// Positions (vertices) in the whole geometry.
    pub max_vertices: usize,
    /// Parts: line strings of a MultiLineString, polygons of a MultiPolygon.
    pub max_parts: usize,
    /// Rings (exterior and holes) over all polygons.
    pub max_rings: usize,
}

impl GeometryLimits {
    /// The limits of `layer`'s geometries. Towers are Points; a fibre route
    /// may follow a long corridor with survey-grade vertices; a data centre
    /// footprint is a building; a district is an administrative boundary
    /// (the sample districts have at most 886 positions, the city outline
    /// 1,257).
    pub const fn of(layer: CollectionId) -> Self {
        match layer {
            CollectionId::Towers => Self {
                max_vertices: 1,
                max_parts: 1,
                max_rings: 0,
            },
            CollectionId::FibreRoutes => Self {
                max_vertices: 100_000,
                max_parts: 1_000,
                max_rings: 0,
            },
            CollectionId::DataCentres => Self {
                max_vertices: 10_000,
                max_parts: 1,
                max_rings: 100,
            },
            CollectionId::Districts => Self {
                max_vertices: 200_000,
                max_parts: 1_000,
                max_rings: 10_000,
            },
            CollectionId::Structures => Self {
                max_vertices: 1,
                max_parts: 1,
                max_rings: 0,
            },
            // A bank runs between two structures 80–200 m apart, along a
            // street: a few bends, not a corridor.
            CollectionId::DuctBanks => Self {
                max_vertices: 10_000,
                max_parts: 1,
                max_rings: 0,
            },
        }
    }
}

/// What a per-layer geometry limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Positions (vertices).
    Vertices,
    /// Parts of a multi-geometry.
    Parts,
    /// Polygon rings.
    Rings,
}

fn feature_name(layer: CollectionId) -> &'static str {
    match layer {
        CollectionId::Towers => "a tower",
        CollectionId::FibreRoutes => "a fibre route",
        CollectionId::DataCentres => "a data centre",
        CollectionId::Districts => "a district",
        CollectionId::Structures => "a structure",
        CollectionId::DuctBanks => "a duct bank",
    }
}

/// The refusal of a geometry of `layer` with `found` of `what`, naming the
/// limit, e.g. "has 150,000 positions; a fibre route may have at most
/// 100,000 (limit: fibre-routes max vertices)".
pub fn over_limit(layer: CollectionId, what: Counted, found: usize) -> String {
    let limits = GeometryLimits::of(layer);
    let (noun, limit, setting) = match what {
        Counted::Vertices => ("positions", limits.max_vertices, "max vertices"),
        Counted::Parts => ("parts", limits.max_parts, "max parts"),
        Counted::Rings => ("rings", limits.max_rings, "max rings"),
    };
    format!(
        "has {} {noun}; {} may have at most {} (limit: {layer} {setting})",
        crate::format::json::thousands(found),
        feature_name(layer),
        crate::format::json::thousands(limit)
    )
}

/// Counts the positions, parts and rings of the `coordinates` of a geometry
/// of type `gtype` from array lengths only (a fixed number of levels, no
/// recursion); anything not shaped as the type counts as nothing here, and
/// is reported by the parser.
fn measure(gtype: &str, coords: &Value) -> (usize, usize, usize) {
    fn arr(v: &Value) -> &[Value] {
        v.as_array().map_or(&[][..], Vec::as_slice)
    }
    fn len(v: &Value) -> usize {
        arr(v).len()
    }
    fn rings(v: &Value) -> (usize, usize) {
        (len(v), arr(v).iter().map(len).sum())
    }
    match gtype {
        "Point" => (1, 1, 0),
        "LineString" => (len(coords), 1, 0),
        "MultiLineString" => (arr(coords).iter().map(len).sum(), len(coords), 0),
        "Polygon" => {
            let (r, v) = rings(coords);
            (v, 1, r)
        }
        "MultiPolygon" => arr(coords)
            .iter()
            .fold((0, len(coords), 0), |(v, p, r), poly| {
                let (pr, pv) = rings(poly);
                (v + pv, p, r + pr)
            }),
        _ => (0, 0, 0),
    }
}

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
        match ring_fault(&ring) {
            None => Some(ring),
            Some(RingFault::Crossing(at)) => {
                self.errors.push(
                    ptr,
                    format!("ring intersects itself at lon {:.7}, lat {:.7}", at.x, at.y),
                );
                None
            }
            Some(RingFault::TooIntricate { budget }) => {
                self.errors.push(
                    ptr,
                    format!(
                        "ring too intricate to validate: its segments' bounding boxes overlap in more than {budget} pairs ({PAIR_TESTS_PER_SEGMENT} per segment + {PAIR_TESTS_ALLOWANCE}); simplify it or split the polygon"
                    ),
                );
                None
            }
        }
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
        if let Some(e) = polygon_fault(&polygon) {
            self.errors.push(ptr, format!("invalid polygon: {e}"));
            return None;
        }
        Some(polygon)
    }
}

/// Most segment pairs whose bounding boxes overlap that
/// [`ring_self_intersection`] tests per segment of the ring, beyond a fixed
/// allowance of [`PAIR_TESTS_ALLOWANCE`]: rings of real outlines test a few
/// pairs per segment; only a bundle of long, nearly parallel segments needs
/// more.
pub const PAIR_TESTS_PER_SEGMENT: usize = 64;

/// Pair tests every ring may use whatever its size (see
/// [`PAIR_TESTS_PER_SEGMENT`]).
pub const PAIR_TESTS_ALLOWANCE: usize = 1_000_000;

/// What [`ring_self_intersection`] found wrong with a ring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RingFault {
    /// Two non-adjacent segments meet (or adjacent ones overlap) at this
    /// lon/lat position.
    Crossing(Coord<f64>),
    /// The ring's segments overlap so much (in their bounding boxes) that
    /// checking it would take more than `budget` pair tests.
    TooIntricate {
        /// The pair tests allowed for this ring.
        budget: usize,
    },
}

/// Finds a point where two non-adjacent segments of a closed ring meet (or
/// two adjacent ones overlap along a stretch), if any. Consecutive repeated
/// positions are ignored.
///
/// Cost: O(n log n + m) for n segments, where m is the number of segment
/// pairs whose bounding boxes overlap: the segments' boxes are bulk-loaded
/// into an R-tree (rstar, O(n log n)) and each segment is tested only
/// against the segments whose boxes meet its own (a query costs O(log n) +
/// its answers). Outlines, combs and zig-zags have m = O(n); m is bounded by
/// `PAIR_TESTS_PER_SEGMENT · n + PAIR_TESTS_ALLOWANCE` tests, beyond which
/// the ring is refused as [`RingFault::TooIntricate`] rather than checked
/// in quadratic time. The answer is the same as a test of every pair.
pub fn ring_self_intersection(ring: &LineString<f64>) -> Option<Coord<f64>> {
    match ring_fault(ring) {
        Some(RingFault::Crossing(at)) => Some(at),
        _ => None,
    }
}

/// [`ring_self_intersection`] that also reports a ring too intricate to
/// check within its budget.
pub fn ring_fault(ring: &LineString<f64>) -> Option<RingFault> {
    use rstar::primitives::{GeomWithData, Rectangle};
    use rstar::{AABB, RTree};
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
    let envelope = |l: &Line<f64>| AABB::from_corners([l.start.x, l.start.y], [l.end.x, l.end.y]);
    let tree = RTree::bulk_load(
        segs.iter()
            .enumerate()
            .map(|(i, l)| {
                let e = envelope(l);
                GeomWithData::new(Rectangle::from_aabb(e), i)
            })
            .collect(),
    );
    let budget = PAIR_TESTS_PER_SEGMENT
        .saturating_mul(n)
        .saturating_add(PAIR_TESTS_ALLOWANCE);
    let mut tests = 0usize;
    // The crossing reported is the one of the lowest pair (i, j), so that
    // the answer does not depend on the tree's layout.
    let mut found: Option<((usize, usize), Coord<f64>)> = None;
    for (i, seg) in segs.iter().enumerate() {
        if found.is_some_and(|((fi, _), _)| fi < i) {
            break;
        }
        for cand in tree.locate_in_envelope_intersecting(envelope(seg)) {
            let j = cand.data;
            if j <= i {
                continue;
            }
            tests += 1;
            if tests > budget {
                return Some(RingFault::TooIntricate { budget });
            }
            if found.is_some_and(|(pair, _)| pair <= (i, j)) {
                continue;
            }
            if let Some(at) = segment_fault(&segs, n, i, j) {
                found = Some(((i, j), at));
            }
        }
    }
    found.map(|(_, at)| RingFault::Crossing(at))
}

/// Where segments `a < b` of a ring of `n` segments meet when they must
/// not: anywhere for non-adjacent ones, along a stretch for adjacent ones.
fn segment_fault(segs: &[Line<f64>], n: usize, a: usize, b: usize) -> Option<Coord<f64>> {
    let adjacent = b == a + 1 || (a == 0 && b == n - 1);
    match line_intersection(segs[a], segs[b]) {
        Some(geo::LineIntersection::Collinear { intersection })
            if !adjacent || intersection.start != intersection.end =>
        {
            Some(intersection.start)
        }
        Some(geo::LineIntersection::SinglePoint { intersection, .. }) if !adjacent => {
            Some(intersection)
        }
        _ => None,
    }
}

/// The validity of a polygon whose rings each passed [`Parser::ring`]
/// (closed, at least 4 positions, finite, not self-intersecting): at least
/// 3 distinct positions per ring, every hole inside the shell and touching
/// it at points only, and no two holes overlapping or touching along a line
/// (`geo::Validation`'s rules for polygons, without its ring check, which
/// tests every pair of segments: O(n²)).
///
/// Cost: O(h · n log n) relate operations for h holes (geo's relate builds a
/// graph of both rings and intersects their edges with an R-tree), plus one
/// per pair of holes whose bounding boxes meet.
fn polygon_fault(polygon: &Polygon<f64>) -> Option<geo::algorithm::validation::InvalidPolygon> {
    use geo::algorithm::validation::{InvalidPolygon, RingRole};
    use geo::coordinate_position::CoordPos;
    use geo::dimensions::Dimensions;
    use geo::{BoundingRect, Intersects, PreparedGeometry, Relate};
    for (k, ring) in std::iter::once(polygon.exterior())
        .chain(polygon.interiors())
        .enumerate()
    {
        let mut distinct: Vec<Coord<f64>> = ring.0.clone();
        distinct.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
        distinct.dedup();
        if distinct.len() < 3 {
            let role = if k == 0 {
                RingRole::Exterior
            } else {
                RingRole::Interior(k - 1)
            };
            return Some(InvalidPolygon::TooFewPointsInRing(role));
        }
    }
    if polygon.interiors().is_empty() {
        return None;
    }
    let shell = Polygon::new(polygon.exterior().clone(), vec![]);
    let shell = PreparedGeometry::from(&shell);
    let holes: Vec<Polygon<f64>> = polygon
        .interiors()
        .iter()
        .map(|r| Polygon::new(r.clone(), vec![]))
        .collect();
    for (i, hole) in holes.iter().enumerate() {
        let m = shell.relate(hole);
        if !m.is_contains() {
            return Some(InvalidPolygon::InteriorRingNotContainedInExteriorRing(
                RingRole::Interior(i),
            ));
        }
        if m.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
            return Some(InvalidPolygon::IntersectingRingsOnALine(
                RingRole::Exterior,
                RingRole::Interior(i),
            ));
        }
    }
    let boxes: Vec<_> = holes.iter().map(BoundingRect::bounding_rect).collect();
    for i in 0..holes.len() {
        for j in i + 1..holes.len() {
            let (Some(a), Some(b)) = (boxes[i], boxes[j]) else {
                continue;
            };
            if !a.intersects(&b) {
                continue;
            }
            let m = holes[i].relate(&holes[j]);
            if m.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional {
                return Some(InvalidPolygon::IntersectingRingsOnAnArea(
                    RingRole::Interior(i),
                    RingRole::Interior(j),
                ));
            }
            if m.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
                return Some(InvalidPolygon::IntersectingRingsOnALine(
                    RingRole::Interior(i),
                    RingRole::Interior(j),
                ));
            }
        }
    }
    None
}

/// The validity of a multipolygon of valid polygons: no two members overlap
/// or touch along a line (`geo::Validation`'s rule, tested only for the
/// pairs whose bounding boxes meet, without revalidating each member).
fn multipolygon_fault(
    mp: &MultiPolygon<f64>,
) -> Option<geo::algorithm::validation::InvalidMultiPolygon> {
    use geo::algorithm::validation::{GeometryIndex, InvalidMultiPolygon};
    use geo::coordinate_position::CoordPos;
    use geo::dimensions::Dimensions;
    use geo::{BoundingRect, Intersects, Relate};
    let boxes: Vec<_> = mp.0.iter().map(BoundingRect::bounding_rect).collect();
    for i in 0..mp.0.len() {
        for j in i + 1..mp.0.len() {
            let (Some(a), Some(b)) = (boxes[i], boxes[j]) else {
                continue;
            };
            if !a.intersects(&b) {
                continue;
            }
            let m = mp.0[i].relate(&mp.0[j]);
            if m.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional {
                return Some(InvalidMultiPolygon::ElementsOverlaps(
                    GeometryIndex(i),
                    GeometryIndex(j),
                ));
            }
            if m.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
                return Some(InvalidMultiPolygon::ElementsTouchOnALine(
                    GeometryIndex(i),
                    GeometryIndex(j),
                ));
            }
        }
    }
    None
}

/// Parses and validates the member `geometry` (located at `pointer`) of a
/// feature of `layer`: its GeoJSON type must be one the layer allows, and
/// its size within the layer's [`GeometryLimits`].
///
/// # Errors
/// Every problem found, each with a JSON Pointer below `pointer`; a geometry
/// over a limit gets that one problem, naming the limit.
pub fn parse_geometry(
    value: Option<&Value>,
    layer: CollectionId,
    pointer: &str,
) -> Result<Geometry<f64>, Invalid> {
    let allowed = layer.geometry_types();
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
    let (vertices, parts, rings) = measure(gtype, coords);
    let limits = GeometryLimits::of(layer);
    let mut over = false;
    for (what, found, limit) in [
        (Counted::Vertices, vertices, limits.max_vertices),
        (Counted::Parts, parts, limits.max_parts),
        (Counted::Rings, rings, limits.max_rings),
    ] {
        if found > limit {
            p.errors.push(&cptr, over_limit(layer, what, found));
            over = true;
        }
    }
    if over {
        return Err(p.errors);
    }
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
                    match multipolygon_fault(&mp) {
                        None => Some(mp.into()),
                        Some(e) => {
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

    fn parse(v: Value, layer: CollectionId) -> Result<Geometry<f64>, Invalid> {
        parse_geometry(Some(&v), layer, "/geometry")
    }

    /// A closed ring of `n` positions around (108.2, 16.05), counter-clockwise.
    fn ring(n: usize, r: f64) -> Value {
        let mut pts: Vec<Value> = (0..n - 1)
            .map(|i| {
                let a = i as f64 / (n - 1) as f64 * std::f64::consts::TAU;
                json!([108.2 + r * a.cos(), 16.05 + r * a.sin()])
            })
            .collect();
        pts.push(pts[0].clone());
        Value::Array(pts)
    }

    #[test]
    fn a_geometry_over_its_layers_vertex_limit_is_refused_naming_the_limit() {
        let line: Vec<Value> = (0..150_000)
            .map(|i| json!([108.0 + i as f64 * 1e-6, 16.0]))
            .collect();
        let e = parse(
            json!({"type": "LineString", "coordinates": line}),
            CollectionId::FibreRoutes,
        )
        .unwrap_err();
        assert_eq!(e.errors.len(), 1, "{e:?}");
        assert_eq!(e.errors[0].pointer, "/geometry/coordinates");
        assert_eq!(
            e.errors[0].detail,
            "has 150,000 positions; a fibre route may have at most 100,000 (limit: fibre-routes max vertices)"
        );
        let at_limit: Vec<Value> = line[..100_000].to_vec();
        assert!(
            parse(
                json!({"type": "LineString", "coordinates": at_limit}),
                CollectionId::FibreRoutes
            )
            .is_ok()
        );
    }

    #[test]
    fn parts_and_rings_are_limited_per_layer() {
        let square = ring(5, 0.001);
        let holes: Vec<Value> = std::iter::once(ring(40, 0.01))
            .chain((0..101).map(|_| square.clone()))
            .collect();
        let e = parse(
            json!({"type": "Polygon", "coordinates": holes}),
            CollectionId::DataCentres,
        )
        .unwrap_err();
        assert!(
            e.errors[0].detail.contains(
                "has 102 rings; a data centre may have at most 100 (limit: data-centres max rings)"
            ),
            "{e:?}"
        );
        let lines: Vec<Value> = (0..1001)
            .map(|i| json!([[108.0, 16.0 + i as f64 * 1e-4], [108.1, 16.0]]))
            .collect();
        let e = parse(
            json!({"type": "MultiLineString", "coordinates": lines}),
            CollectionId::FibreRoutes,
        )
        .unwrap_err();
        assert!(
            e.errors[0]
                .detail
                .contains("(limit: fibre-routes max parts)"),
            "{e:?}"
        );
        let district = json!({"type": "MultiPolygon", "coordinates": [[ring(5_000, 0.05)]]});
        assert!(parse(district, CollectionId::Districts).is_ok());
    }

    #[test]
    fn a_valid_point_parses_in_lon_lat_order() {
        let g = parse(
            json!({"type": "Point", "coordinates": [108.2, 16.05]}),
            CollectionId::Towers,
        )
        .unwrap();
        assert_eq!(g, Geometry::Point(Point::new(108.2, 16.05)));
    }

    #[test]
    fn swapped_coordinates_are_reported_with_a_hint() {
        let e = parse(
            json!({"type": "Point", "coordinates": [16.05, 108.2]}),
            CollectionId::Towers,
        )
        .unwrap_err();
        assert_eq!(e.errors[0].pointer, "/geometry/coordinates/1");
        assert!(e.errors[0].detail.contains("swapped"), "{e:?}");
    }

    #[test]
    fn a_bow_tie_ring_reports_where_it_crosses() {
        let bow = json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [2.0, 2.0], [2.0, 0.0], [0.0, 2.0], [0.0, 0.0]]]});
        let e = parse(bow, CollectionId::Districts).unwrap_err();
        assert_eq!(e.errors[0].pointer, "/geometry/coordinates/0");
        assert!(
            e.errors[0].detail.contains("lon 1.0000000, lat 1.0000000"),
            "{e:?}"
        );
    }

    #[test]
    fn an_open_ring_is_rejected() {
        let open = json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]});
        let e = parse(open, CollectionId::Districts).unwrap_err();
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

    /// Brute force: every pair of segments, the lowest pair's point.
    fn every_pair(ring: &LineString<f64>) -> Option<Coord<f64>> {
        let mut pts: Vec<Coord<f64>> = Vec::new();
        for c in &ring.0 {
            if pts.last() != Some(c) {
                pts.push(*c);
            }
        }
        let n = pts.len().saturating_sub(1);
        if n < 3 {
            return None;
        }
        let segs: Vec<Line<f64>> = (0..n).map(|i| Line::new(pts[i], pts[i + 1])).collect();
        (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .find_map(|(a, b)| segment_fault(&segs, n, a, b))
    }

    /// Seeded rings: star-shaped ones (vertices sorted by angle around a
    /// centre: simple), some with a vertex moved (often crossing), random
    /// walks (mostly crossing), and rings on a coarse grid (shared
    /// vertices, collinear overlaps, touching spikes).
    fn random_rings(seed: u64, count: usize) -> Vec<LineString<f64>> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..count)
            .map(|k| {
                let n = rng.gen_range(3..40);
                let mut pts: Vec<Coord<f64>> = match k % 3 {
                    0 => {
                        let mut angles: Vec<f64> = (0..n)
                            .map(|_| rng.gen_range(0.0..std::f64::consts::TAU))
                            .collect();
                        angles.sort_by(f64::total_cmp);
                        let mut pts: Vec<Coord<f64>> = angles
                            .iter()
                            .map(|a| {
                                let r = rng.gen_range(0.2..1.0);
                                Coord {
                                    x: 108.2 + r * a.cos() * 0.01,
                                    y: 16.05 + r * a.sin() * 0.01,
                                }
                            })
                            .collect();
                        if rng.gen_bool(0.5) {
                            let i = rng.gen_range(0..pts.len());
                            pts[i].x += rng.gen_range(-0.015..0.015);
                        }
                        pts
                    }
                    1 => (0..n)
                        .map(|_| Coord {
                            x: rng.gen_range(0.0..1.0),
                            y: rng.gen_range(0.0..1.0),
                        })
                        .collect(),
                    _ => (0..n)
                        .map(|_| Coord {
                            x: f64::from(rng.gen_range(0..4)),
                            y: f64::from(rng.gen_range(0..4)),
                        })
                        .collect(),
                };
                pts.push(pts[0]);
                LineString::new(pts)
            })
            .collect()
    }

    #[test]
    fn the_indexed_check_finds_what_testing_every_pair_finds() {
        let (mut crossing, mut simple) = (0, 0);
        for ring in random_rings(14, 3_000) {
            let expected = every_pair(&ring);
            assert_eq!(ring_self_intersection(&ring), expected, "{ring:?}");
            if expected.is_some() {
                crossing += 1;
            } else {
                simple += 1;
            }
        }
        assert!(
            crossing > 500 && simple > 500,
            "{crossing} crossing, {simple} simple"
        );
    }

    /// A comb: `teeth` horizontal teeth, each spanning the same x range, so
    /// every segment overlaps every other in x.
    fn comb(teeth: usize) -> Vec<Coord<f64>> {
        let (x0, x1, y0) = (108.10, 108.30, 16.00);
        let dy = 0.1 / teeth as f64;
        let mut pts = vec![Coord { x: x0, y: y0 }];
        for t in 0..teeth {
            let y = y0 + dy * t as f64;
            pts.push(Coord { x: x1, y });
            pts.push(Coord {
                x: x1,
                y: y + dy * 0.5,
            });
            pts.push(Coord {
                x: x0 + 0.001,
                y: y + dy * 0.5,
            });
            pts.push(Coord {
                x: x0 + 0.001,
                y: y + dy,
            });
        }
        pts.push(Coord { x: x0, y: y0 + 0.1 });
        pts.push(pts[0]);
        pts
    }

    #[test]
    fn a_comb_of_60000_vertices_is_checked_without_testing_every_pair() {
        let pts = comb(15_000);
        assert!(pts.len() > 60_000);
        let ring = LineString::new(pts.clone());
        assert_eq!(ring_fault(&ring), None);
        // Pull the left end of tooth 7,000's top edge out across the comb's
        // back (x = 108.10): the first crossing is that edge's.
        let mut crossed = pts;
        crossed[4 * 7_000 + 3].x = 108.10 - 0.0005;
        let at = ring_self_intersection(&LineString::new(crossed)).expect("a crossing");
        assert!((at.x - 108.10).abs() < 1e-9, "{at:?}");
        assert!(
            (at.y - (16.0 + 0.1 / 15_000.0 * 7_000.5)).abs() < 1e-9,
            "{at:?}"
        );
    }

    #[test]
    fn a_bundle_of_long_parallel_segments_is_refused_within_its_budget() {
        // A serpentine of nearly parallel diagonals: every box meets every
        // other; the check gives up instead of testing n² pairs.
        let n = 3_000;
        let mut pts = Vec::new();
        for k in 0..n {
            let e = k as f64 * 1e-6;
            if k % 2 == 0 {
                pts.push(Coord { x: 0.0, y: e });
            } else {
                pts.push(Coord { x: 1.0, y: 1.0 + e });
            }
        }
        pts.push(Coord { x: -0.1, y: 0.5 });
        pts.push(pts[0]);
        let budget = PAIR_TESTS_PER_SEGMENT * (n + 1) + PAIR_TESTS_ALLOWANCE;
        assert!(n * n / 2 > budget);
        assert_eq!(
            ring_fault(&LineString::new(pts)),
            Some(RingFault::TooIntricate { budget })
        );
    }

    #[test]
    fn holes_and_members_are_still_checked_as_geo_checks_them() {
        let shell = json!([
            [0.0, 0.0],
            [10.0, 0.0],
            [10.0, 10.0],
            [0.0, 10.0],
            [0.0, 0.0]
        ]);
        let inside = json!([[1.0, 1.0], [1.0, 2.0], [2.0, 2.0], [2.0, 1.0], [1.0, 1.0]]);
        let outside = json!([
            [11.0, 1.0],
            [11.0, 2.0],
            [12.0, 2.0],
            [12.0, 1.0],
            [11.0, 1.0]
        ]);
        let overlapping = json!([[1.5, 1.5], [1.5, 3.0], [3.0, 3.0], [3.0, 1.5], [1.5, 1.5]]);
        let ok = json!({"type": "Polygon", "coordinates": [shell, inside]});
        assert!(parse(ok, CollectionId::Districts).is_ok());
        for bad in [
            json!({"type": "Polygon", "coordinates": [shell, outside]}),
            json!({"type": "Polygon", "coordinates": [shell, inside, overlapping]}),
            json!({"type": "MultiPolygon", "coordinates": [[shell], [inside]]}),
        ] {
            let e = parse(bad.clone(), CollectionId::Districts).unwrap_err();
            assert!(e.errors[0].detail.starts_with("invalid "), "{bad}: {e:?}");
        }
        let apart = json!({"type": "MultiPolygon", "coordinates": [[shell], [outside]]});
        assert!(parse(apart, CollectionId::Districts).is_ok());
        // Three distinct positions at least.
        let flat = json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]]});
        assert!(parse(flat, CollectionId::Districts).is_err());
    }

    #[test]
    fn a_disallowed_geometry_type_names_the_accepted_ones() {
        let e = parse(
            json!({"type": "Point", "coordinates": [1.0, 1.0]}),
            CollectionId::FibreRoutes,
        )
        .unwrap_err();
        assert_eq!(e.errors[0].pointer, "/geometry/type");
        assert!(e.errors[0].detail.contains("LineString or MultiLineString"));
    }

    #[test]
    fn a_foreign_crs_is_rejected() {
        let g = json!({"type": "Point", "coordinates": [1.0, 1.0],
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}});
        let e = parse(g, CollectionId::Towers).unwrap_err();
        assert_eq!(e.errors[0].pointer, "/geometry/crs");
    }
}
