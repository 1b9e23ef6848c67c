//! Conditional requests (RFC 9110 §13): `If-Match` and `If-None-Match`
//! parsed once, with the `headers` crate's typed headers, and one semantics
//! for every endpoint:
//!
//! - `If-Match` uses the **strong** comparison (§13.1.1): a weak tag
//!   (`W/"…"`) never matches, `*` matches any current representation. A write
//!   without it is answered 428 ([`Precondition::Missing`]), with a tag that
//!   is not current 412 ([`Precondition::Stale`], which carries the current
//!   ETag), with a field that is neither `*` nor a list of quoted entity tags
//!   400 ([`Precondition::Malformed`]).
//! - `If-None-Match` uses the **weak** comparison (§13.1.2): `W/"x"` matches
//!   `"x"`; `*` matches any. A malformed field is ignored (as if absent).
//!
//! An empty field counts as absent. Handlers take [`Conditional`] as an
//! extractor (it never rejects) or build it with
//! [`Conditional::from_headers`]:
//!
//! ```
//! # use telecom_gis::http::conditional::{Conditional, Precondition};
//! # let mut headers = axum::http::HeaderMap::new();
//! headers.insert("if-match", "W/\"abc\", \"def\"".parse().unwrap());
//! let c = Conditional::from_headers(&headers);
//! assert_eq!(c.check_if_match("\"def\""), Ok(()));
//! assert_eq!(
//!     c.check_if_match("\"abc\""),
//!     Err(Precondition::Stale { current: "\"abc\"".into() })
//! );
//! ```

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use headers::{ETag, Header};

use super::error::{ApiError, ProblemItem};

/// A conditional header as received.
#[derive(Debug, Clone, Default)]
enum Field<H> {
    /// Not sent (or empty).
    #[default]
    Absent,
    /// Sent, but neither `*` nor a list of entity tags.
    Malformed,
    /// Sent and well formed.
    Present(H),
}

/// The `If-Match` and `If-None-Match` fields of one request.
#[derive(Debug, Clone, Default)]
pub struct Conditional {
    if_match: Field<headers::IfMatch>,
    if_none_match: Field<headers::IfNoneMatch>,
}

/// Why `If-Match` refuses a write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Precondition {
    /// No `If-Match` (428 Precondition Required).
    #[error("If-Match is required")]
    Missing,
    /// `If-Match` names no current version (412 Precondition Failed).
    #[error("If-Match does not match the current ETag {current}")]
    Stale {
        /// The current ETag, for the answer's `ETag` header.
        current: String,
    },
    /// `If-Match` is neither `*` nor a list of quoted entity tags (400).
    #[error("If-Match is neither * nor a list of quoted entity tags such as \"abc\"")]
    Malformed,
}

impl Conditional {
    /// Parses both fields of `headers` (every line of each).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            if_match: field(headers),
            if_none_match: field(headers),
        }
    }

    /// True when the request carries a well-formed `If-Match`.
    pub fn has_if_match(&self) -> bool {
        matches!(self.if_match, Field::Present(_))
    }

    /// True when the request carries a well-formed `If-None-Match`.
    pub fn has_if_none_match(&self) -> bool {
        matches!(self.if_none_match, Field::Present(_))
    }

    /// Checks `If-Match` against the representation's `current` ETag (a
    /// quoted tag as sent in `ETag`), with the strong comparison.
    ///
    /// # Errors
    /// [`Precondition::Missing`] without the field, [`Precondition::Stale`]
    /// when no listed tag matches strongly (weak tags never do),
    /// [`Precondition::Malformed`] for an unparseable field.
    pub fn check_if_match(&self, current: &str) -> Result<(), Precondition> {
        let if_match = match &self.if_match {
            Field::Absent => return Err(Precondition::Missing),
            Field::Malformed => return Err(Precondition::Malformed),
            Field::Present(h) => h,
        };
        let passes = match current.parse::<ETag>() {
            Ok(etag) => if_match.precondition_passes(&etag),
            // Not an entity tag: only `*` can match it.
            Err(_) => if_match.is_any(),
        };
        if passes {
            Ok(())
        } else {
            Err(Precondition::Stale {
                current: current.to_owned(),
            })
        }
    }

    /// The `If-Match` condition for a write use-case to check against the
    /// current ETag inside its transaction.
    ///
    /// # Errors
    /// [`Precondition::Malformed`] for an unparseable field.
    pub fn if_match(&self) -> Result<crate::service::IfMatch, Precondition> {
        match &self.if_match {
            Field::Absent => Ok(crate::service::IfMatch::absent()),
            Field::Malformed => Err(Precondition::Malformed),
            Field::Present(_) => {
                let this = self.clone();
                Ok(crate::service::IfMatch::matching(move |current| {
                    this.check_if_match(current).is_ok()
                }))
            }
        }
    }

    /// True when `If-None-Match` matches the `current` ETag with the weak
    /// comparison (or is `*`): a GET answers 304 Not Modified, a write 412.
    /// False without the field or with a malformed one.
    pub fn if_none_match_hits(&self, current: &str) -> bool {
        let Field::Present(h) = &self.if_none_match else {
            return false;
        };
        match current.parse::<ETag>() {
            Ok(etag) => !h.precondition_passes(&etag),
            Err(_) => *h == headers::IfNoneMatch::any(),
        }
    }
}

/// Reads one conditional header: absent when no line has a member,
/// malformed unless it is exactly `*` or every member is an entity tag.
fn field<H: Header>(headers: &HeaderMap) -> Field<H> {
    let values: Vec<&HeaderValue> = headers.get_all(H::name()).iter().collect();
    let mut members = Vec::new();
    for v in &values {
        let Ok(text) = v.to_str() else {
            return Field::Malformed;
        };
        members.extend(split_list(text));
    }
    let well_formed = match members.as_slice() {
        [] => return Field::Absent,
        ["*"] => true,
        _ => members.iter().all(|m| m.parse::<ETag>().is_ok()),
    };
    if !well_formed {
        return Field::Malformed;
    }
    match H::decode(&mut values.into_iter()) {
        Ok(h) => Field::Present(h),
        Err(_) => Field::Malformed,
    }
}

/// The non-empty members of a comma-separated list (RFC 9110 §5.6.1),
/// trimmed; commas inside quotes (allowed in entity tags) do not split.
fn split_list(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect()
}

impl<S: Send + Sync> FromRequestParts<S> for Conditional {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}

impl From<Precondition> for ApiError {
    /// The answers of a feature write: 428, 412 (with the current ETag), 400.
    fn from(p: Precondition) -> Self {
        match p {
            Precondition::Missing => ApiError::PreconditionRequired(
                "send If-Match with the feature's ETag (from GET) so that changes made meanwhile \
                 are not overwritten"
                    .into(),
            ),
            Precondition::Stale { current } => ApiError::PreconditionFailed {
                detail: format!(
                    "the feature has changed since it was read (its ETag is now {current}); GET \
                     it again and reapply the change"
                ),
                current_etag: Some(current),
            },
            Precondition::Malformed => {
                let detail = Precondition::Malformed.to_string();
                ApiError::BadRequest {
                    detail: format!("invalid header 'If-Match': {detail}"),
                    errors: vec![ProblemItem::header("If-Match", detail)],
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Conditional {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Conditional::from_headers(&h)
    }

    const CURRENT: &str = "\"0a1b\"";

    fn stale() -> Result<(), Precondition> {
        Err(Precondition::Stale {
            current: CURRENT.into(),
        })
    }

    #[test]
    fn without_if_match_a_write_is_missing_its_precondition() {
        assert_eq!(
            with(&[]).check_if_match(CURRENT),
            Err(Precondition::Missing)
        );
        assert_eq!(
            with(&[("if-match", "")]).check_if_match(CURRENT),
            Err(Precondition::Missing),
            "an empty field is absent"
        );
        assert!(!with(&[]).has_if_match());
    }

    #[test]
    fn if_match_compares_strongly() {
        assert_eq!(
            with(&[("if-match", CURRENT)]).check_if_match(CURRENT),
            Ok(())
        );
        assert_eq!(
            with(&[("if-match", "W/\"0a1b\"")]).check_if_match(CURRENT),
            stale(),
            "a weak tag never matches If-Match"
        );
        assert_eq!(
            with(&[("if-match", "W/\"0a1b\"")]).check_if_match("W/\"0a1b\""),
            Err(Precondition::Stale {
                current: "W/\"0a1b\"".into()
            }),
            "not even a weak current tag"
        );
        assert_eq!(
            with(&[("if-match", "\"other\"")]).check_if_match(CURRENT),
            stale()
        );
    }

    #[test]
    fn if_match_lists_and_lines_are_one_list() {
        assert_eq!(
            with(&[("if-match", "\"x\", \"0a1b\" ,\"y\"")]).check_if_match(CURRENT),
            Ok(())
        );
        assert_eq!(
            with(&[("if-match", "\"x\""), ("if-match", CURRENT)]).check_if_match(CURRENT),
            Ok(())
        );
        assert_eq!(
            with(&[("if-match", "\"a,b\", \"0a1b\"")]).check_if_match(CURRENT),
            Ok(()),
            "a comma inside a tag does not split it"
        );
        assert_eq!(
            with(&[("if-match", "\"x\", \"y\"")]).check_if_match(CURRENT),
            stale()
        );
    }

    #[test]
    fn if_match_star_matches_any_current_representation() {
        let c = with(&[("if-match", "*")]);
        assert!(c.has_if_match());
        assert_eq!(c.check_if_match(CURRENT), Ok(()));
        assert_eq!(c.check_if_match("W/\"weak\""), Ok(()));
    }

    #[test]
    fn a_malformed_if_match_is_refused_as_such() {
        for bad in [
            "0a1b",
            "\"unterminated",
            "w/\"x\"",
            "\"x\", y",
            "*, \"x\"",
            "\"in\"side\"",
        ] {
            let c = with(&[("if-match", bad)]);
            assert!(!c.has_if_match(), "{bad}");
            assert_eq!(
                c.check_if_match(CURRENT),
                Err(Precondition::Malformed),
                "{bad}"
            );
        }
        let e = ApiError::from(Precondition::Malformed);
        assert_eq!(e.problem().status, 400);
        assert_eq!(e.problem().errors[0].header.as_deref(), Some("If-Match"));
    }

    #[test]
    fn the_api_answers_428_412_with_the_current_etag() {
        assert_eq!(ApiError::from(Precondition::Missing).problem().status, 428);
        let e = ApiError::from(Precondition::Stale {
            current: CURRENT.into(),
        });
        assert_eq!(e.problem().status, 412);
        assert!(
            matches!(e, ApiError::PreconditionFailed { current_etag: Some(ref t), .. } if t == CURRENT)
        );
    }

    #[test]
    fn if_none_match_compares_weakly() {
        assert!(with(&[("if-none-match", CURRENT)]).if_none_match_hits(CURRENT));
        assert!(
            with(&[("if-none-match", "W/\"0a1b\"")]).if_none_match_hits(CURRENT),
            "a weak tag matches weakly"
        );
        assert!(with(&[("if-none-match", CURRENT)]).if_none_match_hits("W/\"0a1b\""));
        assert!(with(&[("if-none-match", "\"x\", W/\"0a1b\"")]).if_none_match_hits(CURRENT));
        assert!(!with(&[("if-none-match", "\"x\", \"y\"")]).if_none_match_hits(CURRENT));
        assert!(with(&[("if-none-match", "*")]).if_none_match_hits(CURRENT));
        assert!(!with(&[]).if_none_match_hits(CURRENT));
        assert!(!with(&[]).has_if_none_match());
    }

    #[test]
    fn a_malformed_if_none_match_is_ignored() {
        for bad in ["0a1b", "\"0a1b", "\"x\", 0a1b"] {
            let c = with(&[("if-none-match", bad)]);
            assert!(!c.has_if_none_match(), "{bad}");
            assert!(!c.if_none_match_hits(CURRENT), "{bad}");
        }
    }

    #[test]
    fn the_two_fields_are_independent() {
        let c = with(&[("if-match", CURRENT), ("if-none-match", "\"other\"")]);
        assert_eq!(c.check_if_match(CURRENT), Ok(()));
        assert!(!c.if_none_match_hits(CURRENT));
    }
}
