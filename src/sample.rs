//! The Đà Nẵng sample: real district polygons (2019 census) from `data/`,
//! the carriers, and generated synthetic assets, loaded idempotently.

use std::path::Path;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::config::GeneratorArgs;
use crate::db::{self, DbError};
use crate::domain::Invalid;
use crate::domain::data_centre::NewDataCentre;
use crate::domain::district::NewDistrict;
use crate::domain::fibre::NewFibreRoute;
use crate::domain::operator::Operator;
use crate::domain::tower::NewTower;
use crate::generate::{self, GenerateParams, SampleAssets};

/// District polygons file in the data folder.
pub const DISTRICTS_FILE: &str = "danang_districts.geojson";
/// Transport lines file in the data folder.
pub const TRANSPORT_FILE: &str = "danang_major_transport_lines.geojson";

/// Errors of loading the sample.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// A data file could not be read or parsed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The generator refused its parameters.
    #[error(transparent)]
    Generate(#[from] generate::GenerateError),
    /// A feature failed validation (a bug in the data or the generator).
    #[error("{what} is invalid: {errors:?}")]
    Invalid {
        /// Which feature.
        what: String,
        /// The problems.
        errors: Invalid,
    },
    /// Database failure.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for SampleError {
    fn from(e: sqlx::Error) -> Self {
        SampleError::Db(e.into())
    }
}

/// Counts of what a load did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Districts inserted or updated.
    pub districts: usize,
    /// Main streets inserted or updated (the roads of the transport file).
    pub streets: usize,
    /// Towers inserted (existing site codes are skipped).
    pub towers_inserted: usize,
    /// Fibre routes inserted.
    pub fibre_routes_inserted: usize,
    /// Data centres inserted.
    pub data_centres_inserted: usize,
    /// Structures of the duct network inserted.
    pub structures_inserted: usize,
    /// Duct banks inserted.
    pub duct_banks_inserted: usize,
    /// Duct leases inserted.
    pub duct_leases_inserted: usize,
    /// Features already present and left unchanged.
    pub skipped: usize,
}

fn read_fc(path: &Path) -> Result<geojson::FeatureCollection, SampleError> {
    let err = |reason: String| SampleError::File {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    text.parse::<geojson::GeoJson>()
        .map_err(|e| err(e.to_string()))
        .and_then(|g| geojson::FeatureCollection::try_from(g).map_err(|e| err(e.to_string())))
}

/// Reads the district polygons of `data_dir` as validated districts.
///
/// # Errors
/// When the file is missing or a district is invalid.
pub fn read_districts(data_dir: &Path) -> Result<Vec<NewDistrict>, SampleError> {
    let fc = read_fc(&data_dir.join(DISTRICTS_FILE))?;
    fc.features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let p = f.properties.clone().unwrap_or_default();
            let props = json!({
                "code": p.get("district_code").cloned().unwrap_or(Value::Null),
                "name": p.get("name").cloned().unwrap_or(Value::Null),
                "name_ascii": p.get("name_ascii").cloned().unwrap_or(Value::Null),
                "population": p.get("pop_2019").cloned().unwrap_or(Value::Null),
            });
            let geometry = f
                .geometry
                .as_ref()
                .map(|g| serde_json::to_value(g).unwrap_or(Value::Null));
            NewDistrict::from_feature(
                geometry.as_ref(),
                props.as_object().expect("object literal"),
                None,
            )
            .map_err(|errors| SampleError::Invalid {
                what: format!("district feature {i}"),
                errors,
            })
        })
        .collect()
}

/// Reads the main streets of `data_dir`: the road lines (not the railway)
/// of the transport file, with their names.
///
/// # Errors
/// When the file is missing or a feature has no usable line or name.
pub fn read_streets(data_dir: &Path) -> Result<Vec<db::streets::NewStreet>, SampleError> {
    let path = data_dir.join(TRANSPORT_FILE);
    let bad = |reason: String| SampleError::File {
        path: path.display().to_string(),
        reason,
    };
    let fc = read_fc(&path)?;
    let mut out = Vec::new();
    for (i, f) in fc.features.iter().enumerate() {
        let text = |k: &str| {
            f.property(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .filter(|s| !s.is_empty())
        };
        if text("class_en").as_deref() == Some("railway") {
            continue;
        }
        let name = text("name").ok_or_else(|| bad(format!("feature {i}: no name")))?;
        let gid = f
            .property("source_gid")
            .and_then(Value::as_i64)
            .and_then(|g| i32::try_from(g).ok())
            .ok_or_else(|| bad(format!("feature {i}: no source_gid")))?;
        let g: geo::Geometry<f64> = f
            .geometry
            .clone()
            .ok_or_else(|| bad(format!("feature {i}: no geometry")))?
            .try_into()
            .map_err(|e| bad(format!("feature {i}: {e}")))?;
        let geometry = match g {
            geo::Geometry::LineString(l) => geo::MultiLineString(vec![l]),
            geo::Geometry::MultiLineString(m) => m,
            _ => return Err(bad(format!("feature {i}: not a line"))),
        };
        out.push(db::streets::NewStreet {
            source_gid: gid,
            name,
            class: text("class_en"),
            level: text("level_en"),
            geometry,
        });
    }
    Ok(out)
}

/// The parts of `streets` inside the urban districts of `data_dir` (those
/// whose `unit_type_en` is `urban district`: not the rural Hòa Vang), where
/// the sample lays duct banks along the main streets.
///
/// # Errors
/// When the districts file cannot be read.
pub fn urban_streets(
    data_dir: &Path,
    streets: &[db::streets::NewStreet],
) -> Result<Vec<geo::LineString<f64>>, SampleError> {
    use geo::BooleanOps;
    let fc = read_fc(&data_dir.join(DISTRICTS_FILE))?;
    let mut urban: Vec<geo::Polygon<f64>> = Vec::new();
    for f in &fc.features {
        if f.property("unit_type_en").and_then(Value::as_str) != Some("urban district") {
            continue;
        }
        let Some(g) = f.geometry.clone() else {
            continue;
        };
        match geo::Geometry::<f64>::try_from(g) {
            Ok(geo::Geometry::Polygon(p)) => urban.push(p),
            Ok(geo::Geometry::MultiPolygon(m)) => urban.extend(m.0),
            _ => {}
        }
    }
    let area = geo::MultiPolygon(urban);
    Ok(streets
        .iter()
        .flat_map(|s| area.clip(&s.geometry, false).0)
        .filter(|l| l.0.len() >= 2)
        .collect())
}

/// Generates the synthetic assets for `args` over the districts of its data folder.
///
/// # Errors
/// When a data file is missing or the parameters are out of range.
pub fn generate_assets(args: &GeneratorArgs) -> Result<SampleAssets, SampleError> {
    let districts = read_fc(&args.data_dir.join(DISTRICTS_FILE))?;
    let transport = read_fc(&args.data_dir.join(TRANSPORT_FILE))?;
    let areas = generate::areas_from_geojson(&districts)?;
    let lines = generate::lines_from_geojson(&transport)?;
    let params = GenerateParams {
        seed: args.seed,
        towers: args.towers,
        fibre_km: args.fibre_km,
        data_centres: args.data_centres,
    };
    Ok(generate::generate(&params, &areas, &lines)?)
}

fn parts(f: &geojson::Feature) -> (Option<Value>, serde_json::Map<String, Value>) {
    let g = f
        .geometry
        .as_ref()
        .and_then(|g| serde_json::to_value(g).ok());
    (g, f.properties.clone().unwrap_or_default())
}

/// Loads operators, districts and generated assets in one transaction.
/// Re-running with the same parameters adds nothing: towers are keyed by
/// (operator, site code), other assets by (operator, external id).
///
/// # Errors
/// On any failure; the database is then left unchanged.
pub async fn load(pool: &PgPool, args: &GeneratorArgs) -> Result<LoadReport, SampleError> {
    let districts = read_districts(&args.data_dir)?;
    let streets = read_streets(&args.data_dir)?;
    let assets = generate_assets(args)?;
    let mut report = LoadReport::default();
    let mut tx = pool.begin().await?;
    for op in generate::OPERATORS {
        let op = Operator {
            id: op.id.into(),
            name: op.name.into(),
            mcc: op.mcc,
            mnc: op.mnc,
        };
        db::operators::upsert(&mut *tx, &op).await?;
    }
    for d in &districts {
        db::districts::upsert(&mut tx, d).await?;
        report.districts += 1;
    }
    for s in &streets {
        db::streets::upsert(&mut tx, s).await?;
        report.streets += 1;
    }
    let existing: std::collections::HashSet<(String, String)> =
        db::towers::site_codes(&mut tx).await?.into_iter().collect();
    let mut fresh = Vec::new();
    for (i, f) in assets.towers.features.iter().enumerate() {
        let (g, p) = parts(f);
        let t = NewTower::from_feature(g.as_ref(), &p).map_err(|errors| SampleError::Invalid {
            what: format!("tower {i}"),
            errors,
        })?;
        if existing.contains(&(t.operator.clone(), t.site_code.clone())) {
            report.skipped += 1;
        } else {
            fresh.push(t);
        }
    }
    for chunk in fresh.chunks(5_000) {
        report.towers_inserted += db::towers::insert_many(&mut tx, chunk).await?.len();
    }
    for (i, f) in assets.fibre_routes.features.iter().enumerate() {
        let (g, p) = parts(f);
        let r =
            NewFibreRoute::from_feature(g.as_ref(), &p).map_err(|errors| SampleError::Invalid {
                what: format!("fibre route {i}"),
                errors,
            })?;
        if db::exists_external_id(
            &mut tx,
            crate::domain::CollectionId::FibreRoutes,
            &r.operator,
            r.external_id.as_deref(),
        )
        .await?
        {
            report.skipped += 1;
        } else {
            db::fibre_routes::insert(&mut tx, &r).await?;
            report.fibre_routes_inserted += 1;
        }
    }
    for (i, f) in assets.data_centres.features.iter().enumerate() {
        let (g, p) = parts(f);
        let d =
            NewDataCentre::from_feature(g.as_ref(), &p).map_err(|errors| SampleError::Invalid {
                what: format!("data centre {i}"),
                errors,
            })?;
        if db::exists_external_id(
            &mut tx,
            crate::domain::CollectionId::DataCentres,
            &d.operator,
            d.external_id.as_deref(),
        )
        .await?
        {
            report.skipped += 1;
        } else {
            db::data_centres::insert(&mut tx, &d).await?;
            report.data_centres_inserted += 1;
        }
    }
    let ducts = generate::ducts::generate(
        args.seed,
        &assets.fibre_routes,
        &urban_streets(&args.data_dir, &streets)?,
    );
    load_ducts(&mut tx, &ducts, &mut report).await?;
    tx.commit().await?;
    Ok(report)
}

/// Loads the generated duct network (once: when synthetic structures are
/// already there, it is left as it is).
async fn load_ducts(
    tx: &mut sqlx::PgConnection,
    d: &generate::ducts::DuctSample,
    report: &mut LoadReport,
) -> Result<(), SampleError> {
    use crate::domain::duct::LeaseState;
    use crate::domain::duct_bank::{Duct, NewDuctBank, Subduct};
    use crate::domain::lease::{LeaseChange, Segment};
    use crate::domain::structure::{NetworkStatus, NewStructure, Owner, StructureKind};
    let present: bool =
        sqlx::query_scalar("select exists (select 1 from structures where synthetic)")
            .fetch_one(&mut *tx)
            .await?;
    if present {
        report.skipped += d.structures.len() + d.banks.len() + d.leases.len();
        return Ok(());
    }
    let mut structure_ids = Vec::with_capacity(d.structures.len());
    for s in &d.structures {
        let kind: StructureKind = s.kind.parse().map_err(|_| SampleError::Invalid {
            what: format!("structure {}", s.external_id),
            errors: crate::domain::Invalid::one("/properties/kind", s.kind),
        })?;
        let id = db::structures::insert(
            tx,
            &NewStructure {
                owner: Owner::City,
                kind,
                name: None,
                status: NetworkStatus::Active,
                external_id: Some(s.external_id.clone()),
                synthetic: true,
                lon: s.at[0],
                lat: s.at[1],
            },
        )
        .await?;
        structure_ids.push(id);
        report.structures_inserted += 1;
    }
    let mut bank_ids = Vec::with_capacity(d.banks.len());
    let mut duct_ids: Vec<std::collections::HashMap<(String, Option<String>), i64>> = Vec::new();
    for b in &d.banks {
        let bank = NewDuctBank {
            owner: b
                .owner
                .map_or(Owner::City, |o| Owner::Operator(o.to_owned())),
            from_structure_id: structure_ids[b.from],
            to_structure_id: structure_ids[b.to],
            name: None,
            configuration: Some(b.configuration.to_owned()),
            encasement: Some(crate::domain::duct_bank::Encasement::Concrete),
            depth_m: Some(0.8),
            status: NetworkStatus::Active,
            external_id: Some(b.external_id.clone()),
            synthetic: true,
            geometry: geo::LineString::from(
                b.coords.iter().map(|c| (c[0], c[1])).collect::<Vec<_>>(),
            ),
            ducts: b
                .ducts
                .iter()
                .map(|x| Duct {
                    id: None,
                    position: x.position.to_owned(),
                    inner_diameter_mm: x.inner_mm,
                    material: x.material.parse().ok(),
                    subducts: x
                        .subducts
                        .iter()
                        .map(|s| Subduct {
                            id: None,
                            position: s.0.to_owned(),
                            inner_diameter_mm: s.1,
                            outer_diameter_mm: s.2,
                            colour: Some(s.3.to_owned()),
                        })
                        .collect(),
                })
                .collect(),
        };
        let id = db::duct_banks::insert(tx, &bank).await?;
        let stored = db::duct_banks::get(tx, id).await?;
        let mut ids = std::collections::HashMap::new();
        for duct in stored.iter().flat_map(|s| &s.ducts) {
            if let Some(did) = duct.id {
                ids.insert((duct.position.clone(), None), did);
            }
            for sub in &duct.subducts {
                if let Some(sid) = sub.id {
                    ids.insert((duct.position.clone(), Some(sub.position.clone())), sid);
                }
            }
        }
        duct_ids.push(ids);
        bank_ids.push(id);
        report.duct_banks_inserted += 1;
    }
    for l in &d.leases {
        let route: Option<i64> = match &l.fibre_route {
            Some((op, ext)) => {
                sqlx::query_scalar(
                    "select id from fibre_routes where operator_id = $1 and external_id = $2",
                )
                .bind(op)
                .bind(ext)
                .fetch_optional(&mut *tx)
                .await?
            }
            None => None,
        };
        let segments: Vec<Segment> = l
            .segments
            .iter()
            .filter_map(|(b, duct, sub)| {
                let ids = duct_ids.get(*b)?;
                Some(Segment {
                    bank_id: bank_ids[*b],
                    duct_id: *ids.get(&((*duct).to_owned(), None))?,
                    duct: (*duct).to_owned(),
                    subduct_id: match sub {
                        Some(s) => Some(*ids.get(&((*duct).to_owned(), Some((*s).to_owned())))?),
                        None => None,
                    },
                    subduct: sub.map(str::to_owned),
                })
            })
            .collect();
        let id = db::duct_leases::insert(
            tx,
            &db::duct_leases::LeaseRow {
                operator: l.operator,
                cable_diameter_mm: l.cable_mm,
                fibre_count: Some(l.fibre_count),
                fibre_route_id: route,
                reference: None,
                note: Some("synthetic sample lease"),
                segments: &segments,
            },
        )
        .await?;
        let steps: &[LeaseState] = match l.state {
            "active" => &[LeaseState::Approved, LeaseState::Active],
            "approved" => &[LeaseState::Approved],
            _ => &[],
        };
        for state in steps {
            let change = LeaseChange {
                state: *state,
                note: None,
                reference: None,
            };
            db::duct_leases::set_state(tx, id, &change).await?;
        }
        report.duct_leases_inserted += 1;
    }
    Ok(())
}

/// Writes the generated assets as three GeoJSON files in `out`.
///
/// # Errors
/// When generation or writing fails.
pub fn write_generated(
    args: &GeneratorArgs,
    out: &Path,
) -> Result<Vec<std::path::PathBuf>, SampleError> {
    let assets = generate_assets(args)?;
    let ioerr = |p: &Path, e: std::io::Error| SampleError::File {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(out).map_err(|e| ioerr(out, e))?;
    let mut written = Vec::new();
    for (name, fc) in [
        ("towers", &assets.towers),
        ("fibre-routes", &assets.fibre_routes),
        ("data-centres", &assets.data_centres),
    ] {
        let path = out.join(format!("{name}.geojson"));
        std::fs::write(&path, fc.to_string()).map_err(|e| ioerr(&path, e))?;
        written.push(path);
    }
    Ok(written)
}
