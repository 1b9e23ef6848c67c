//! Typed ids of stored assets: a tower id cannot be passed where a fibre
//! route id is expected. Each is the table's `bigint` primary key, stored,
//! bound and serialised as the bare number.

/// Declares an `i64` id newtype, transparent to sqlx and serde.
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default,
            serde::Serialize, serde::Deserialize, sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The bare number, as in URLs and the audit history.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }
    };
}

id_type! {
    /// Id of a tower (`towers.id`).
    TowerId
}

id_type! {
    /// Id of a sector (`sectors.id`), unique across all towers.
    SectorId
}

id_type! {
    /// Id of a fibre route (`fibre_routes.id`).
    FibreRouteId
}

id_type! {
    /// Id of a data centre (`data_centres.id`).
    DataCentreId
}

/// Code of a district (`districts.code`, its key): the GSO district code,
/// e.g. `492`. Stored, bound and serialised as the bare text.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct DistrictCode(pub String);

impl DistrictCode {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<DistrictCode> for String {
    fn from(code: DistrictCode) -> String {
        code.0
    }
}

impl std::fmt::Display for DistrictCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for DistrictCode {
    type Err = String;
    /// Accepts a valid code only ([`super::district::is_valid_code`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if super::district::is_valid_code(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err("must be 1–32 letters, digits, '_' or '-'".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{DistrictCode, TowerId};

    #[test]
    fn an_id_is_a_bare_number_in_json_and_text() {
        assert_eq!(serde_json::to_string(&TowerId(42)).unwrap(), "42");
        assert_eq!(serde_json::from_str::<TowerId>("42").unwrap(), TowerId(42));
        assert_eq!(TowerId(7).to_string(), "7");
        assert_eq!("7".parse::<TowerId>(), Ok(TowerId(7)));
        assert!("x".parse::<TowerId>().is_err());
    }

    #[test]
    fn a_district_code_is_bare_text_and_parses_only_when_valid() {
        let code: DistrictCode = "492".parse().unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), r#""492""#);
        assert_eq!(code.to_string(), "492");
        assert!("49 2".parse::<DistrictCode>().is_err());
        assert!("".parse::<DistrictCode>().is_err());
    }
}
