//! The items endpoints' parameters (limit, offset, bbox, crs and the
//! queryables), read with [`super::query::Query`], with 400 errors that name
//! the parameter.

use crate::db::{Bbox, ItemFilter};
use crate::domain::CollectionId;
use crate::domain::geometry::is_accepted_crs;

use super::error::{ApiError, ApiResult, ProblemItem};
use super::query::Query;

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: i64 = 100;
/// Largest page; a larger `limit` is clamped to it (OGC API – Features
/// /req/core/fc-limit-response-1 permits this instead of an error).
pub const MAX_LIMIT: i64 = 10_000;

/// How a queryable's value is checked.
#[derive(Debug, Clone, Copy)]
pub enum QueryableKind {
    /// Any non-empty text up to 200 characters.
    Text,
    /// One of a closed set of values.
    OneOf(&'static [&'static str]),
    /// An integer within bounds.
    Integer(i64, i64),
}

// The closed sets come from the domain's enums (what the write side accepts).
const STATUS: QueryableKind = QueryableKind::OneOf(crate::domain::Status::NAMES);
const STRUCTURE_TYPE: QueryableKind =
    QueryableKind::OneOf(crate::domain::tower::StructureType::NAMES);
const TECHNOLOGY: QueryableKind = QueryableKind::OneOf(crate::domain::tower::Technology::NAMES);
const PLACEMENT: QueryableKind = QueryableKind::OneOf(crate::domain::fibre::Placement::NAMES);
const OPERATOR_HELP: QueryableKind = QueryableKind::Text;
const STRUCTURE_KIND: QueryableKind =
    QueryableKind::OneOf(crate::domain::structure::StructureKind::NAMES);
const NETWORK_STATUS: QueryableKind =
    QueryableKind::OneOf(crate::domain::structure::NetworkStatus::NAMES);
const ENCASEMENT: QueryableKind = QueryableKind::OneOf(crate::domain::duct_bank::Encasement::NAMES);

/// The properties a collection can be filtered on (`?name=value`), with
/// their kinds; these are also the collection's OGC queryables.
pub fn queryables(c: CollectionId) -> &'static [(&'static str, QueryableKind)] {
    match c {
        CollectionId::Towers => &[
            ("operator", OPERATOR_HELP),
            ("tenant", OPERATOR_HELP),
            ("status", STATUS),
            ("structure_type", STRUCTURE_TYPE),
            ("technology", TECHNOLOGY),
            ("site_code", QueryableKind::Text),
            ("external_id", QueryableKind::Text),
        ],
        CollectionId::FibreRoutes => &[
            ("operator", OPERATOR_HELP),
            ("status", STATUS),
            ("placement", PLACEMENT),
            ("external_id", QueryableKind::Text),
        ],
        CollectionId::DataCentres => &[
            ("operator", OPERATOR_HELP),
            ("status", STATUS),
            ("tier", QueryableKind::Integer(1, 4)),
            ("external_id", QueryableKind::Text),
        ],
        CollectionId::Districts => &[("code", QueryableKind::Text), ("name", QueryableKind::Text)],
        CollectionId::Structures => &[
            ("owner", OPERATOR_HELP),
            ("kind", STRUCTURE_KIND),
            ("status", NETWORK_STATUS),
            ("external_id", QueryableKind::Text),
        ],
        CollectionId::DuctBanks => &[
            ("owner", OPERATOR_HELP),
            ("status", NETWORK_STATUS),
            ("encasement", ENCASEMENT),
            ("structure_id", QueryableKind::Text),
            ("external_id", QueryableKind::Text),
        ],
    }
}

/// Splits a raw query string into (name, value) pairs (decoded as
/// [`Query::parse`] does; prefer [`Query`], which also refuses repeated and
/// unknown parameters).
///
/// # Errors
/// 400 when the query string is not valid `application/x-www-form-urlencoded`.
pub fn parse_pairs(raw: Option<&str>) -> ApiResult<Vec<(String, String)>> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or("")).map_err(|e| {
        ApiError::BadRequest {
            detail: format!("malformed query string: {e}"),
            errors: vec![],
        }
    })
}

/// Parses a `bbox` value: `minLon,minLat,maxLon,maxLat` (or the 6-number
/// form with heights, which are ignored). With `swap_axes` (bbox-crs
/// EPSG:4326, whose axis order is lat/lon) the pairs are read lat,lon.
///
/// # Errors
/// 400 naming `bbox` for any malformed or out-of-range value.
pub fn parse_bbox(value: &str, swap_axes: bool) -> ApiResult<Bbox> {
    parse_bbox_named("bbox", value, swap_axes)
}

/// [`parse_bbox`] of the parameter `name`.
///
/// # Errors
/// 400 naming `name` for any malformed or out-of-range value.
pub fn parse_bbox_named(name: &str, value: &str, swap_axes: bool) -> ApiResult<Bbox> {
    let nums: Vec<f64> = value
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            ApiError::param(
                name,
                format!("'{value}' must be 4 comma-separated numbers: minLon,minLat,maxLon,maxLat"),
            )
        })?;
    let [a, b, c, d] = match nums[..] {
        [a, b, c, d] => [a, b, c, d],
        [a, b, _, c, d, _] => [a, b, c, d],
        _ => {
            return Err(ApiError::param(
                name,
                format!(
                    "expected 4 (or 6) numbers minLon,minLat,maxLon,maxLat, got {}",
                    nums.len()
                ),
            ));
        }
    };
    let (min_lon, min_lat, max_lon, max_lat) = if swap_axes {
        (b, a, d, c)
    } else {
        (a, b, c, d)
    };
    if [min_lon, min_lat, max_lon, max_lat]
        .iter()
        .any(|v| !v.is_finite())
    {
        return Err(ApiError::param(name, "coordinates must be finite numbers"));
    }
    let mut errors = Vec::new();
    for (v, what) in [
        (min_lon, "minimum longitude"),
        (max_lon, "maximum longitude"),
    ] {
        if !(-180.0..=180.0).contains(&v) {
            errors.push(format!("{what} {v} is outside −180…180"));
        }
    }
    for (v, what) in [(min_lat, "minimum latitude"), (max_lat, "maximum latitude")] {
        if !(-90.0..=90.0).contains(&v) {
            errors.push(format!("{what} {v} is outside −90…90"));
        }
    }
    if min_lat > max_lat {
        errors.push(format!(
            "minimum latitude {min_lat} is greater than maximum latitude {max_lat}"
        ));
    }
    if min_lon > max_lon {
        errors.push(format!(
            "minimum longitude {min_lon} is greater than maximum longitude {max_lon} (boxes across the antimeridian are not supported)"
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::BadRequest {
            detail: format!("invalid query parameter '{name}': {}", errors.join("; ")),
            errors: errors
                .into_iter()
                .map(|e| ProblemItem::parameter(name, e))
                .collect(),
        });
    }
    Ok(Bbox {
        min_lon,
        min_lat,
        max_lon,
        max_lat,
    })
}

/// Checks an `f` (output format) parameter: only GeoJSON/JSON is served
/// (as [`Query::json_format`]).
///
/// # Errors
/// 400 for any other format.
pub fn check_format(value: &str) -> ApiResult<()> {
    Query::from_pairs([("f".to_owned(), value.to_owned())])?.json_format()
}

const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

/// Longest text queryable value, characters.
const MAX_TEXT_CHARS: usize = 200;

/// Parses the query of `GET /collections/{id}/items` into a filter: the
/// pairs must hold nothing else (see [`read_items_filter`], which reads
/// from a [`Query`] that may hold more).
///
/// # Errors
/// 400 naming the offending parameter.
pub fn items_filter(c: CollectionId, pairs: &[(String, String)]) -> ApiResult<ItemFilter> {
    let mut q = Query::from_pairs(pairs.iter().cloned())?;
    let filter = read_items_filter(c, &mut q)?;
    q.finish()?;
    Ok(filter)
}

/// Reads the items filter from `q`: `limit` (1…, clamped to
/// [`MAX_LIMIT`]), `offset` (≥ 0), `bbox`, `bbox-crs` (CRS84 or EPSG:4326),
/// `crs` (CRS84 only), `f` (JSON) and the collection's queryables. Call
/// [`Query::finish`] after reading the endpoint's other parameters: anything
/// else is a 400, as OGC API – Features /req/core/query-param-unknown asks.
///
/// # Errors
/// 400 naming the offending parameter.
pub fn read_items_filter(c: CollectionId, q: &mut Query) -> ApiResult<ItemFilter> {
    let limit = q
        .i64("limit", 1..)?
        .map_or(DEFAULT_LIMIT, |l| l.min(MAX_LIMIT));
    let offset = q.i64("offset", 0..=i64::MAX / 2)?.unwrap_or(0);
    let swap = q
        .parse_with("bbox-crs", |v| {
            if is_accepted_crs(v) {
                Ok(v.contains("EPSG") && v.contains("4326"))
            } else {
                Err(format!("'{v}' is not supported; use {CRS84}"))
            }
        })?
        .unwrap_or(false);
    let bbox = q.bbox("bbox", swap)?;
    q.parse_with("crs", |v| {
        if is_accepted_crs(v) && !v.contains("EPSG") {
            Ok(())
        } else {
            Err(format!(
                "'{v}' is not supported; features are served in {CRS84}"
            ))
        }
    })?;
    q.json_format()?;
    let mut properties = Vec::new();
    for (name, kind) in queryables(c) {
        let value = match kind {
            QueryableKind::Text => q.text(name, MAX_TEXT_CHARS)?,
            QueryableKind::OneOf(allowed) => q.one_of(name, allowed)?.map(str::to_owned),
            QueryableKind::Integer(min, max) => q.i64(name, *min..=*max)?.map(|v| v.to_string()),
        };
        if let Some(v) = value {
            properties.push(((*name).to_owned(), v));
        }
    }
    Ok(ItemFilter {
        limit,
        offset,
        bbox,
        properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        parse_pairs(Some(q)).unwrap()
    }

    #[test]
    fn a_limit_above_the_maximum_is_clamped() {
        let f = items_filter(CollectionId::Towers, &pairs("limit=999999")).unwrap();
        assert_eq!(f.limit, MAX_LIMIT);
    }

    #[test]
    fn a_bbox_in_epsg_4326_axis_order_is_swapped_to_lon_lat() {
        let f = items_filter(
            CollectionId::Towers,
            &pairs("bbox=16,108,16.1,108.3&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4326"),
        )
        .unwrap();
        assert_eq!(
            f.bbox,
            Some(Bbox {
                min_lon: 108.0,
                min_lat: 16.0,
                max_lon: 108.3,
                max_lat: 16.1
            })
        );
    }

    #[test]
    fn an_unknown_parameter_is_named_in_the_error() {
        let e = items_filter(CollectionId::Towers, &pairs("colour=red")).unwrap_err();
        assert!(
            matches!(e, ApiError::BadRequest { ref errors, .. } if errors[0].parameter.as_deref() == Some("colour"))
        );
    }

    #[test]
    fn a_repeated_parameter_is_refused_and_other_endpoints_read_on() {
        let e = items_filter(CollectionId::Towers, &pairs("limit=5&limit=6")).unwrap_err();
        assert!(
            matches!(e, ApiError::BadRequest { ref errors, .. } if errors[0].parameter.as_deref() == Some("limit"))
        );
        let mut q =
            Query::parse(Some("as_of=2026-01-01T00:00:00Z&status=operational&tier=2")).unwrap();
        let f = read_items_filter(CollectionId::Towers, &mut q).unwrap();
        assert_eq!(
            f.properties,
            [("status".to_owned(), "operational".to_owned())]
        );
        assert!(q.time("as_of").unwrap().is_some());
        let e = q.finish().unwrap_err();
        assert!(
            matches!(e, ApiError::BadRequest { ref errors, .. } if errors[0].parameter.as_deref() == Some("tier")),
            "tier is a data-centre queryable, not a tower one"
        );
    }

    #[test]
    fn an_inverted_bbox_is_rejected() {
        assert!(parse_bbox("108.3,16,108.0,16.1", false).is_err());
        assert!(parse_bbox("108,16.2,108.3,16.1", false).is_err());
        assert!(parse_bbox("108,16,108.3", false).is_err());
        assert!(parse_bbox("a,b,c,d", false).is_err());
    }
}
