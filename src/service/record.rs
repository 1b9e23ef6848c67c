//! A stored feature of any collection ([`Record`]), its key ([`Key`]), its
//! stored and served GeoJSON forms (see [`super::render`]) and its ETag.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use super::error::{ServiceError, ServiceResult};
use super::render::{
    DataCentreFeature, DistrictFeature, DuctBankFeature, FibreFeature, GeneralisedFibreFeature,
    Link, Ranges, StructureFeature, TowerFeature,
};
use crate::db::trash::FeatureKey;
use crate::db::{self, DbResult};
use crate::domain::data_centre::DataCentre;
use crate::domain::district::District;
use crate::domain::duct_bank::{Duct, DuctBank, Subduct};
use crate::domain::fibre::FibreRoute;
use crate::domain::structure::{Owner, Structure};
use crate::domain::tower::{Sector, Tower};
use crate::domain::{CollectionId, DataCentreId, DistrictCode, FibreRouteId, SectorId, TowerId};

/// A feature key: a numeric id, or a district code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Towers, fibre routes, data centres.
    Id(i64),
    /// Districts.
    Code(String),
}

impl Key {
    /// Reads a feature id of collection `c` as it appears in URLs; `None`
    /// when it cannot name a feature of `c` (not a positive integer, or not
    /// a district code).
    pub fn parse(c: CollectionId, raw: &str) -> Option<Key> {
        if c.numeric_ids() {
            raw.parse::<i64>().ok().filter(|i| *i > 0).map(Key::Id)
        } else if crate::domain::district::is_valid_code(raw) {
            Some(Key::Code(raw.to_owned()))
        } else {
            None
        }
    }

    /// The key as in URLs and the audit history.
    pub fn as_string(&self) -> String {
        match self {
            Key::Id(i) => i.to_string(),
            Key::Code(c) => c.clone(),
        }
    }

    /// The key as the database layer takes it.
    pub fn db(&self) -> FeatureKey<'_> {
        match self {
            Key::Id(i) => FeatureKey::Id(*i),
            Key::Code(c) => FeatureKey::Code(c),
        }
    }
}

/// A stored feature of any collection.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A tower with its sectors.
    Tower(Tower),
    /// A fibre route.
    Fibre(FibreRoute),
    /// A data centre.
    DataCentre(DataCentre),
    /// A district.
    District(District),
    /// A structure of the duct network.
    Structure(Structure),
    /// A duct bank with its ducts.
    DuctBank(DuctBank),
}

impl Record {
    /// Reads a live feature (on the caller's connection or transaction).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn load(
        conn: &mut PgConnection,
        c: CollectionId,
        key: &Key,
    ) -> DbResult<Option<Record>> {
        Ok(match (c, key) {
            (CollectionId::Towers, Key::Id(id)) => db::towers::get(conn, TowerId(*id))
                .await?
                .map(Record::Tower),
            (CollectionId::FibreRoutes, Key::Id(id)) => {
                db::fibre_routes::get(conn, FibreRouteId(*id))
                    .await?
                    .map(Record::Fibre)
            }
            (CollectionId::DataCentres, Key::Id(id)) => {
                db::data_centres::get(conn, DataCentreId(*id))
                    .await?
                    .map(Record::DataCentre)
            }
            (CollectionId::Districts, Key::Code(code)) => {
                let code = DistrictCode(code.clone());
                db::districts::get(conn, &code).await?.map(Record::District)
            }
            (CollectionId::Structures, Key::Id(id)) => {
                db::structures::get(conn, *id).await?.map(Record::Structure)
            }
            (CollectionId::DuctBanks, Key::Id(id)) => {
                db::duct_banks::get(conn, *id).await?.map(Record::DuctBank)
            }
            _ => None,
        })
    }

    /// Reads the live features of a numbered collection (not districts)
    /// with these ids, in id order for towers (one query), else in `ids`
    /// order; missing ones are left out.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn load_many(
        conn: &mut PgConnection,
        c: CollectionId,
        ids: &[i64],
    ) -> DbResult<Vec<Record>> {
        if c == CollectionId::Towers {
            let ids: Vec<TowerId> = ids.iter().copied().map(TowerId).collect();
            return Ok(db::towers::get_many(conn, &ids)
                .await?
                .into_iter()
                .map(Record::Tower)
                .collect());
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(Record::load(conn, c, &Key::Id(*id)).await?);
        }
        Ok(out)
    }

    /// The collection the record belongs to.
    pub fn collection(&self) -> CollectionId {
        match self {
            Record::Tower(_) => CollectionId::Towers,
            Record::Fibre(_) => CollectionId::FibreRoutes,
            Record::DataCentre(_) => CollectionId::DataCentres,
            Record::District(_) => CollectionId::Districts,
            Record::Structure(_) => CollectionId::Structures,
            Record::DuctBank(_) => CollectionId::DuctBanks,
        }
    }

    /// The feature id as in URLs.
    pub fn id(&self) -> String {
        self.key().as_string()
    }

    /// The feature's key.
    pub fn key(&self) -> Key {
        match self {
            Record::Tower(t) => Key::Id(t.id.get()),
            Record::Fibre(f) => Key::Id(f.id.get()),
            Record::DataCentre(d) => Key::Id(d.id.get()),
            Record::District(d) => Key::Code(d.code.to_string()),
            Record::Structure(s) => Key::Id(s.id),
            Record::DuctBank(b) => Key::Id(b.id),
        }
    }

    /// The owning operator (none for districts, and for the city's
    /// structures and duct banks).
    pub fn owner(&self) -> Option<&str> {
        match self {
            Record::Tower(t) => Some(&t.operator),
            Record::Fibre(f) => Some(&f.operator),
            Record::DataCentre(d) => Some(&d.operator),
            Record::District(_) => None,
            Record::Structure(s) => s.owner.column(),
            Record::DuctBank(b) => b.owner.column(),
        }
    }

    /// Operators with a stake in the feature: the owner and a tower's tenants.
    pub fn involved(&self) -> Vec<String> {
        let mut v: Vec<String> = self.owner().map(str::to_owned).into_iter().collect();
        if let Record::Tower(t) = self {
            v.extend(t.tenants.iter().cloned());
        }
        v
    }

    /// When the feature was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        match self {
            Record::Tower(t) => t.created_at,
            Record::Fibre(f) => f.created_at,
            Record::DataCentre(d) => d.created_at,
            Record::District(d) => d.created_at,
            Record::Structure(s) => s.created_at,
            Record::DuctBank(b) => b.created_at,
        }
    }

    /// The GeoJSON of the feature. `exact: false` generalises a fibre route
    /// (the only feature with a generalised form); `ranges` adds the derived
    /// values of the served form (without: the stored form); `links` are
    /// appended when given.
    ///
    /// # Errors
    /// [`ServiceError::Output`] if serialisation fails (it does not for
    /// these types in practice).
    pub fn to_json(
        &self,
        exact: bool,
        ranges: Option<Ranges<'_>>,
        links: Option<&[Link]>,
    ) -> ServiceResult<Vec<u8>> {
        let bytes = match self {
            Record::Tower(t) => serde_json::to_vec(&TowerFeature(t, links, ranges)),
            Record::Fibre(f) if !exact => serde_json::to_vec(&GeneralisedFibreFeature(f, links)),
            Record::Fibre(f) => serde_json::to_vec(&FibreFeature(f, links)),
            Record::DataCentre(d) => serde_json::to_vec(&DataCentreFeature(d, links)),
            Record::District(d) => serde_json::to_vec(&DistrictFeature(d, links)),
            Record::Structure(x) => serde_json::to_vec(&StructureFeature(x, links)),
            Record::DuctBank(b) => serde_json::to_vec(&DuctBankFeature(b, links)),
        };
        bytes.map_err(|e| ServiceError::output("rendering a feature as GeoJSON", e))
    }

    /// The stored form (exact, nothing derived, no links): what the audit
    /// history records.
    ///
    /// # Errors
    /// As [`Record::to_json`].
    pub fn stored_document(&self) -> ServiceResult<Value> {
        serde_json::from_slice(&self.to_json(true, None, None)?)
            .map_err(|e| ServiceError::output("reading back a stored document", e))
    }

    /// The strong ETag of the feature as seen exactly (`exact`) or
    /// generalised: a hash of its stored form, so it changes with the data
    /// and never with the coverage configuration.
    ///
    /// # Errors
    /// As [`Record::to_json`].
    pub fn etag(&self, exact: bool) -> ServiceResult<String> {
        Ok(etag_of(&self.to_json(exact, None, None)?))
    }

    /// Rebuilds a record from its stored document (an audit-history
    /// `before`/`after`, or a document served before stored forms existed,
    /// whose modelled sector ranges are dropped). `None` when the document
    /// is not a feature of `c`.
    pub fn from_document(c: CollectionId, doc: &Value) -> Option<Record> {
        let p = &doc["properties"];
        let s = |k: &str| p[k].as_str().map(str::to_owned);
        let status = || parsed(&p["status"]);
        let t = |k: &str| {
            p[k].as_str()
                .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                .map(|v| v.with_timezone(&Utc))
        };
        let geometry = || -> Option<geo::Geometry<f64>> {
            let g: geojson::Geometry = serde_json::from_value(doc["geometry"].clone()).ok()?;
            geo::Geometry::try_from(g).ok()
        };
        let (created_at, updated_at) = (t("created_at")?, t("updated_at")?);
        Some(match c {
            CollectionId::Towers => {
                let id = TowerId(doc["id"].as_i64()?);
                let coords = doc["geometry"]["coordinates"].as_array()?;
                let sectors = p["sectors"]
                    .as_array()?
                    .iter()
                    .map(|v| sector_from_document(id, v))
                    .collect::<Option<Vec<_>>>()?;
                Record::Tower(Tower {
                    id,
                    operator: s("operator")?,
                    site_code: s("site_code")?,
                    name: s("name"),
                    structure_type: parsed(&p["structure_type"])?,
                    height_m: p["height_m"].as_f64()?,
                    status: status()?,
                    tenants: p["tenants"]
                        .as_array()?
                        .iter()
                        .map(|v| v.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()?,
                    external_id: s("external_id"),
                    synthetic: p["synthetic"].as_bool().unwrap_or(false),
                    lon: coords.first()?.as_f64()?,
                    lat: coords.get(1)?.as_f64()?,
                    sectors,
                    created_at,
                    updated_at,
                })
            }
            CollectionId::FibreRoutes => Record::Fibre(FibreRoute {
                id: FibreRouteId(doc["id"].as_i64()?),
                operator: s("operator")?,
                name: s("name"),
                placement: parsed(&p["placement"])?,
                fibre_count: i32::try_from(p["fibre_count"].as_i64()?).ok()?,
                capacity_gbps: p["capacity_gbps"].as_f64(),
                status: status()?,
                external_id: s("external_id"),
                synthetic: p["synthetic"].as_bool().unwrap_or(false),
                length_m: p["length_m"].as_f64()?,
                geometry: geometry()?,
                created_at,
                updated_at,
            }),
            CollectionId::DataCentres => Record::DataCentre(DataCentre {
                id: DataCentreId(doc["id"].as_i64()?),
                operator: s("operator")?,
                name: s("name")?,
                tier: p["tier"].as_i64().and_then(|v| i16::try_from(v).ok()),
                power_mw: p["power_mw"].as_f64(),
                racks: p["racks"].as_i64().and_then(|v| i32::try_from(v).ok()),
                status: status()?,
                external_id: s("external_id"),
                synthetic: p["synthetic"].as_bool().unwrap_or(false),
                geometry: geometry()?,
                created_at,
                updated_at,
            }),
            CollectionId::Districts => {
                let geometry = match geometry()? {
                    geo::Geometry::MultiPolygon(mp) => mp,
                    geo::Geometry::Polygon(p) => geo::MultiPolygon(vec![p]),
                    _ => return None,
                };
                Record::District(District {
                    code: DistrictCode(s("code")?),
                    name: s("name")?,
                    name_ascii: s("name_ascii")?,
                    population: p["population"].as_i64()?,
                    area_km2: p["area_km2"].as_f64()?,
                    geometry,
                    created_at,
                    updated_at,
                })
            }
            CollectionId::Structures => {
                let coords = doc["geometry"]["coordinates"].as_array()?;
                Record::Structure(Structure {
                    id: doc["id"].as_i64()?,
                    owner: Owner::from_text(p["owner"].as_str()?),
                    kind: parsed(&p["kind"])?,
                    name: s("name"),
                    status: parsed(&p["status"])?,
                    external_id: s("external_id"),
                    synthetic: p["synthetic"].as_bool().unwrap_or(false),
                    lon: coords.first()?.as_f64()?,
                    lat: coords.get(1)?.as_f64()?,
                    created_at,
                    updated_at,
                })
            }
            CollectionId::DuctBanks => {
                let geo::Geometry::LineString(geometry) = geometry()? else {
                    return None;
                };
                Record::DuctBank(DuctBank {
                    id: doc["id"].as_i64()?,
                    owner: Owner::from_text(p["owner"].as_str()?),
                    from_structure_id: p["from_structure_id"].as_i64()?,
                    to_structure_id: p["to_structure_id"].as_i64()?,
                    name: s("name"),
                    configuration: s("configuration"),
                    encasement: p["encasement"].as_str().and_then(|v| v.parse().ok()),
                    depth_m: p["depth_m"].as_f64(),
                    status: parsed(&p["status"])?,
                    external_id: s("external_id"),
                    synthetic: p["synthetic"].as_bool().unwrap_or(false),
                    length_m: p["length_m"].as_f64()?,
                    geometry,
                    ducts: p["ducts"]
                        .as_array()?
                        .iter()
                        .map(duct_from_document)
                        .collect::<Option<Vec<_>>>()?,
                    created_at,
                    updated_at,
                })
            }
        })
    }
}

/// A duct of a stored duct-bank document.
fn duct_from_document(v: &Value) -> Option<Duct> {
    Some(Duct {
        id: v["id"].as_i64(),
        position: v["position"].as_str()?.to_owned(),
        inner_diameter_mm: v["inner_diameter_mm"].as_f64()?,
        material: v["material"].as_str().and_then(|m| m.parse().ok()),
        subducts: v["subducts"]
            .as_array()?
            .iter()
            .map(|s| {
                Some(Subduct {
                    id: s["id"].as_i64(),
                    position: s["position"].as_str()?.to_owned(),
                    inner_diameter_mm: s["inner_diameter_mm"].as_f64()?,
                    outer_diameter_mm: s["outer_diameter_mm"].as_f64()?,
                    colour: s["colour"].as_str().map(str::to_owned),
                })
            })
            .collect::<Option<Vec<_>>>()?,
    })
}

/// A closed-set value (status, structure type, technology, placement) of a
/// stored document; `None` when absent or not one of the accepted values.
fn parsed<T: std::str::FromStr>(v: &Value) -> Option<T> {
    v.as_str()?.parse().ok()
}

/// A sector of a stored tower document; a modelled range (served before
/// stored forms existed) is not the sector's own and is dropped.
fn sector_from_document(tower_id: TowerId, v: &Value) -> Option<Sector> {
    let f = |k: &str| v[k].as_f64();
    let explicit = v["range_source"].as_str() != Some("model");
    Some(Sector {
        id: SectorId(v["id"].as_i64()?),
        tower_id,
        operator: v["operator"].as_str()?.to_owned(),
        technology: parsed(&v["technology"])?,
        frequency_mhz: f("frequency_mhz")?,
        azimuth_deg: f("azimuth_deg")?,
        beamwidth_deg: f("beamwidth_deg")?,
        tilt_deg: f("tilt_deg")?,
        height_m: f("height_m")?,
        eirp_dbm: f("eirp_dbm")?,
        range_m: f("range_m").filter(|_| explicit),
    })
}

/// The strong ETag of a feature document (a hash of its exact bytes).
pub fn etag_of(doc: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write;
    let hash = Sha256::digest(doc);
    let mut hex = String::with_capacity(34);
    hex.push('"');
    for b in &hash[..16] {
        let _ = write!(hex, "{b:02x}");
    }
    hex.push('"');
    hex
}
