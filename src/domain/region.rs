//! The region the service is built for: Đà Nẵng, Vietnam, and the
//! [`ServiceRegion`] outside which asset geometries are refused.
//!
//! Boxes are lon/lat degrees (EPSG:4326, WGS84) in the order `[west, south,
//! east, north]`, as GeoJSON `bbox` members and OGC `bbox=` parameters.

use geo::{Coord, CoordsIter, Geodesic, Geometry, Length};

use super::Invalid;

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

/// The default service region: the city ([`CITY_BBOX`]) with a margin of
/// 0.2° (about 20 km) on every side, so neighbouring Quảng Nam's edge (Hội
/// An, the Hải Vân pass) fits. Asset geometries outside it are refused.
pub const SERVICE_BBOX: [f64; 4] = [107.6, 15.7, 108.6, 16.45];

/// The default cable region: the East Sea (South China Sea) and the Gulf of
/// Tonkin, from the Vietnamese coast to Hong Kong, Luzon and Borneo's
/// north, where the city's submarine cables run to their next landing.
pub const CABLE_BBOX: [f64; 4] = [100.0, 0.0, 125.0, 25.0];

/// Default longest terrestrial (underground or aerial) fibre route, km: the
/// service region's perimeter is about 400 km.
pub const MAX_ROUTE_KM: f64 = 500.0;

/// Default longest submarine cable, km (Đà Nẵng to Hong Kong is about
/// 900 km, to Manila about 1,300 km).
pub const MAX_CABLE_KM: f64 = 2_000.0;

/// Default most parts (LineStrings) of one fibre route.
pub const MAX_ROUTE_PARTS: usize = 100;

/// A lon/lat box, degrees (EPSG:4326): `[west, south, east, north]`.
/// Written and parsed as `minLon,minLat,maxLon,maxLat`; it does not cross
/// the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LonLatBox(pub [f64; 4]);

impl LonLatBox {
    /// True when lon/lat `c` lies inside (edges included).
    pub fn contains(&self, c: Coord<f64>) -> bool {
        let [w, s, e, n] = self.0;
        (w..=e).contains(&c.x) && (s..=n).contains(&c.y)
    }
}

impl std::fmt::Display for LonLatBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [w, s, e, n] = self.0;
        write!(f, "[{w}, {s}, {e}, {n}]")
    }
}

impl std::str::FromStr for LonLatBox {
    type Err = String;

    /// `minLon,minLat,maxLon,maxLat`, degrees, west < east and south < north.
    fn from_str(text: &str) -> Result<Self, String> {
        let v: Vec<f64> = text
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("'{text}' is not minLon,minLat,maxLon,maxLat: {e}"))?;
        let [w, s, e, n] = <[f64; 4]>::try_from(v)
            .map_err(|_| format!("'{text}' is not four numbers minLon,minLat,maxLon,maxLat"))?;
        let lon = -180.0..=180.0;
        let lat = -90.0..=90.0;
        if !(lon.contains(&w) && lon.contains(&e) && lat.contains(&s) && lat.contains(&n)) {
            return Err(format!("'{text}' is not within lon -180..180, lat -90..90"));
        }
        if !(w < e && s < n) {
            return Err(format!(
                "'{text}' is not minLon,minLat,maxLon,maxLat with minLon < maxLon and minLat < maxLat"
            ));
        }
        Ok(LonLatBox([w, s, e, n]))
    }
}

/// Where asset geometries may lie, and how long a fibre route may be: the
/// checks every write of a tower, fibre route, data centre or district
/// passes, through the API and every import format alike.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRegion {
    /// Every vertex of every asset lies in it (setting `SERVICE_REGION`).
    pub area: LonLatBox,
    /// Submarine cables may reach out into it (setting `CABLE_REGION`);
    /// they still land in [`ServiceRegion::area`].
    pub cable_area: LonLatBox,
    /// Longest terrestrial route, geodesic km (setting `MAX_ROUTE_KM`).
    pub max_route_km: f64,
    /// Longest submarine cable, geodesic km (setting `MAX_CABLE_KM`).
    pub max_cable_km: f64,
    /// Most parts of one route (setting `MAX_ROUTE_PARTS`).
    pub max_route_parts: usize,
}

impl Default for ServiceRegion {
    fn default() -> Self {
        Self {
            area: LonLatBox(SERVICE_BBOX),
            cable_area: LonLatBox(CABLE_BBOX),
            max_route_km: MAX_ROUTE_KM,
            max_cable_km: MAX_CABLE_KM,
            max_route_parts: MAX_ROUTE_PARTS,
        }
    }
}

/// Where a region problem points: the geometry's coordinates.
const COORDINATES: &str = "/geometry/coordinates";

impl ServiceRegion {
    /// Checks an asset's geometry (lon/lat): a tower's point, a data
    /// centre's or district's polygons, or a fibre route's lines (`cable`:
    /// a submarine cable, which may reach into the cable region and be
    /// longer, but must land in the service region).
    ///
    /// # Errors
    /// The first vertex outside the region (naming the region, its box and
    /// its setting), a route longer than its limit or with more parts.
    pub fn check(&self, geometry: &Geometry<f64>, route: Option<Route>) -> Result<(), Invalid> {
        let (area, name, setting) = match route {
            Some(Route::Submarine) => (&self.cable_area, "cable region", "CABLE_REGION"),
            _ => (&self.area, "service region", "SERVICE_REGION"),
        };
        if let Some(c) = geometry.coords_iter().find(|c| !area.contains(*c)) {
            let extra = match route {
                Some(Route::Submarine) => "; submarine cables may reach it",
                Some(Route::Terrestrial) => {
                    "; only submarine cables may reach further (into CABLE_REGION)"
                }
                None => "",
            };
            return Err(Invalid::one(
                COORDINATES,
                format!(
                    "lon {}, lat {} lies outside the {name} {area} (lon/lat degrees: west, south, east, north; setting {setting}){extra}",
                    c.x, c.y
                ),
            ));
        }
        let Some(route) = route else {
            return Ok(());
        };
        if route == Route::Submarine && !geometry.coords_iter().any(|c| self.area.contains(c)) {
            return Err(Invalid::one(
                COORDINATES,
                format!(
                    "a submarine cable must land in the service region {} (lon/lat degrees; setting SERVICE_REGION): no vertex of this one lies in it",
                    self.area
                ),
            ));
        }
        let parts = match geometry {
            Geometry::MultiLineString(m) => m.0.len(),
            _ => 1,
        };
        if parts > self.max_route_parts {
            return Err(Invalid::one(
                "/geometry",
                format!(
                    "the route has {parts} parts; a route may have at most {} (setting MAX_ROUTE_PARTS)",
                    self.max_route_parts
                ),
            ));
        }
        let (max_km, what, setting) = match route {
            Route::Submarine => (self.max_cable_km, "a submarine cable", "MAX_CABLE_KM"),
            Route::Terrestrial => (self.max_route_km, "a terrestrial route", "MAX_ROUTE_KM"),
        };
        let km = match geometry {
            Geometry::LineString(l) => Geodesic.length(l),
            Geometry::MultiLineString(m) => Geodesic.length(m),
            _ => 0.0,
        } / 1000.0;
        if km > max_km {
            return Err(Invalid::one(
                "/geometry",
                format!(
                    "the route is {km:.1} km long; {what} may be at most {max_km} km (setting {setting})"
                ),
            ));
        }
        Ok(())
    }
}

/// What kind of fibre route a geometry is, for [`ServiceRegion::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Underground or aerial: within the service region.
    Terrestrial,
    /// Submarine: within the cable region, landing in the service region.
    Submarine,
}

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

    #[test]
    fn the_service_region_holds_the_city_and_the_cable_region_holds_it() {
        let holds = |outer: [f64; 4], inner: [f64; 4]| {
            outer[0] < inner[0] && outer[1] < inner[1] && inner[2] < outer[2] && inner[3] < outer[3]
        };
        assert!(holds(SERVICE_BBOX, CITY_BBOX));
        assert!(holds(CABLE_BBOX, SERVICE_BBOX));
    }

    #[test]
    fn boxes_parse_as_min_lon_min_lat_max_lon_max_lat() {
        assert_eq!(
            " 107.6, 15.7,108.6 ,16.45".parse::<LonLatBox>(),
            Ok(LonLatBox(SERVICE_BBOX))
        );
        for bad in [
            "1,2,3",
            "1,2,3,4,5",
            "3,2,1,4",
            "1,4,3,2",
            "1,2,181,4",
            "a,b,c,d",
            "",
        ] {
            assert!(bad.parse::<LonLatBox>().is_err(), "{bad}");
        }
        assert_eq!(
            LonLatBox(SERVICE_BBOX).to_string(),
            "[107.6, 15.7, 108.6, 16.45]"
        );
    }

    fn line(coords: &[(f64, f64)]) -> Geometry<f64> {
        Geometry::LineString(coords.iter().copied().collect())
    }

    #[test]
    fn assets_outside_the_service_region_are_refused_naming_it() {
        let r = ServiceRegion::default();
        assert!(
            r.check(&Geometry::Point(geo::Point::new(108.22, 16.05)), None)
                .is_ok()
        );
        // Hà Nội and London.
        for (lon, lat) in [(105.85, 21.03), (-0.1276, 51.5072)] {
            let e = r
                .check(&Geometry::Point(geo::Point::new(lon, lat)), None)
                .unwrap_err();
            let d = &e.errors[0].detail;
            assert!(
                d.contains("service region [107.6, 15.7, 108.6, 16.45]")
                    && d.contains("SERVICE_REGION"),
                "{d}"
            );
            assert_eq!(e.errors[0].pointer, "/geometry/coordinates");
        }
    }

    #[test]
    fn submarine_cables_may_reach_the_cable_region_but_must_land() {
        let r = ServiceRegion::default();
        // Đà Nẵng out to the Paracels' west, about 300 km.
        let to_sea = line(&[(108.22, 16.08), (109.5, 16.3), (111.0, 16.5)]);
        assert!(r.check(&to_sea, Some(Route::Submarine)).is_ok());
        let e = r.check(&to_sea, Some(Route::Terrestrial)).unwrap_err();
        assert!(
            e.errors[0].detail.contains("only submarine cables"),
            "{e:?}"
        );
        let offshore = line(&[(110.0, 16.0), (111.0, 16.5)]);
        let e = r.check(&offshore, Some(Route::Submarine)).unwrap_err();
        assert!(e.errors[0].detail.contains("must land"), "{e:?}");
        let to_europe = line(&[(108.22, 16.08), (2.35, 48.85)]);
        let e = r.check(&to_europe, Some(Route::Submarine)).unwrap_err();
        assert!(
            e.errors[0]
                .detail
                .contains("cable region [100, 0, 125, 25]"),
            "{e:?}"
        );
    }

    #[test]
    fn routes_longer_than_the_limit_or_in_too_many_parts_are_refused() {
        let r = ServiceRegion::default();
        // Back and forth across the region: about 100 km a leg.
        let mut coords = Vec::new();
        for i in 0..8 {
            coords.push(if i % 2 == 0 {
                (107.65, 16.0)
            } else {
                (108.55, 16.0)
            });
        }
        let long = line(&coords);
        let e = r.check(&long, Some(Route::Terrestrial)).unwrap_err();
        let d = &e.errors[0].detail;
        assert!(
            d.contains("km long") && d.contains("at most 500 km") && d.contains("MAX_ROUTE_KM"),
            "{d}"
        );
        assert!(
            r.check(&long, Some(Route::Submarine)).is_ok(),
            "under the cable limit"
        );
        let parts = Geometry::MultiLineString(geo::MultiLineString::new(
            (0..101)
                .map(|i| {
                    let x = 108.0 + f64::from(i) * 0.001;
                    geo::LineString::from(vec![(x, 16.0), (x, 16.001)])
                })
                .collect(),
        ));
        let e = r.check(&parts, Some(Route::Terrestrial)).unwrap_err();
        assert!(
            e.errors[0].detail.contains("101 parts")
                && e.errors[0].detail.contains("MAX_ROUTE_PARTS"),
            "{e:?}"
        );
    }
}
