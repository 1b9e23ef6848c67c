//! Exports of a whole layer (every feature matching a filter, page by page
//! so memory stays bounded) as CSV or as one GeoJSON FeatureCollection, in
//! the shapes `POST /imports` and `telecom-gis import` read back.
//!
//! CSV columns (lon/lat in decimal degrees, EPSG:4326):
//! - towers: `external_id,operator,site_code,name,structure_type,mast_class,
//!   height_m,status,tenants,synthetic,lon,lat,sectors`, with `tenants`
//!   separated by `;` and `sectors` a JSON array (explicit `range_m` only);
//! - fibre routes: `external_id,operator,name,placement,fibre_count,
//!   capacity_gbps,status,synthetic,length_m,wkt`;
//! - data centres: `external_id,operator,name,tier,power_mw,racks,status,
//!   synthetic,wkt`;
//! - structures: `external_id,owner,kind,name,status,synthetic,lon,lat`
//!   (`owner`: `city` or an operator id);
//! - duct banks: `external_id,owner,name,configuration,encasement,depth_m,
//!   status,synthetic,length_m,ducts,wkt`, with `ducts` a JSON array of the
//!   ducts and their subducts as the API takes them (no ids). The structures
//!   at a bank's ends are not named: an import finds them at its ends.
//!
//! Ids and timestamps are left out, so an export imported into another
//! database exports the same again.

use serde_json::json;
use sqlx::PgPool;
use tokio::sync::mpsc::Sender;

use super::Service;
use super::error::{ServiceError, ServiceResult};
use super::features::Viewer;
use super::policy::authorize_exact_fibre_export;
use super::render::{
    DataCentreFeature, DuctBankFeature, FibreFeature, Ranges, StructureFeature, TowerFeature,
};
use crate::coverage::index::CoverageIndex;
use crate::db::{self, ItemFilter};
use crate::domain::CollectionId;
use crate::format::gpkg;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// CSV with a header (see the module documentation for the columns).
    Csv,
    /// One GeoJSON FeatureCollection.
    Geojson,
    /// A GeoPackage with one feature table named after the layer.
    Gpkg,
}

impl ExportFormat {
    /// The media type of the export.
    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Geojson => "application/geo+json",
            ExportFormat::Gpkg => "application/geopackage+sqlite3",
        }
    }

    /// The file-name extension of the export.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Geojson => "geojson",
            ExportFormat::Gpkg => "gpkg",
        }
    }
}

/// What to export: the features of `layer` matching `filter` in `format`;
/// all of them, or only `filter.limit` from `filter.offset` when `limited`.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The layer (towers, fibre routes or data centres).
    pub layer: CollectionId,
    /// Bbox and property filters (and the page, when `limited`).
    pub filter: ItemFilter,
    /// True when `filter.limit`/`offset` bound the export.
    pub limited: bool,
    /// The output format.
    pub format: ExportFormat,
}

impl Service {
    /// Checks that `viewer` may have this export, before anything is written.
    ///
    /// # Errors
    /// [`ServiceError::BadOption`] for districts (no export);
    /// [`ServiceError::Denied`] for a CSV or GeoPackage of fibre routes that
    /// holds routes the viewer may not see exactly.
    pub fn check_export(&self, viewer: &Viewer, req: &ExportRequest) -> ServiceResult<()> {
        if req.layer == CollectionId::Districts {
            return Err(ServiceError::BadOption {
                option: "f",
                detail: "exports are available for towers, fibre-routes, data-centres, structures \
                         and duct-banks"
                    .into(),
            });
        }
        if req.layer == CollectionId::FibreRoutes && req.format != ExportFormat::Geojson {
            // CSV and GeoPackage carry exact routes only: the viewer must
            // see every route the export holds.
            authorize_exact_fibre_export(viewer.actor(), viewer.fibre(), &req.filter)?;
        }
        Ok(())
    }

    /// Sends a CSV or GeoJSON export to `out` in chunks (one per page of
    /// 1,000 features; the channel's capacity bounds how far it runs ahead
    /// of the reader); stops early when the receiver is gone. Features are
    /// as `viewer` may see them, filtered on what the viewer sees. Returns
    /// the number of features written.
    ///
    /// # Errors
    /// As [`Service::check_export`]; [`ServiceError::Unsupported`] for
    /// GeoPackage (see [`Service::export_gpkg`]); [`ServiceError::Db`].
    pub async fn export_stream(
        &self,
        viewer: &Viewer,
        req: ExportRequest,
        out: &Sender<Vec<u8>>,
    ) -> ServiceResult<u64> {
        self.check_export(viewer, &req)?;
        let index = self.coverage.snapshot();
        if viewer.sees_all_exactly(req.layer) {
            return write_layer(&self.pool, &index, req, out).await;
        }
        // Only GeoJSON of fibre routes gets here: each route exact or
        // generalised, filtered on what the viewer sees, as the pages are.
        let mut filter = req.filter.clone();
        if !req.limited {
            filter.limit = i64::MAX;
            filter.offset = 0;
        }
        let page = self.visible_matching(viewer, req.layer, &filter).await?;
        if out.send(GEOJSON_HEAD.to_vec()).await.is_err() {
            return Ok(0);
        }
        let mut written = 0u64;
        for chunk in page.features.chunks(usize::try_from(PAGE).unwrap_or(1000)) {
            let mut bytes = Vec::new();
            for v in chunk {
                if written > 0 {
                    bytes.push(b',');
                }
                bytes.extend(v.to_json(None)?);
                written += 1;
            }
            if out.send(bytes).await.is_err() {
                return Ok(written);
            }
        }
        let _ = out.send(GEOJSON_TAIL.to_vec()).await;
        Ok(written)
    }

    /// Writes a GeoPackage export to a new file at `path` (see
    /// [`write_gpkg`]); returns the number of features.
    ///
    /// # Errors
    /// As [`Service::check_export`]; [`ServiceError::Db`];
    /// [`ServiceError::Output`] when SQLite fails.
    pub async fn export_gpkg(
        &self,
        viewer: &Viewer,
        req: ExportRequest,
        path: &std::path::Path,
    ) -> ServiceResult<u64> {
        self.check_export(viewer, &req)?;
        write_gpkg(&self.pool, req.layer, req.filter, req.limited, path).await
    }
}

const GEOJSON_HEAD: &[u8] = br#"{"type":"FeatureCollection","features":["#;
const GEOJSON_TAIL: &[u8] = b"]}\n";

fn gpkg_failed(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ServiceError {
    ServiceError::output("writing the GeoPackage", e)
}

/// Features read per page.
const PAGE: i64 = 1000;

fn csv_line(fields: &[String]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(fields);
    w.into_inner().unwrap_or_default()
}

fn num(x: f64) -> String {
    format!("{x}")
}

fn opt<T: ToString>(x: Option<T>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn wkt(g: &geo::Geometry<f64>) -> String {
    use geozero::ToWkt;
    g.to_wkt().unwrap_or_default()
}

/// The CSV header of a layer.
pub fn csv_header(layer: CollectionId) -> &'static [&'static str] {
    match layer {
        CollectionId::Towers => &[
            "external_id",
            "operator",
            "site_code",
            "name",
            "structure_type",
            "mast_class",
            "height_m",
            "status",
            "tenants",
            "synthetic",
            "lon",
            "lat",
            "sectors",
        ],
        CollectionId::FibreRoutes => &[
            "external_id",
            "operator",
            "name",
            "placement",
            "fibre_count",
            "capacity_gbps",
            "status",
            "synthetic",
            "length_m",
            "wkt",
        ],
        CollectionId::Structures => &[
            "external_id",
            "owner",
            "kind",
            "name",
            "status",
            "synthetic",
            "lon",
            "lat",
        ],
        CollectionId::DuctBanks => &[
            "external_id",
            "owner",
            "name",
            "configuration",
            "encasement",
            "depth_m",
            "status",
            "synthetic",
            "length_m",
            "ducts",
            "wkt",
        ],
        _ => &[
            "external_id",
            "operator",
            "name",
            "tier",
            "power_mw",
            "racks",
            "status",
            "synthetic",
            "wkt",
        ],
    }
}

/// Sends every feature of a layer that every viewer sees exactly (paged
/// from the database) to `out`; see [`Service::export_stream`].
async fn write_layer(
    pool: &PgPool,
    index: &CoverageIndex,
    req: ExportRequest,
    out: &Sender<Vec<u8>>,
) -> ServiceResult<u64> {
    let ExportRequest {
        layer,
        mut filter,
        limited,
        format,
    } = req;
    let mut remaining = if limited { filter.limit } else { i64::MAX };
    let mut written = 0u64;
    let head = match format {
        ExportFormat::Csv => csv_line(
            &csv_header(layer)
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<Vec<_>>(),
        ),
        ExportFormat::Geojson => GEOJSON_HEAD.to_vec(),
        ExportFormat::Gpkg => {
            return Err(ServiceError::Unsupported(
                "GeoPackage exports are written to a file".into(),
            ));
        }
    };
    if out.send(head).await.is_err() {
        return Ok(0);
    }
    while remaining > 0 {
        filter.limit = PAGE.min(remaining);
        let mut chunk: Vec<u8> = Vec::new();
        let mut push = |line: Vec<u8>| {
            if format == ExportFormat::Geojson && written > 0 {
                chunk.push(b',');
            }
            chunk.extend(line);
            written += 1;
        };
        let n = match layer {
            CollectionId::Towers => {
                let rows = db::towers::list(pool, &filter).await?;
                for t in &rows {
                    push(match format {
                        ExportFormat::Geojson => {
                            serde_json::to_vec(&TowerFeature(t, None, Some(Ranges::Current(index))))
                                .unwrap_or_default()
                        }
                        ExportFormat::Csv | ExportFormat::Gpkg => {
                            let sectors = sectors_as_input(&t.sectors);
                            csv_line(&[
                                opt(t.external_id.as_deref()),
                                t.operator.clone(),
                                t.site_code.clone(),
                                opt(t.name.as_deref()),
                                t.structure_type.to_string(),
                                t.mast_class().to_string(),
                                num(t.height_m),
                                t.status.to_string(),
                                t.tenants.join(";"),
                                t.synthetic.to_string(),
                                num(t.lon),
                                num(t.lat),
                                if sectors.is_empty() {
                                    String::new()
                                } else {
                                    serde_json::Value::Array(sectors).to_string()
                                },
                            ])
                        }
                    });
                }
                rows.len()
            }
            CollectionId::FibreRoutes => {
                let rows = db::fibre_routes::list(pool, &filter).await?;
                for f in &rows {
                    push(match format {
                        ExportFormat::Geojson => {
                            serde_json::to_vec(&FibreFeature(f, None)).unwrap_or_default()
                        }
                        ExportFormat::Csv | ExportFormat::Gpkg => csv_line(&[
                            opt(f.external_id.as_deref()),
                            f.operator.clone(),
                            opt(f.name.as_deref()),
                            f.placement.to_string(),
                            f.fibre_count.to_string(),
                            opt(f.capacity_gbps),
                            f.status.to_string(),
                            f.synthetic.to_string(),
                            num(f.length_m),
                            wkt(&f.geometry),
                        ]),
                    });
                }
                rows.len()
            }
            CollectionId::Structures => {
                let rows = db::structures::list(pool, &filter).await?;
                for s in &rows {
                    push(match format {
                        ExportFormat::Geojson => {
                            serde_json::to_vec(&StructureFeature(s, None)).unwrap_or_default()
                        }
                        ExportFormat::Csv | ExportFormat::Gpkg => csv_line(&[
                            opt(s.external_id.as_deref()),
                            s.owner.as_str().to_owned(),
                            s.kind.as_str().to_owned(),
                            opt(s.name.as_deref()),
                            s.status.as_str().to_owned(),
                            s.synthetic.to_string(),
                            num(s.lon),
                            num(s.lat),
                        ]),
                    });
                }
                rows.len()
            }
            CollectionId::DuctBanks => {
                let rows = db::duct_banks::list(pool, &filter).await?;
                for b in &rows {
                    push(match format {
                        ExportFormat::Geojson => {
                            serde_json::to_vec(&DuctBankFeature(b, None)).unwrap_or_default()
                        }
                        ExportFormat::Csv | ExportFormat::Gpkg => csv_line(&[
                            opt(b.external_id.as_deref()),
                            b.owner.as_str().to_owned(),
                            opt(b.name.as_deref()),
                            opt(b.configuration.as_deref()),
                            opt(b
                                .encasement
                                .map(crate::domain::duct_bank::Encasement::as_str)),
                            opt(b.depth_m),
                            b.status.as_str().to_owned(),
                            b.synthetic.to_string(),
                            num(b.length_m),
                            ducts_as_input(&b.ducts).to_string(),
                            wkt(&geo::Geometry::LineString(b.geometry.clone())),
                        ]),
                    });
                }
                rows.len()
            }
            _ => {
                let rows = db::data_centres::list(pool, &filter).await?;
                for d in &rows {
                    push(match format {
                        ExportFormat::Geojson => {
                            serde_json::to_vec(&DataCentreFeature(d, None)).unwrap_or_default()
                        }
                        ExportFormat::Csv | ExportFormat::Gpkg => csv_line(&[
                            opt(d.external_id.as_deref()),
                            d.operator.clone(),
                            d.name.clone(),
                            opt(d.tier),
                            opt(d.power_mw),
                            opt(d.racks),
                            d.status.to_string(),
                            d.synthetic.to_string(),
                            wkt(&d.geometry),
                        ]),
                    });
                }
                rows.len()
            }
        };
        if !chunk.is_empty() && out.send(chunk).await.is_err() {
            return Ok(written);
        }
        if (n as i64) < filter.limit {
            break;
        }
        filter.offset += n as i64;
        remaining -= n as i64;
    }
    if format == ExportFormat::Geojson {
        let _ = out.send(GEOJSON_TAIL.to_vec()).await;
    }
    Ok(written)
}

/// SQLite column types of a layer's GeoPackage table (the CSV columns but
/// `lon`, `lat` and `wkt`, which are the geometry).
fn gpkg_columns(layer: CollectionId) -> Vec<(&'static str, &'static str)> {
    csv_header(layer)
        .iter()
        .filter(|c| !matches!(**c, "lon" | "lat" | "wkt"))
        .map(|c| {
            let t = match *c {
                "height_m" | "capacity_gbps" | "length_m" | "power_mw" | "depth_m" => "REAL",
                "fibre_count" | "tier" | "racks" => "INTEGER",
                "synthetic" => "BOOLEAN",
                _ => "TEXT",
            };
            (*c, t)
        })
        .collect()
}

/// Writes every feature of `layer` matching `filter` (or `filter.limit` of
/// them when `limited`) to a new GeoPackage at `path`: one feature table
/// named after the layer (`towers`, `fibre_routes`, `data_centres`) with
/// the CSV columns and a `geom` column in EPSG:4326. Returns the count.
///
/// # Errors
/// On database or SQLite failure.
async fn write_gpkg(
    pool: &PgPool,
    layer: CollectionId,
    mut filter: ItemFilter,
    limited: bool,
    path: &std::path::Path,
) -> ServiceResult<u64> {
    use rusqlite::types::Value as Sql;
    let table = layer.as_str().replace('-', "_");
    let geometry_type = match layer {
        CollectionId::Towers | CollectionId::Structures => "POINT",
        CollectionId::DuctBanks => "LINESTRING",
        _ => "GEOMETRY",
    };
    let columns = gpkg_columns(layer);
    let mut conn = {
        let (path, table, columns) = (path.to_owned(), table.clone(), columns.clone());
        tokio::task::spawn_blocking(move || gpkg::create(&path, &table, geometry_type, &columns))
            .await
            .map_err(|source| ServiceError::Task {
                context: "writing the GeoPackage",
                source,
            })?
            .map_err(gpkg_failed)?
    };
    let text = |s: &str| Sql::Text(s.to_owned());
    let opt_text = |s: Option<&str>| s.map_or(Sql::Null, |v| Sql::Text(v.to_owned()));
    let real = |x: Option<f64>| x.map_or(Sql::Null, Sql::Real);
    let int = |x: Option<i64>| x.map_or(Sql::Null, Sql::Integer);
    let mut remaining = if limited { filter.limit } else { i64::MAX };
    let mut written = 0u64;
    let mut extent: Option<[f64; 4]> = None;
    while remaining > 0 {
        filter.limit = PAGE.min(remaining);
        let mut rows: Vec<(geo::Geometry<f64>, Vec<Sql>)> = Vec::new();
        match layer {
            CollectionId::Towers => {
                for t in db::towers::list(pool, &filter).await? {
                    let sectors = sectors_as_input(&t.sectors);
                    rows.push((
                        geo::Geometry::Point(geo::Point::new(t.lon, t.lat)),
                        vec![
                            opt_text(t.external_id.as_deref()),
                            text(&t.operator),
                            text(&t.site_code),
                            opt_text(t.name.as_deref()),
                            text(t.structure_type.as_str()),
                            text(t.mast_class().as_str()),
                            Sql::Real(t.height_m),
                            text(t.status.as_str()),
                            if t.tenants.is_empty() {
                                Sql::Null
                            } else {
                                text(&t.tenants.join(";"))
                            },
                            Sql::Integer(i64::from(t.synthetic)),
                            if sectors.is_empty() {
                                Sql::Null
                            } else {
                                text(&serde_json::Value::Array(sectors).to_string())
                            },
                        ],
                    ));
                }
            }
            CollectionId::FibreRoutes => {
                for f in db::fibre_routes::list(pool, &filter).await? {
                    rows.push((
                        f.geometry.clone(),
                        vec![
                            opt_text(f.external_id.as_deref()),
                            text(&f.operator),
                            opt_text(f.name.as_deref()),
                            text(f.placement.as_str()),
                            Sql::Integer(i64::from(f.fibre_count)),
                            real(f.capacity_gbps),
                            text(f.status.as_str()),
                            Sql::Integer(i64::from(f.synthetic)),
                            Sql::Real(f.length_m),
                        ],
                    ));
                }
            }
            CollectionId::Structures => {
                for s in db::structures::list(pool, &filter).await? {
                    rows.push((
                        geo::Geometry::Point(geo::Point::new(s.lon, s.lat)),
                        vec![
                            opt_text(s.external_id.as_deref()),
                            text(s.owner.as_str()),
                            text(s.kind.as_str()),
                            opt_text(s.name.as_deref()),
                            text(s.status.as_str()),
                            Sql::Integer(i64::from(s.synthetic)),
                        ],
                    ));
                }
            }
            CollectionId::DuctBanks => {
                for b in db::duct_banks::list(pool, &filter).await? {
                    rows.push((
                        geo::Geometry::LineString(b.geometry.clone()),
                        vec![
                            opt_text(b.external_id.as_deref()),
                            text(b.owner.as_str()),
                            opt_text(b.name.as_deref()),
                            opt_text(b.configuration.as_deref()),
                            opt_text(
                                b.encasement
                                    .map(crate::domain::duct_bank::Encasement::as_str),
                            ),
                            real(b.depth_m),
                            text(b.status.as_str()),
                            Sql::Integer(i64::from(b.synthetic)),
                            Sql::Real(b.length_m),
                            text(&ducts_as_input(&b.ducts).to_string()),
                        ],
                    ));
                }
            }
            _ => {
                for d in db::data_centres::list(pool, &filter).await? {
                    rows.push((
                        d.geometry.clone(),
                        vec![
                            opt_text(d.external_id.as_deref()),
                            text(&d.operator),
                            text(&d.name),
                            int(d.tier.map(i64::from)),
                            real(d.power_mw),
                            int(d.racks.map(i64::from)),
                            text(d.status.as_str()),
                            Sql::Integer(i64::from(d.synthetic)),
                        ],
                    ));
                }
            }
        }
        let n = rows.len();
        let mut encoded = Vec::with_capacity(n);
        for (g, values) in rows {
            use geo::BoundingRect;
            if let Some(r) = g.bounding_rect() {
                let e = extent.get_or_insert([r.min().x, r.min().y, r.max().x, r.max().y]);
                *e = [
                    e[0].min(r.min().x),
                    e[1].min(r.min().y),
                    e[2].max(r.max().x),
                    e[3].max(r.max().y),
                ];
            }
            encoded.push((gpkg::encode(&g).map_err(gpkg_failed)?, values));
        }
        let (table2, columns2) = (table.clone(), columns.clone());
        conn = tokio::task::spawn_blocking(move || {
            gpkg::insert_rows(&mut conn, &table2, &columns2, &encoded).map(|()| conn)
        })
        .await
        .map_err(|source| ServiceError::Task {
            context: "writing the GeoPackage",
            source,
        })?
        .map_err(gpkg_failed)?;
        written += n as u64;
        if (n as i64) < filter.limit {
            break;
        }
        filter.offset += n as i64;
        remaining -= n as i64;
    }
    gpkg::finish(&conn, &table, extent).map_err(gpkg_failed)?;
    Ok(written)
}

/// A bank's ducts and their subducts as the API takes them on input (no
/// ids), for the `ducts` column of CSV and GeoPackage exports.
fn ducts_as_input(ducts: &[crate::domain::duct_bank::Duct]) -> serde_json::Value {
    serde_json::Value::Array(
        ducts
            .iter()
            .map(|d| {
                let mut v = json!({
                    "position": d.position,
                    "inner_diameter_mm": d.inner_diameter_mm,
                    "subducts": d.subducts.iter().map(|x| {
                        let mut s = json!({
                            "position": x.position,
                            "inner_diameter_mm": x.inner_diameter_mm,
                            "outer_diameter_mm": x.outer_diameter_mm,
                        });
                        if let Some(c) = &x.colour {
                            s["colour"] = json!(c);
                        }
                        s
                    }).collect::<Vec<_>>(),
                });
                if let Some(m) = d.material {
                    v["material"] = json!(m.as_str());
                }
                v
            })
            .collect(),
    )
}

/// A tower's sectors as the API takes them on input (no ids, no derived
/// range source), so that CSV and GeoPackage exports import back unchanged.
fn sectors_as_input(sectors: &[crate::domain::tower::Sector]) -> Vec<serde_json::Value> {
    sectors
        .iter()
        .map(|s| {
            let mut v = json!({
                "operator": s.operator, "technology": s.technology.as_str(),
                "frequency_mhz": s.frequency_mhz, "azimuth_deg": s.azimuth_deg,
                "beamwidth_deg": s.beamwidth_deg, "tilt_deg": s.tilt_deg,
                "height_m": s.height_m, "eirp_dbm": s.eirp_dbm,
            });
            if let Some(r) = s.range_m {
                v["range_m"] = json!(r);
            }
            v
        })
        .collect()
}
