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
//!   synthetic,wkt`.
//!
//! Ids and timestamps are left out, so an export imported into another
//! database exports the same again.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;
use sqlx::PgPool;

use super::access::FibreView;
use super::error::{ApiError, ApiResult};
use super::features::{DataCentreFeature, FibreFeature, GeneralisedFibreFeature, TowerFeature};
use crate::coverage::index::CoverageIndex;
use crate::db::{self, DbError, ItemFilter};
use crate::domain::CollectionId;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// CSV with a header (see the module documentation for the columns).
    Csv,
    /// One GeoJSON FeatureCollection.
    Geojson,
    /// A GeoPackage with one feature table named after the layer (written
    /// by [`write_gpkg`]).
    Gpkg,
}

/// Errors of an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Writing the GeoPackage failed.
    #[error(transparent)]
    Gpkg(#[from] crate::import::gpkg::GpkgError),
    /// The format is written by another function.
    #[error("{0}")]
    Unsupported(&'static str),
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

/// Sends every feature of `layer` matching `filter` (all of them, unless
/// `limited`, when only `filter.limit` from `filter.offset`) to `out`, one
/// chunk per page of 1,000 (the channel's capacity bounds how far it runs
/// ahead of the reader); stops early when the receiver is gone. Returns the
/// number of features written.
///
/// # Errors
/// On database failure.
#[allow(clippy::too_many_arguments)] // one export's settings, each used once
pub async fn write_layer(
    pool: &PgPool,
    index: &CoverageIndex,
    layer: CollectionId,
    mut filter: ItemFilter,
    limited: bool,
    format: ExportFormat,
    view: &FibreView,
    out: &tokio::sync::mpsc::Sender<Vec<u8>>,
) -> Result<u64, ExportError> {
    let mut remaining = if limited { filter.limit } else { i64::MAX };
    let mut written = 0u64;
    let head = match format {
        ExportFormat::Csv => csv_line(
            &csv_header(layer)
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<Vec<_>>(),
        ),
        ExportFormat::Geojson => br#"{"type":"FeatureCollection","features":["#.to_vec(),
        ExportFormat::Gpkg => {
            return Err(ExportError::Unsupported(
                "GeoPackage is written by write_gpkg",
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
                            serde_json::to_vec(&TowerFeature(t, None, index)).unwrap_or_default()
                        }
                        ExportFormat::Csv | ExportFormat::Gpkg => {
                            let sectors = sectors_as_input(&t.sectors);
                            let structure: Option<crate::domain::tower::StructureType> =
                                t.structure_type.parse().ok();
                            csv_line(&[
                                opt(t.external_id.as_deref()),
                                t.operator.clone(),
                                t.site_code.clone(),
                                opt(t.name.as_deref()),
                                t.structure_type.clone(),
                                opt(structure.map(|s| s.mast_class())),
                                num(t.height_m),
                                t.status.clone(),
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
                        ExportFormat::Geojson if view.exact(&f.operator) => {
                            serde_json::to_vec(&FibreFeature(f, None)).unwrap_or_default()
                        }
                        ExportFormat::Geojson => {
                            serde_json::to_vec(&GeneralisedFibreFeature(f, None))
                                .unwrap_or_default()
                        }
                        ExportFormat::Csv | ExportFormat::Gpkg => csv_line(&[
                            opt(f.external_id.as_deref()),
                            f.operator.clone(),
                            opt(f.name.as_deref()),
                            f.placement.clone(),
                            f.fibre_count.to_string(),
                            opt(f.capacity_gbps),
                            f.status.clone(),
                            f.synthetic.to_string(),
                            num(f.length_m),
                            wkt(&f.geometry),
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
                            d.status.clone(),
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
        let _ = out.send(b"]}\n".to_vec()).await;
    }
    Ok(written)
}

/// `GET /collections/{id}/items?f=csv` or `f=geojson`: every matching
/// feature (or `limit` of them when given) as a CSV or GeoJSON attachment,
/// streamed page by page.
///
/// # Errors
/// 400 for districts (no export) or GeoPackage (see [`gpkg_response`]).
pub fn stream_response(
    pool: PgPool,
    index: std::sync::Arc<CoverageIndex>,
    layer: CollectionId,
    filter: ItemFilter,
    limited: bool,
    format: ExportFormat,
    view: FibreView,
) -> ApiResult<Response> {
    let (media_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Geojson => ("application/geo+json", "geojson"),
        ExportFormat::Gpkg => return Err(ApiError::internal("GeoPackage is not streamed")),
    };
    if layer == CollectionId::Districts {
        return Err(ApiError::param(
            "f",
            "exports are available for towers, fibre-routes and data-centres",
        ));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let (err_tx, err_rx) = tokio::sync::oneshot::channel::<std::io::Error>();
    tokio::spawn(async move {
        let r = write_layer(&pool, &index, layer, filter, limited, format, &view, &tx).await;
        if let Err(e) = r {
            tracing::error!(error = %e, "export failed");
            let _ = err_tx.send(std::io::Error::other(e.to_string()));
        }
    });
    // Pages, then the export's error (if any) so the client sees a broken body.
    let pages = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<Bytes, std::io::Error>(Bytes::from(chunk)), rx))
    });
    let failure = futures_util::stream::once(err_rx).filter_map(|r| async move { r.ok().map(Err) });
    let stream = pages.chain(failure);
    let mut res = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{layer}.{extension}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// SQLite column types of a layer's GeoPackage table (the CSV columns but
/// `lon`, `lat` and `wkt`, which are the geometry).
fn gpkg_columns(layer: CollectionId) -> Vec<(&'static str, &'static str)> {
    csv_header(layer)
        .iter()
        .filter(|c| !matches!(**c, "lon" | "lat" | "wkt"))
        .map(|c| {
            let t = match *c {
                "height_m" | "capacity_gbps" | "length_m" | "power_mw" => "REAL",
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
pub async fn write_gpkg(
    pool: &PgPool,
    layer: CollectionId,
    mut filter: ItemFilter,
    limited: bool,
    path: &std::path::Path,
) -> Result<u64, ExportError> {
    use crate::import::gpkg;
    use rusqlite::types::Value as Sql;
    let table = layer.as_str().replace('-', "_");
    let geometry_type = if layer == CollectionId::Towers {
        "POINT"
    } else {
        "GEOMETRY"
    };
    let columns = gpkg_columns(layer);
    let mut conn = {
        let (path, table, columns) = (path.to_owned(), table.clone(), columns.clone());
        tokio::task::spawn_blocking(move || gpkg::create(&path, &table, geometry_type, &columns))
            .await
            .map_err(|e| ExportError::Gpkg(gpkg::GpkgError::Format(e.to_string())))??
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
                    let structure: Option<crate::domain::tower::StructureType> =
                        t.structure_type.parse().ok();
                    let sectors = sectors_as_input(&t.sectors);
                    rows.push((
                        geo::Geometry::Point(geo::Point::new(t.lon, t.lat)),
                        vec![
                            opt_text(t.external_id.as_deref()),
                            text(&t.operator),
                            text(&t.site_code),
                            opt_text(t.name.as_deref()),
                            text(&t.structure_type),
                            opt_text(structure.map(|s| s.mast_class().as_str())),
                            Sql::Real(t.height_m),
                            text(&t.status),
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
                            text(&f.placement),
                            Sql::Integer(i64::from(f.fibre_count)),
                            real(f.capacity_gbps),
                            text(&f.status),
                            Sql::Integer(i64::from(f.synthetic)),
                            Sql::Real(f.length_m),
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
                            text(&d.status),
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
            encoded.push((gpkg::encode(&g)?, values));
        }
        let (table2, columns2) = (table.clone(), columns.clone());
        conn = tokio::task::spawn_blocking(move || {
            gpkg::insert_rows(&mut conn, &table2, &columns2, &encoded).map(|()| conn)
        })
        .await
        .map_err(|e| ExportError::Gpkg(gpkg::GpkgError::Format(e.to_string())))??;
        written += n as u64;
        if (n as i64) < filter.limit {
            break;
        }
        filter.offset += n as i64;
        remaining -= n as i64;
    }
    gpkg::finish(&conn, &table, extent)?;
    Ok(written)
}

/// `GET /collections/{id}/items?f=gpkg`: every matching feature (or
/// `limit` of them when given) as a GeoPackage attachment, built in a
/// temporary file and streamed from it.
///
/// # Errors
/// 400 for districts; 500 when the database or SQLite fails.
pub async fn gpkg_response(
    pool: PgPool,
    layer: CollectionId,
    filter: ItemFilter,
    limited: bool,
) -> ApiResult<Response> {
    use tokio::io::AsyncReadExt;
    if layer == CollectionId::Districts {
        return Err(ApiError::param(
            "f",
            "GeoPackage export is available for towers, fibre-routes and data-centres",
        ));
    }
    let file = tempfile::NamedTempFile::new().map_err(ApiError::internal)?;
    write_gpkg(&pool, layer, filter, limited, file.path())
        .await
        .map_err(|e| match e {
            ExportError::Db(e) => ApiError::from(e),
            other => ApiError::internal(other),
        })?;
    let reader = tokio::fs::File::open(file.path())
        .await
        .map_err(ApiError::internal)?;
    // The temporary file lives as long as the stream reads it.
    let stream = futures_util::stream::unfold((reader, file), |(mut r, f)| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), (r, f)))
            }
            Err(e) => Some((Err(e), (r, f))),
        }
    });
    let mut res = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geopackage+sqlite3"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{layer}.gpkg\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// A tower's sectors as the API takes them on input (no ids, no derived
/// range source), so that CSV and GeoPackage exports import back unchanged.
fn sectors_as_input(sectors: &[crate::domain::tower::Sector]) -> Vec<serde_json::Value> {
    sectors
        .iter()
        .map(|s| {
            let mut v = json!({
                "operator": s.operator, "technology": s.technology,
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
