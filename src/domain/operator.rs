//! Carriers (mobile network operators and fixed-line/fibre operators).

use serde::Serialize;

/// A carrier registered in the inventory.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Operator {
    /// Slug such as `viettel`: lower-case letters, digits and hyphens.
    pub id: String,
    /// Display name, e.g. `VNPT (VinaPhone)`.
    pub name: String,
    /// Mobile country code (Vietnam: 452), when the carrier runs a mobile network.
    pub mcc: Option<i16>,
    /// Mobile network code within the MCC.
    pub mnc: Option<i16>,
}

/// True when `id` is a valid operator slug (`^[a-z0-9][a-z0-9-]{0,62}$`).
pub fn is_valid_slug(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}
