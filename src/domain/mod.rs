//! Validated domain types of the inventory: what an asset is and which values
//! it may take, and the region served ([`region`]). No SQL and no HTTP here.
//!
//! Each writable layer has an input type (`New…`) built from a GeoJSON
//! Feature by `from_feature`, which either returns a fully validated value or
//! every problem found, each with a JSON Pointer into the submitted document.

pub mod account;
pub mod classify;
pub mod collection;
pub mod data_centre;
pub mod district;
pub mod fibre;
pub mod geometry;
pub mod operator;
pub mod props;
pub mod region;
pub mod tower;

pub use collection::CollectionId;

use serde::Serialize;

/// One problem with a submitted value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// JSON Pointer (RFC 6901) to the offending member, e.g. `/properties/height_m`.
    pub pointer: String,
    /// What is wrong and what would be accepted.
    pub detail: String,
}

/// All problems found in one submission; never empty when returned as an error.
#[derive(Debug, Clone, Default, PartialEq, thiserror::Error)]
#[error("{} invalid field(s)", .errors.len())]
pub struct Invalid {
    /// The problems, in document order as far as practical.
    pub errors: Vec<FieldError>,
}

impl Invalid {
    /// A single-problem error.
    pub fn one(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut invalid = Self::default();
        invalid.push(pointer, detail);
        invalid
    }

    /// Records a problem.
    pub fn push(&mut self, pointer: impl Into<String>, detail: impl Into<String>) {
        self.errors.push(FieldError {
            pointer: pointer.into(),
            detail: detail.into(),
        });
    }

    /// Adds every problem of `other`.
    pub fn extend(&mut self, other: Invalid) {
        self.errors.extend(other.errors);
    }

    /// `Ok(value)` when no problem was recorded, else `Err(self)`.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, Invalid> {
        if self.errors.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }

    /// True when no problem was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A text outside a closed set of values (the error of parsing a
/// `text_enum!` type); it lists the accepted values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of: {expected}")]
pub struct NotOneOf {
    /// The accepted values, comma-separated.
    pub expected: String,
}

/// Declares a closed set of text values stored as `text` with a check
/// constraint, with parsing that names the accepted values on failure.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[doc = concat!("`", $text, "`")] #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every accepted value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and serialised text of this value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The accepted values, comma-separated, for error messages.
            pub fn expected() -> String {
                [$($text),+].join(", ")
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::NotOneOf;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::domain::NotOneOf { expected: Self::expected() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

text_enum! {
    /// Life-cycle status of an asset.
    Status {
        Planned => "planned",
        UnderConstruction => "under_construction",
        Operational => "operational",
        Retired => "retired",
    }
}
