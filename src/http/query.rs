//! One reader for every endpoint's query string.
//!
//! The raw query (axum's `RawQuery`) is decoded once
//! (`application/x-www-form-urlencoded`: `+` and percent escapes). A
//! parameter given twice is refused at once. Each typed getter then *takes*
//! its parameter, checks it and answers a 400 problem naming it;
//! [`Query::finish`] refuses whatever no getter took, listing the accepted
//! parameters (OGC API – Features /req/core/query-param-unknown asks for
//! this on every endpoint).
//!
//! ```
//! # use telecom_gis::http::query::{Query, Required};
//! # fn handler(raw: Option<&str>) -> telecom_gis::http::error::ApiResult<()> {
//! let mut q = Query::parse(raw)?;
//! let lon = q.f64("lon", -180.0..=180.0)?.required("lon")?;
//! let lat = q.f64("lat", -90.0..=90.0)?.required("lat")?;
//! let limit = q.i64("limit", 1..)?.unwrap_or(100);
//! let status = q.one_of("status", &["planned", "operational"])?;
//! q.json_format()?;
//! q.finish()?;
//! # let _ = (lon, lat, limit, status);
//! # Ok(())
//! # }
//! # assert!(handler(Some("lon=108.2&lat=16.05&limit=5")).is_ok());
//! # assert!(handler(Some("lon=108.2&lat=16.05&colour=red")).is_err());
//! # assert!(handler(Some("lon=108.2&lon=108.3&lat=16")).is_err());
//! ```
//!
//! Getters return `Ok(None)` when the parameter is absent ([`Required`]
//! turns that into a 400), and mark the name as accepted either way, so the
//! unknown-parameter message lists exactly what the endpoint reads. Read
//! every parameter before calling [`Query::finish`].

use std::fmt::Display;
use std::ops::{Bound, RangeBounds};
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::error::{ApiError, ApiResult};
use super::params::parse_bbox_named;
use crate::db::Bbox;

/// The values `f` accepts where only JSON is served.
pub const JSON_FORMATS: &[&str] = &[
    "json",
    "geojson",
    "application/json",
    "application/geo+json",
];

/// A decoded query string being read parameter by parameter.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Name and value, in query order; the value is `None` once taken.
    pairs: Vec<(String, Option<String>)>,
    /// Names the endpoint asked for (or declared with [`Query::accept`]), in
    /// order, for the unknown-parameter message.
    accepted: Vec<String>,
}

impl Query {
    /// Decodes a raw query string (`None`: no query).
    ///
    /// # Errors
    /// 400 when it is not `application/x-www-form-urlencoded`, or names a
    /// parameter twice (the problem names it).
    pub fn parse(raw: Option<&str>) -> ApiResult<Self> {
        let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or(""))
            .map_err(|e| ApiError::BadRequest {
                detail: format!("malformed query string: {e}"),
                errors: vec![],
            })?;
        Self::from_pairs(pairs)
    }

    /// A query of already decoded pairs.
    ///
    /// # Errors
    /// 400 naming a parameter given twice.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> ApiResult<Self> {
        let mut q = Query::default();
        for (name, value) in pairs {
            if q.pairs.iter().any(|(n, _)| *n == name) {
                return Err(ApiError::param(&name, "given more than once"));
            }
            q.pairs.push((name, Some(value)));
        }
        Ok(q)
    }

    /// Declares `name` accepted without reading it (for the unknown-parameter
    /// message; e.g. `underserved.<criterion>` for a family of names).
    pub fn accept(&mut self, name: &str) {
        if !self.accepted.iter().any(|a| a == name) {
            self.accepted.push(name.to_owned());
        }
    }

    /// True when `name` is given and not taken yet.
    pub fn contains(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, v)| n == name && v.is_some())
    }

    /// Takes the raw (decoded, untrimmed) value of `name`.
    pub fn string(&mut self, name: &str) -> Option<String> {
        self.accept(name);
        self.pairs
            .iter_mut()
            .find(|(n, v)| n == name && v.is_some())
            .and_then(|(_, v)| v.take())
    }

    /// Takes every parameter whose name satisfies `pred`, in query order
    /// (for families of names such as `underserved.*`).
    pub fn take_where(&mut self, pred: impl Fn(&str) -> bool) -> Vec<(String, String)> {
        self.pairs
            .iter_mut()
            .filter(|(n, v)| v.is_some() && pred(n))
            .filter_map(|(n, v)| v.take().map(|v| (n.clone(), v)))
            .collect()
    }

    /// Takes `name` and converts it with `parse`, whose error (its `Display`)
    /// becomes the problem's detail.
    ///
    /// # Errors
    /// 400 naming `name` when `parse` fails.
    pub fn parse_with<T, E: Display>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> ApiResult<Option<T>> {
        self.string(name)
            .map(|v| parse(&v).map_err(|e| ApiError::param(name, e.to_string())))
            .transpose()
    }

    /// Takes `name` and parses it with `FromStr` (trimmed); the detail is
    /// `'VALUE' ERROR` (e.g. `'6G' must be one of: 2G, 3G, 4G, 5G`).
    ///
    /// # Errors
    /// 400 naming `name` when it does not parse.
    pub fn from_str<T>(&mut self, name: &str) -> ApiResult<Option<T>>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.parse_with(name, |v| {
            v.trim().parse::<T>().map_err(|e| format!("'{v}' {e}"))
        })
    }

    /// Takes `name`: 1 to `max_chars` printable characters (trimmed).
    ///
    /// # Errors
    /// 400 naming `name` when empty, too long or with control characters.
    pub fn text(&mut self, name: &str, max_chars: usize) -> ApiResult<Option<String>> {
        self.parse_with(name, |v| {
            let v = v.trim();
            if v.is_empty() || v.chars().count() > max_chars || v.chars().any(char::is_control) {
                Err(format!("must be 1–{max_chars} printable characters"))
            } else {
                Ok(v.to_owned())
            }
        })
    }

    /// Takes `name`: one of `allowed` (trimmed, exact case).
    ///
    /// # Errors
    /// 400 naming `name` and listing `allowed` for any other value.
    pub fn one_of(
        &mut self,
        name: &str,
        allowed: &[&'static str],
    ) -> ApiResult<Option<&'static str>> {
        self.parse_with(name, |v| {
            let v = v.trim();
            allowed
                .iter()
                .find(|a| **a == v)
                .copied()
                .ok_or_else(|| format!("'{v}' is not one of: {}", allowed.join(", ")))
        })
    }

    /// Takes `name`: one of the names of `choices`, answered as its value.
    ///
    /// # Errors
    /// 400 naming `name` and listing the choices for any other value.
    pub fn choice<T: Copy>(&mut self, name: &str, choices: &[(&str, T)]) -> ApiResult<Option<T>> {
        self.parse_with(name, |v| {
            let v = v.trim();
            choices
                .iter()
                .find(|(n, _)| *n == v)
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                    format!("'{v}' is not one of: {}", names.join(", "))
                })
        })
    }

    /// Takes `name`: an integer within `bounds` (e.g. `1..`, `7..=11`).
    ///
    /// # Errors
    /// 400 naming `name` when it is not an integer or out of bounds.
    pub fn i64(&mut self, name: &str, bounds: impl RangeBounds<i64>) -> ApiResult<Option<i64>> {
        self.parse_with(name, |raw| {
            let v: i64 = raw
                .trim()
                .parse()
                .map_err(|_| format!("'{raw}' is not an integer"))?;
            if bounds.contains(&v) {
                Ok(v)
            } else {
                Err(format!(
                    "{v} is out of range: must be {}",
                    int_range(&bounds)
                ))
            }
        })
    }

    /// Takes `name`: a finite number within `bounds` (e.g. `-90.0..=90.0`,
    /// or `..` for any finite number).
    ///
    /// # Errors
    /// 400 naming `name` when it is not a finite number or out of bounds.
    pub fn f64(&mut self, name: &str, bounds: impl RangeBounds<f64>) -> ApiResult<Option<f64>> {
        self.parse_with(name, |raw| {
            let v: f64 = raw
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| format!("'{raw}' is not a number"))?;
            if bounds.contains(&v) {
                Ok(v)
            } else {
                Err(float_out_of_range(raw, &bounds))
            }
        })
    }

    /// Takes `name`: an RFC 3339 time (`2026-11-27T10:00:00Z`), as UTC.
    ///
    /// # Errors
    /// 400 naming `name` for anything else.
    pub fn time(&mut self, name: &str) -> ApiResult<Option<DateTime<Utc>>> {
        self.parse_with(name, |v| {
            DateTime::parse_from_rfc3339(v.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    format!("'{v}' is not an RFC 3339 time ({e}); e.g. 2026-11-27T10:00:00Z")
                })
        })
    }

    /// Takes `name`: a bounding box `minLon,minLat,maxLon,maxLat` (see
    /// [`super::params::parse_bbox`]; `swap_axes` for EPSG:4326 lat/lon order).
    ///
    /// # Errors
    /// 400 naming `name` for a malformed or out-of-range box.
    pub fn bbox(&mut self, name: &str, swap_axes: bool) -> ApiResult<Option<Bbox>> {
        self.string(name)
            .map(|v| parse_bbox_named(name, &v, swap_axes))
            .transpose()
    }

    /// Takes the output format `f`: one of the names of `choices`.
    ///
    /// # Errors
    /// 400 naming `f` and listing the formats for any other value.
    pub fn format<T: Copy>(&mut self, choices: &[(&str, T)]) -> ApiResult<Option<T>> {
        let names: Vec<String> = choices.iter().map(|(n, _)| format!("f={n}")).collect();
        self.format_with(choices, &names.join(" or "))
    }

    /// Takes `f` where only GeoJSON/JSON is served ([`JSON_FORMATS`]).
    ///
    /// # Errors
    /// 400 naming `f` for any other format.
    pub fn json_format(&mut self) -> ApiResult<()> {
        let choices: Vec<(&str, ())> = JSON_FORMATS.iter().map(|f| (*f, ())).collect();
        self.format_with(&choices, "f=json").map(|_| ())
    }

    fn format_with<T: Copy>(&mut self, choices: &[(&str, T)], hint: &str) -> ApiResult<Option<T>> {
        self.parse_with("f", |v| {
            choices
                .iter()
                .find(|(n, _)| *n == v)
                .map(|(_, t)| *t)
                .ok_or_else(|| format!("format '{v}' is not available; use {hint}"))
        })
    }

    /// Ends the reading: refuses any parameter no getter took.
    ///
    /// # Errors
    /// 400 naming the first unknown parameter and listing the accepted ones.
    pub fn finish(self) -> ApiResult<()> {
        match self.pairs.iter().find(|(_, v)| v.is_some()) {
            None => Ok(()),
            Some((name, _)) => Err(ApiError::param(
                name,
                if self.accepted.is_empty() {
                    "unknown parameter; this resource accepts none".to_owned()
                } else {
                    format!("unknown parameter; accepted: {}", self.accepted.join(", "))
                },
            )),
        }
    }
}

/// Turns an absent parameter into a 400: `q.f64("lon", ..)?.required("lon")?`.
pub trait Required<T> {
    /// The value, or a 400 saying `name` is required.
    ///
    /// # Errors
    /// 400 naming `name` when the value is absent.
    fn required(self, name: &str) -> ApiResult<T>;
}

impl<T> Required<T> for Option<T> {
    fn required(self, name: &str) -> ApiResult<T> {
        self.ok_or_else(|| ApiError::param(name, "is required"))
    }
}

/// Bounds this large read as "no upper bound" in messages.
const LARGE: i64 = i64::MAX / 2;

fn int_range(bounds: &impl RangeBounds<i64>) -> String {
    let min = match bounds.start_bound() {
        Bound::Included(v) => Some(*v),
        Bound::Excluded(v) => Some(v.saturating_add(1)),
        Bound::Unbounded => None,
    };
    let max = match bounds.end_bound() {
        Bound::Included(v) if *v < LARGE => Some(*v),
        Bound::Excluded(v) if *v <= LARGE => Some(v.saturating_sub(1)),
        _ => None,
    };
    match (min, max) {
        (Some(min), Some(max)) => format!("between {min} and {max}"),
        (Some(min), None) => format!("at least {min}"),
        (None, Some(max)) => format!("at most {max}"),
        (None, None) => "an integer".to_owned(),
    }
}

fn float_out_of_range(raw: &str, bounds: &impl RangeBounds<f64>) -> String {
    let lower = match bounds.start_bound() {
        Bound::Included(v) => Some(format!("at least {v}")),
        Bound::Excluded(v) => Some(format!("greater than {v}")),
        Bound::Unbounded => None,
    };
    let upper = match bounds.end_bound() {
        Bound::Included(v) => Some(format!("at most {v}")),
        Bound::Excluded(v) => Some(format!("less than {v}")),
        Bound::Unbounded => None,
    };
    match (bounds.start_bound(), bounds.end_bound(), lower, upper) {
        (Bound::Included(min), Bound::Included(max), _, _) => {
            format!("{raw} is outside {min}…{max}")
        }
        (_, _, Some(l), Some(u)) => format!("{raw} is out of range: must be {l} and {u}"),
        (_, _, Some(b), None) | (_, _, None, Some(b)) => {
            format!("{raw} is out of range: must be {b}")
        }
        (_, _, None, None) => format!("'{raw}' is not a number"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameter(e: &ApiError) -> (&str, &str) {
        match e {
            ApiError::BadRequest { errors, .. } => (
                errors[0].parameter.as_deref().unwrap_or_default(),
                errors[0].detail.as_str(),
            ),
            other => panic!("not a 400: {other:?}"),
        }
    }

    #[test]
    fn values_are_percent_decoded_once() {
        let mut q = Query::parse(Some("name=Ho%C3%A0+Vang&op=a%2Bb")).unwrap();
        assert_eq!(q.string("name").as_deref(), Some("Hoà Vang"));
        assert_eq!(q.string("op").as_deref(), Some("a+b"));
        q.finish().unwrap();
    }

    #[test]
    fn a_parameter_given_twice_is_refused_by_name() {
        let e = Query::parse(Some("limit=5&limit=6")).unwrap_err();
        assert_eq!(parameter(&e), ("limit", "given more than once"));
    }

    #[test]
    fn an_unknown_parameter_is_named_and_the_accepted_ones_listed() {
        let mut q = Query::parse(Some("lon=1&colour=red")).unwrap();
        q.f64("lon", -180.0..=180.0).unwrap();
        q.f64("lat", -90.0..=90.0).unwrap();
        q.accept("technology");
        let e = q.finish().unwrap_err();
        let (name, detail) = parameter(&e);
        assert_eq!(name, "colour");
        assert!(
            detail.ends_with("accepted: lon, lat, technology"),
            "{detail}"
        );
        let e = Query::parse(Some("x=1")).unwrap().finish().unwrap_err();
        assert!(parameter(&e).1.contains("accepts none"));
    }

    #[test]
    fn a_missing_required_parameter_is_named() {
        let mut q = Query::parse(Some("lat=16")).unwrap();
        let e = q
            .f64("lon", -180.0..=180.0)
            .unwrap()
            .required("lon")
            .unwrap_err();
        assert_eq!(parameter(&e), ("lon", "is required"));
    }

    #[test]
    fn numbers_are_checked_against_their_bounds() {
        let mut q = Query::parse(Some("a=200&b=abc&c=inf&d=0&e=10001&f=-1&g=12&h=x")).unwrap();
        assert_eq!(
            parameter(&q.f64("a", -180.0..=180.0).unwrap_err()),
            ("a", "200 is outside -180…180")
        );
        assert_eq!(
            parameter(&q.f64("b", ..).unwrap_err()),
            ("b", "'abc' is not a number")
        );
        assert_eq!(
            parameter(&q.f64("c", ..).unwrap_err()),
            ("c", "'inf' is not a number")
        );
        assert_eq!(
            parameter(&q.i64("d", 1..).unwrap_err()),
            ("d", "0 is out of range: must be at least 1")
        );
        assert_eq!(q.i64("e", 1..).unwrap(), Some(10001));
        assert_eq!(
            parameter(&q.i64("f", 0..=LARGE).unwrap_err()),
            ("f", "-1 is out of range: must be at least 0")
        );
        assert_eq!(
            parameter(&q.i64("g", 7..=11).unwrap_err()),
            ("g", "12 is out of range: must be between 7 and 11")
        );
        assert_eq!(
            parameter(&q.i64("h", ..).unwrap_err()),
            ("h", "'x' is not an integer")
        );
        assert_eq!(q.i64("absent", 1..).unwrap(), None);
        q.finish().unwrap();
    }

    #[test]
    fn enums_formats_times_and_boxes() {
        let mut q = Query::parse(Some(
            "status=broken&technology=6G&f=xml&since=yesterday&bbox=1,2,3&mode=commit",
        ))
        .unwrap();
        assert_eq!(
            parameter(&q.one_of("status", &["planned", "operational"]).unwrap_err()),
            ("status", "'broken' is not one of: planned, operational")
        );
        let e = q
            .from_str::<crate::domain::tower::Technology>("technology")
            .unwrap_err();
        assert_eq!(
            parameter(&e),
            ("technology", "'6G' must be one of: 2G, 3G, 4G, 5G")
        );
        assert_eq!(
            parameter(&q.json_format().unwrap_err()),
            ("f", "format 'xml' is not available; use f=json")
        );
        let e = q.time("since").unwrap_err();
        assert!(parameter(&e).1.contains("RFC 3339"), "{e:?}");
        assert_eq!(parameter(&q.bbox("bbox", false).unwrap_err()).0, "bbox");
        assert_eq!(
            q.choice("mode", &[("dry-run", false), ("commit", true)])
                .unwrap(),
            Some(true)
        );
        q.finish().unwrap();
        let mut q = Query::parse(Some("f=csv&since=2026-11-27T10:00:00%2B07:00")).unwrap();
        assert_eq!(q.format(&[("json", 1), ("csv", 2)]).unwrap(), Some(2));
        assert_eq!(
            q.time("since").unwrap().map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-27T03:00:00+00:00")
        );
        let mut q = Query::parse(Some("f=xml")).unwrap();
        assert_eq!(
            parameter(&q.format(&[("json", 1), ("csv", 2)]).unwrap_err()).1,
            "format 'xml' is not available; use f=json or f=csv"
        );
    }

    #[test]
    fn families_of_names_are_taken_together() {
        let mut q = Query::parse(Some("underserved.a=1&technology=4G&unserved.b=2")).unwrap();
        let taken = q.take_where(|n| n.starts_with("underserved.") || n.starts_with("unserved."));
        assert_eq!(
            taken,
            [
                ("underserved.a".to_owned(), "1".to_owned()),
                ("unserved.b".to_owned(), "2".to_owned())
            ]
        );
        assert!(q.contains("technology"));
        let e = q.finish().unwrap_err();
        assert_eq!(parameter(&e).0, "technology");
    }
}
