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
pub mod duct;
pub mod duct_bank;
pub mod fibre;
pub mod geometry;
pub mod id;
pub mod lease;
pub mod operator;
pub mod props;
pub mod region;
pub mod structure;
pub mod tower;

pub use collection::CollectionId;
pub use id::{DataCentreId, DistrictCode, FibreRouteId, SectorId, TowerId};

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

            /// The text of every accepted value, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The stored and serialised text of this value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The accepted values, comma-separated, for error messages.
            pub fn expected() -> String {
                Self::NAMES.join(", ")
            }
        }

        // Stored as `text` with a check constraint listing the same values:
        // encoded and decoded as their text.
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }

            fn array_compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::postgres::PgHasArrayType>::array_compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
                text.parse::<$name>().map_err(|e| {
                    format!(concat!("stored ", stringify!($name), " '{}' {}"), text, e).into()
                })
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'_, sqlx::Postgres>>::encode(self.as_str(), buf)
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

#[cfg(test)]
mod tests {
    use super::Status;
    use super::fibre::Placement;
    use super::tower::{StructureType, Technology};

    /// `(column in ('a', 'b', …))` for the accepted values of an enum.
    fn check_list(column: &str, names: &[&str]) -> String {
        let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
        format!("{column} in ({})", quoted.join(", "))
    }

    #[test]
    fn names_are_the_texts_of_every_value_and_parse_back() {
        fn check<T>(all: &[T], names: &[&str])
        where
            T: Copy + PartialEq + std::fmt::Debug + std::str::FromStr + std::fmt::Display,
        {
            assert_eq!(all.len(), names.len());
            for (v, n) in all.iter().zip(names) {
                assert_eq!(&v.to_string(), n);
                assert_eq!(n.parse::<T>().ok(), Some(*v));
            }
        }
        check(Status::ALL, Status::NAMES);
        check(StructureType::ALL, StructureType::NAMES);
        check(Technology::ALL, Technology::NAMES);
        check(Placement::ALL, Placement::NAMES);
    }

    #[test]
    fn the_check_constraints_accept_exactly_the_enum_values() {
        let schema = include_str!("../../migrations/0001_inventory.sql");
        for expected in [
            check_list("structure_type", StructureType::NAMES),
            check_list("status", Status::NAMES),
            check_list("technology", Technology::NAMES),
            check_list("placement", Placement::NAMES),
        ] {
            assert!(schema.contains(&expected), "no `{expected}` in the schema");
        }
    }
}
