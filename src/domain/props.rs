//! Reading a Feature's `properties` object with precise error pointers.

use std::collections::BTreeSet;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::{Invalid, NotOneOf};

/// Reads typed members of a JSON object, recording every problem in `errors`
/// with a JSON Pointer below `base`, and remembering which members were read so
/// that unknown ones can be reported by [`Props::finish`].
pub struct Props<'a> {
    obj: &'a Map<String, Value>,
    base: String,
    seen: BTreeSet<&'a str>,
    /// Problems found so far.
    pub errors: Invalid,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Escapes a JSON Pointer reference token (RFC 6901).
pub fn escape_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl<'a> Props<'a> {
    /// Starts reading `obj`, whose location in the document is `base`.
    pub fn new(obj: &'a Map<String, Value>, base: impl Into<String>) -> Self {
        Self {
            obj,
            base: base.into(),
            seen: BTreeSet::new(),
            errors: Invalid::default(),
        }
    }

    /// The pointer of member `key`.
    pub fn pointer(&self, key: &str) -> String {
        format!("{}/{}", self.base, escape_token(key))
    }

    /// Records a problem with member `key`.
    pub fn fail(&mut self, key: &str, detail: impl Into<String>) {
        let p = self.pointer(key);
        self.errors.push(p, detail);
    }

    /// Records a problem at a path below `base` (e.g. `tenants/2`), unescaped.
    pub fn fail_path(&mut self, path: &str, detail: impl Into<String>) {
        let p = format!("{}/{}", self.base, path);
        self.errors.push(p, detail);
    }

    fn get(&mut self, key: &'a str) -> Option<&'a Value> {
        self.seen.insert(key);
        match self.obj.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// Marks members that are computed by the service and ignored on input.
    pub fn ignore(&mut self, keys: &[&'a str]) {
        self.seen.extend(keys.iter().copied());
    }

    /// An optional string; blank strings count as absent.
    pub fn opt_str(&mut self, key: &'a str, max_len: usize) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => {
                let t = s.trim();
                if t.contains('\0') {
                    self.fail(key, "must not contain NUL characters");
                    None
                } else if t.is_empty() {
                    None
                } else if t.chars().count() > max_len {
                    self.fail(key, format!("must be at most {max_len} characters"));
                    None
                } else {
                    Some(t.to_owned())
                }
            }
            other => {
                let msg = format!("must be a string, got {}", type_name(other));
                self.fail(key, msg);
                None
            }
        }
    }

    /// A required, non-blank string.
    pub fn req_str(&mut self, key: &'a str, max_len: usize) -> Option<String> {
        let present = matches!(self.obj.get(key), Some(v) if !v.is_null());
        let v = self.opt_str(key, max_len);
        if v.is_none()
            && !self
                .errors
                .errors
                .iter()
                .any(|e| e.pointer == self.pointer(key))
        {
            let msg = if present {
                "must not be blank"
            } else {
                "is required"
            };
            self.fail(key, msg);
        }
        v
    }

    /// An optional value of a closed set (see `text_enum!`); a blank string
    /// is an error, not an absent value.
    pub fn opt_enum<T: FromStr<Err = NotOneOf>>(&mut self, key: &'a str) -> Option<T> {
        let blank = matches!(self.obj.get(key), Some(Value::String(s)) if s.trim().is_empty());
        let Some(s) = self.opt_str(key, 64) else {
            if blank {
                let expected = "x"
                    .parse::<T>()
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                self.fail(key, format!("must not be blank: {expected}"));
            }
            return None;
        };
        match s.parse::<T>() {
            Ok(v) => Some(v),
            Err(msg) => {
                self.fail(key, format!("'{s}' is not accepted: {msg}"));
                None
            }
        }
    }

    /// A required value of a closed set.
    pub fn req_enum<T: FromStr<Err = NotOneOf>>(&mut self, key: &'a str) -> Option<T> {
        let present = matches!(self.obj.get(key), Some(v) if !v.is_null());
        let v = self.opt_enum(key);
        if !present {
            self.fail(key, "is required");
        }
        v
    }

    /// An optional finite number within `[min, max]` (units are in the key's name).
    pub fn opt_f64(&mut self, key: &'a str, min: f64, max: f64) -> Option<f64> {
        let v = self.get(key)?;
        match v.as_f64() {
            Some(x) if x.is_finite() && x >= min && x <= max => Some(x),
            Some(x) => {
                self.fail(
                    key,
                    format!("{x} is out of range: must be between {min} and {max}"),
                );
                None
            }
            None => {
                let msg = format!("must be a number, got {}", type_name(v));
                self.fail(key, msg);
                None
            }
        }
    }

    /// A required finite number within `[min, max]`.
    pub fn req_f64(&mut self, key: &'a str, min: f64, max: f64) -> Option<f64> {
        let present = matches!(self.obj.get(key), Some(v) if !v.is_null());
        let v = self.opt_f64(key, min, max);
        if !present {
            self.fail(key, "is required");
        }
        v
    }

    /// An optional integer within `[min, max]`.
    pub fn opt_i64(&mut self, key: &'a str, min: i64, max: i64) -> Option<i64> {
        let v = self.get(key)?;
        let as_int = v.as_i64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        });
        match as_int {
            Some(x) if x >= min && x <= max => Some(x),
            Some(x) => {
                self.fail(
                    key,
                    format!("{x} is out of range: must be between {min} and {max}"),
                );
                None
            }
            None => {
                let msg = format!("must be an integer, got {}", type_name(v));
                self.fail(key, msg);
                None
            }
        }
    }

    /// A required integer within `[min, max]`.
    pub fn req_i64(&mut self, key: &'a str, min: i64, max: i64) -> Option<i64> {
        let present = matches!(self.obj.get(key), Some(v) if !v.is_null());
        let v = self.opt_i64(key, min, max);
        if !present {
            self.fail(key, "is required");
        }
        v
    }

    /// An optional boolean.
    pub fn opt_bool(&mut self, key: &'a str) -> Option<bool> {
        let v = self.get(key)?;
        match v {
            Value::Bool(b) => Some(*b),
            other => {
                let msg = format!("must be true or false, got {}", type_name(other));
                self.fail(key, msg);
                None
            }
        }
    }

    /// An optional array (absent or null gives an empty slice).
    pub fn opt_array(&mut self, key: &'a str) -> &'a [Value] {
        match self.get(key) {
            None => &[],
            Some(Value::Array(items)) => items,
            Some(other) => {
                let msg = format!("must be an array, got {}", type_name(other));
                self.fail(key, msg);
                &[]
            }
        }
    }

    /// Reports members that were neither read nor ignored, and returns the
    /// problems found.
    pub fn finish(mut self) -> Invalid {
        let unknown: Vec<&String> = self
            .obj
            .keys()
            .filter(|k| !self.seen.contains(k.as_str()))
            .collect();
        let known: Vec<&str> = self.seen.iter().copied().collect();
        for k in unknown {
            let p = self.pointer(k);
            self.errors.push(
                p,
                format!(
                    "unknown property; accepted properties are: {}",
                    known.join(", ")
                ),
            );
        }
        self.errors
    }
}
