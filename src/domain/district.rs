//! Analysis areas (the city's districts).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::props::Props;
use super::{DistrictCode, Invalid, geometry};

/// Properties the service computes; ignored on input.
pub const READ_ONLY: &[&str] = &["id", "area_km2", "created_at", "updated_at"];

/// A validated district to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDistrict {
    /// Code (the GSO district code, e.g. `492`).
    pub code: DistrictCode,
    /// Name in Vietnamese, with diacritics.
    pub name: String,
    /// Name without diacritics.
    pub name_ascii: String,
    /// Resident population.
    pub population: i64,
    /// Area, lon/lat; a Polygon is stored as a one-part MultiPolygon.
    pub geometry: geo::MultiPolygon<f64>,
}

/// True when `code` is a valid district code (`[A-Za-z0-9_-]{1,32}`).
pub fn is_valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 32
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Strips Vietnamese diacritics (and đ/Đ) for an ASCII name.
pub fn ascii_name(name: &str) -> String {
    const FROM: &str = "àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđÀÁẠẢÃÂẦẤẬẨẪĂẰẮẶẲẴÈÉẸẺẼÊỀẾỆỂỄÌÍỊỈĨÒÓỌỎÕÔỒỐỘỔỖƠỜỚỢỞỠÙÚỤỦŨƯỪỨỰỬỮỲÝỴỶỸĐ";
    const TO: &str = "aaaaaaaaaaaaaaaaaeeeeeeeeeeeiiiiiooooooooooooooooouuuuuuuuuuuyyyyydAAAAAAAAAAAAAAAAAEEEEEEEEEEEIIIIIOOOOOOOOOOOOOOOOOUUUUUUUUUUUYYYYYD";
    name.chars()
        .map(|c| {
            FROM.chars()
                .position(|f| f == c)
                .and_then(|i| TO.chars().nth(i))
                .unwrap_or(c)
        })
        .collect()
}

impl NewDistrict {
    /// Validates a district Feature. The code comes from `properties.code`,
    /// or from `id_hint` (the feature id or URL) when the property is absent.
    ///
    /// # Errors
    /// Every problem found, with JSON Pointers into the Feature.
    pub fn from_feature(
        geometry: Option<&Value>,
        properties: &serde_json::Map<String, Value>,
        id_hint: Option<&str>,
    ) -> Result<Self, Invalid> {
        let mut errors = Invalid::default();
        let geom = geometry::parse_geometry(geometry, super::CollectionId::Districts, "/geometry")
            .map_err(|e| errors.extend(e))
            .ok();
        let mut p = Props::new(properties, "/properties");
        p.ignore(READ_ONLY);
        let code = match (p.opt_str("code", 32), id_hint) {
            (Some(c), _) => Some(c),
            (None, Some(h)) => Some(h.to_owned()),
            (None, None) => {
                p.fail("code", "is required");
                None
            }
        };
        if let Some(c) = &code
            && !is_valid_code(c)
        {
            p.fail("code", "must be 1–32 letters, digits, '_' or '-'");
        }
        let name = p.req_str("name", 200);
        let name_ascii = p.opt_str("name_ascii", 200);
        let population = p.opt_i64("population", 0, 10_000_000_000).unwrap_or(0);
        errors.extend(p.finish());
        let multi = geom.map(|g| match g {
            geo::Geometry::Polygon(poly) => geo::MultiPolygon::new(vec![poly]),
            geo::Geometry::MultiPolygon(mp) => mp,
            _ => geo::MultiPolygon::new(vec![]),
        });
        match (multi, code, name) {
            (Some(geometry), Some(code), Some(name)) if errors.is_empty() => Ok(Self {
                name_ascii: name_ascii.unwrap_or_else(|| ascii_name(&name)),
                code: DistrictCode(code),
                name,
                population,
                geometry,
            }),
            _ => Err(errors),
        }
    }
}

/// A stored district.
#[derive(Debug, Clone, PartialEq)]
pub struct District {
    /// Code.
    pub code: DistrictCode,
    /// Vietnamese name with diacritics.
    pub name: String,
    /// ASCII name.
    pub name_ascii: String,
    /// Resident population.
    pub population: i64,
    /// Geodesic area on WGS84, km².
    pub area_km2: f64,
    /// MultiPolygon, lon/lat.
    pub geometry: geo::MultiPolygon<f64>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn vietnamese_names_lose_their_diacritics() {
        assert_eq!(super::ascii_name("Ngũ Hành Sơn"), "Ngu Hanh Son");
        assert_eq!(super::ascii_name("Đà Nẵng"), "Da Nang");
    }
}
