//! JSON read into a `serde_json::Value` with a budget enforced while
//! reading: a nesting depth and a number of values (every array, object,
//! key, string, number, boolean and null counts one). A document over the
//! budget is never built in full: the reader either stops at the first
//! value over it ([`from_slice`], request bodies) or skips the rest of the
//! value without building it ([`BoundedValue`] with [`Budget::skipping`],
//! one feature of an import, so the next one can still be read).
//!
//! serde_json's own recursion limit (128) still guards the stack; the depth
//! limit here is lower, so that a deep document is refused with a message
//! that names the limit.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The budget of one JSON document (or one value of a stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Deepest nesting of arrays and objects (the top level is depth 1).
    pub max_depth: usize,
    /// Most values (arrays, objects, keys, strings, numbers, booleans,
    /// nulls) in the document.
    pub max_values: usize,
}

/// Default nesting depth of a feature body or an imported feature: a
/// MultiPolygon feature needs 6, a FeatureCollection of them 8.
pub const MAX_JSON_DEPTH: usize = 32;

/// Default number of values of a feature body or an imported feature: room
/// for the largest district (200,000 positions with altitude, 4 values each)
/// and its properties.
pub const MAX_JSON_VALUES: usize = 1_000_000;

impl Default for JsonLimits {
    fn default() -> Self {
        Self {
            max_depth: MAX_JSON_DEPTH,
            max_values: MAX_JSON_VALUES,
        }
    }
}

/// Which limit a document went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// Nested deeper than `limit`.
    Depth {
        /// The depth limit.
        limit: usize,
    },
    /// More than `limit` values.
    Values {
        /// The value limit.
        limit: usize,
    },
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exceeded::Depth { limit } => write!(
                f,
                "JSON nested deeper than {limit} levels (limit: JSON nesting depth, {limit})"
            ),
            Exceeded::Values { limit } => write!(
                f,
                "more than {} JSON values (limit: JSON values per document, {})",
                thousands(*limit),
                thousands(*limit)
            ),
        }
    }
}

/// `n` with a comma every three digits (`1,000,000`).
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The error of [`from_slice`].
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Not JSON (with serde_json's line and column).
    #[error("{0}")]
    Syntax(#[from] serde_json::Error),
    /// Over the budget.
    #[error("{0}")]
    Limit(Exceeded),
}

/// The running count of one document against its limits.
#[derive(Debug)]
pub struct Budget {
    limits: JsonLimits,
    values: usize,
    depth: usize,
    skip: bool,
    exceeded: Option<Exceeded>,
}

impl Budget {
    /// A budget that makes the reader fail at the first value over it.
    pub fn stopping(limits: JsonLimits) -> Self {
        Self {
            limits,
            values: 0,
            depth: 0,
            skip: false,
            exceeded: None,
        }
    }

    /// A budget that makes the reader skip (read without building) the rest
    /// of a value once it is over; see [`Budget::exceeded`].
    pub fn skipping(limits: JsonLimits) -> Self {
        Self {
            skip: true,
            ..Self::stopping(limits)
        }
    }

    /// The limit the value read last went over, if any.
    pub fn exceeded(&self) -> Option<Exceeded> {
        self.exceeded
    }

    /// Starts counting a new value afresh (the next feature of a stream).
    pub fn reset(&mut self) {
        self.values = 0;
        self.depth = 0;
        self.exceeded = None;
    }

    /// Counts one value; `Err` (stopping) or `Ok(false)` (skipping) when it
    /// is over the budget.
    fn count<E: de::Error>(&mut self) -> Result<bool, E> {
        if self.exceeded.is_some() {
            return Ok(false);
        }
        self.values += 1;
        if self.values > self.limits.max_values {
            return self.over(Exceeded::Values {
                limit: self.limits.max_values,
            });
        }
        Ok(true)
    }

    fn over<E: de::Error>(&mut self, e: Exceeded) -> Result<bool, E> {
        self.exceeded = Some(e);
        if self.skip {
            Ok(false)
        } else {
            Err(E::custom(e))
        }
    }

    /// Enters an array or object; `Ok(false)` when it must be skipped.
    fn enter<E: de::Error>(&mut self) -> Result<bool, E> {
        if !self.count()? {
            return Ok(false);
        }
        if self.depth >= self.limits.max_depth {
            return self.over(Exceeded::Depth {
                limit: self.limits.max_depth,
            });
        }
        self.depth += 1;
        Ok(true)
    }
}

/// Reads `bytes` as one JSON document within `limits`, failing at the
/// first value over them (nothing more is read or allocated).
///
/// # Errors
/// [`JsonError::Limit`] over the budget, else [`JsonError::Syntax`].
pub fn from_slice(bytes: &[u8], limits: JsonLimits) -> Result<Value, JsonError> {
    let mut budget = Budget::stopping(limits);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let read = BoundedValue {
        budget: &mut budget,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match (read, budget.exceeded) {
        (_, Some(e)) => Err(JsonError::Limit(e)),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(JsonError::Syntax(e)),
    }
}

/// A `DeserializeSeed` that builds a `Value` within a [`Budget`]. Once the
/// budget is exceeded (skipping), the rest of the value is read as
/// `IgnoredAny` and `Value::Null` stands in for it.
pub struct BoundedValue<'a> {
    /// The budget counted against.
    pub budget: &'a mut Budget,
}

impl<'de> DeserializeSeed<'de> for BoundedValue<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl BoundedValue<'_> {
    fn leaf<E: de::Error>(self, v: Value) -> Result<Value, E> {
        Ok(if self.budget.count()? { v } else { Value::Null })
    }
}

impl<'de> Visitor<'de> for BoundedValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.leaf(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.leaf(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.leaf(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json never yields a non-finite number; `Null` if it did.
        self.leaf(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.leaf(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.leaf(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.leaf(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.leaf(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if !self.budget.enter()? {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Value::Null);
        }
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(BoundedValue {
            budget: &mut *self.budget,
        })? {
            if self.budget.exceeded.is_some() {
                items = Vec::new();
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                break;
            }
            items.push(v);
        }
        self.budget.depth -= 1;
        Ok(if self.budget.exceeded.is_some() {
            Value::Null
        } else {
            Value::Array(items)
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if !self.budget.enter()? {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Value::Null);
        }
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if !self.budget.count()? {
                map.next_value::<IgnoredAny>()?;
                break;
            }
            let v = map.next_value_seed(BoundedValue {
                budget: &mut *self.budget,
            })?;
            if self.budget.exceeded.is_some() {
                break;
            }
            members.insert(key, v);
        }
        if self.budget.exceeded.is_some() {
            members = Map::new();
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        }
        self.budget.depth -= 1;
        Ok(if self.budget.exceeded.is_some() {
            Value::Null
        } else {
            Value::Object(members)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: JsonLimits = JsonLimits {
        max_depth: 4,
        max_values: 10,
    };

    #[test]
    fn a_document_within_the_budget_reads_as_serde_json_reads_it() {
        let text = r#"{"type":"Point","coordinates":[108.2,16.05],"x":null}"#;
        assert_eq!(
            from_slice(text.as_bytes(), SMALL).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn too_many_values_or_too_deep_a_document_name_the_limit() {
        let many = format!("[{}]", ["0"; 10].join(","));
        assert!(matches!(
            from_slice(many.as_bytes(), SMALL),
            Err(JsonError::Limit(Exceeded::Values { limit: 10 }))
        ));
        assert!(matches!(
            from_slice(b"[[[[[]]]]]", SMALL),
            Err(JsonError::Limit(Exceeded::Depth { limit: 4 }))
        ));
        assert!(from_slice(b"[[[[]]]]", SMALL).is_ok());
        assert!(matches!(
            from_slice(b"[1,", SMALL),
            Err(JsonError::Syntax(_))
        ));
    }

    #[test]
    fn a_skipping_budget_reads_past_the_value_over_it_and_the_next_one_is_whole() {
        let text = r#"[[1,2,3,4,5,6,7,8,9,10,11],{"a":[1]}]"#;
        let mut de = serde_json::Deserializer::from_str(text);
        struct Each<'a>(&'a mut Vec<(Value, Option<Exceeded>)>);
        impl<'de> Visitor<'de> for Each<'_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                let mut budget = Budget::skipping(SMALL);
                while let Some(v) = seq.next_element_seed(BoundedValue {
                    budget: &mut budget,
                })? {
                    self.0.push((v, budget.exceeded()));
                    budget.reset();
                }
                Ok(())
            }
        }
        let mut out = Vec::new();
        de::Deserializer::deserialize_seq(&mut de, Each(&mut out)).unwrap();
        assert_eq!(
            out,
            vec![
                (Value::Null, Some(Exceeded::Values { limit: 10 })),
                (serde_json::json!({"a": [1]}), None)
            ]
        );
    }

    #[test]
    fn thousands_are_separated_by_commas() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
