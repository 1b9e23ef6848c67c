//! The region the service is built for: Đà Nẵng, Vietnam.
//!
//! Boxes are lon/lat degrees (EPSG:4326, WGS84) in the order `[west, south,
//! east, north]`, as GeoJSON `bbox` members and OGC `bbox=` parameters.

/// The city: its seven mainland districts (lon 107.82–108.34, lat
/// 15.92–16.22 in `data/danang_districts.geojson`) and the major transport
/// lines leaving them, with a margin of 2–6 km. Maps open on it, and the
/// coverage index's default frame covers it, while no data is loaded.
pub const CITY_BBOX: [f64; 4] = [107.8, 15.9, 108.4, 16.25];

/// The city's dense part: the six urban districts (lon 108.09–108.34, lat
/// 15.96–16.19) with the plain of Hòa Vang west and south of them, where the
/// synthetic OpenCelliD sample and the in-memory test workloads put their
/// cells and sectors.
pub const CITY_CORE_BBOX: [f64; 4] = [107.95, 15.95, 108.30, 16.15];

/// Vietnam (lon 102.1–109.5, lat 8.4–23.4 on the mainland) with a margin:
/// what imports accept when no district is loaded to say where the city is.
pub const COUNTRY_BBOX: [f64; 4] = [102.0, 8.0, 110.0, 23.5];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_box_holds_the_next_smaller_one() {
        let holds = |outer: [f64; 4], inner: [f64; 4]| {
            outer[0] < inner[0] && outer[1] < inner[1] && inner[2] < outer[2] && inner[3] < outer[3]
        };
        assert!(holds(COUNTRY_BBOX, CITY_BBOX));
        assert!(holds(CITY_BBOX, CITY_CORE_BBOX));
        for b in [COUNTRY_BBOX, CITY_BBOX, CITY_CORE_BBOX] {
            assert!(
                b[0] < b[2] && b[1] < b[3],
                "{b:?} is [west, south, east, north]"
            );
        }
    }
}
