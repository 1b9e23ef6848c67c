//! Coverage queries answered by the in-memory index: one point, a batch of
//! points, sector footprints and the H3 gap grid.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::access::Actor;
use super::error::{ApiError, ApiResult};
use super::extract::{body_bytes, json_body_bytes_check};
use super::query::{Query, Required};
use super::{GEO_JSON, json_response};
use crate::coverage::index::{CoverSector, CoverageIndex};
use crate::domain::operator::is_valid_slug;
use crate::domain::tower::Technology;
use crate::service::gaps::{self, GapArea, GapQuery};
use crate::service::policy::authorize_public;
use crate::service::render::geojson_geometry;
use crate::spatial::grid;

/// Most points one `POST /coverage/points` may carry.
pub const MAX_POINTS: usize = 1_000_000;
/// Body limit of `POST /coverage/points`, bytes.
pub const MAX_POINTS_BODY_BYTES: usize = 128 * 1024 * 1024;
/// Most footprints in one response.
pub const MAX_FOOTPRINTS: usize = 20_000;
pub use crate::service::gaps::MAX_GAP_CELLS;

fn technology(q: &mut Query) -> ApiResult<Option<Technology>> {
    q.from_str::<Technology>("technology")
}

/// The operator filter: `Ok(None)` for none, `Ok(Some(None))` for an operator
/// without indexed sectors (matches nothing).
fn operator(index: &CoverageIndex, q: &mut Query) -> ApiResult<Option<Option<u16>>> {
    q.parse_with("operator", |o| {
        if is_valid_slug(o) {
            Ok(index.operator_index(o))
        } else {
            Err(format!(
                "'{o}' is not an operator id (lower-case letters, digits, '-')"
            ))
        }
    })
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// A single polygon as a Polygon, else the MultiPolygon.
fn area_geometry(mut area: geo::MultiPolygon<f64>) -> geo::Geometry<f64> {
    if area.0.len() == 1 {
        geo::Geometry::Polygon(area.0.remove(0))
    } else {
        geo::Geometry::MultiPolygon(area)
    }
}

/// One covering sector in a point answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointSector {
    /// The sector's `id` in its tower's `sectors` array.
    pub sector_id: i64,
    /// The tower.
    pub tower_id: i64,
    /// Operator id.
    pub operator: String,
    /// Technology.
    pub technology: String,
    /// Geodesic distance from the antenna, metres.
    pub distance_m: f64,
    /// Geodesic bearing from the antenna, degrees clockwise from north.
    pub bearing_deg: f64,
    /// Range the model used, metres.
    pub range_m: f64,
    /// `explicit` (the sector's own range_m) or `model` (link budget).
    pub range_source: String,
}

/// Answer of `GET /coverage/point`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointAnswer {
    /// Longitude asked, degrees.
    pub lon: f64,
    /// Latitude asked, degrees.
    pub lat: f64,
    /// Covering sectors, nearest first.
    pub sectors: Vec<PointSector>,
    /// Number of covering sectors per operator id.
    #[schema(value_type = Object)]
    pub operators: std::collections::BTreeMap<String, usize>,
}

/// `GET /coverage/point?lon=&lat=[&technology=][&operator=]`: the sectors
/// covering one point (lon/lat, CRS84).
#[utoipa::path(get, path = "/coverage/point", tag = "Coverage",
    params(
        ("lon" = f64, Query, description = "Longitude, degrees (CRS84)"),
        ("lat" = f64, Query, description = "Latitude, degrees (CRS84)"),
        ("technology" = Option<String>, Query, description = "2G, 3G, 4G or 5G"),
        ("operator" = Option<String>, Query, description = "Operator id"),
    ),
    responses(
        (status = 200, description = "Covering sectors and the count per operator", body = PointAnswer),
        (status = 400, description = "Bad parameter", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn point(
    State(st): State<AppState>,
    actor: Actor,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    authorize_public(&actor)?;
    let mut q = Query::parse(raw.as_deref())?;
    let lon = q.f64("lon", -180.0..=180.0)?.required("lon")?;
    let lat = q.f64("lat", -90.0..=90.0)?.required("lat")?;
    let tech = technology(&mut q)?;
    let index = st.coverage.snapshot();
    let op = operator(&index, &mut q)?;
    q.finish()?;
    let hits = match op {
        Some(None) => Vec::new(),
        Some(Some(o)) => index.covering(lon, lat, tech, Some(o)),
        None => index.covering(lon, lat, tech, None),
    };
    let mut operators = std::collections::BTreeMap::new();
    let sectors = hits
        .iter()
        .map(|h| {
            let name = index.operators[h.sector.op as usize].clone();
            *operators.entry(name.clone()).or_insert(0) += 1;
            PointSector {
                sector_id: h.sector.sector_id,
                tower_id: h.sector.tower_id,
                operator: name,
                technology: h.sector.technology.as_str().to_owned(),
                distance_m: round(h.distance_m, 2),
                bearing_deg: round(h.bearing_deg, 3),
                range_m: round(h.sector.range_m, 1),
                range_source: serde_json::to_value(h.sector.range_source)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let body = serde_json::to_vec(&PointAnswer {
        lon,
        lat,
        sectors,
        operators,
    })
    .map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, "application/json", body))
}

/// A position `[lon, lat]` or `[lon, lat, alt]`, read without allocating.
#[derive(Debug, Clone, Copy)]
struct Position([f64; 2]);

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Position;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a position [lon, lat]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Position, A::Error> {
                let lon: f64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let lat: f64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<f64>()?.is_some() {}
                Ok(Position([lon, lat]))
            }
        }
        d.deserialize_seq(V)
    }
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum PointGeometry {
    Point { coordinates: Position },
    MultiPoint { coordinates: Vec<Position> },
}

#[derive(Deserialize)]
struct PointFeature {
    geometry: Option<PointGeometry>,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum PointsBody {
    MultiPoint { coordinates: Vec<Position> },
    Feature { geometry: Option<PointGeometry> },
    FeatureCollection { features: Vec<PointFeature> },
}

fn collect_points(body: PointsBody) -> ApiResult<Vec<[f64; 2]>> {
    let mut out = Vec::new();
    let mut push_geom = |g: Option<PointGeometry>, at: String| -> ApiResult<()> {
        match g {
            Some(PointGeometry::Point { coordinates }) => out.push(coordinates.0),
            Some(PointGeometry::MultiPoint { coordinates }) => {
                out.extend(coordinates.into_iter().map(|p| p.0));
            }
            None => {
                return Err(ApiError::body(
                    &at,
                    "a feature needs a Point or MultiPoint geometry",
                ));
            }
        }
        Ok(())
    };
    match body {
        PointsBody::MultiPoint { coordinates } => out.extend(coordinates.into_iter().map(|p| p.0)),
        PointsBody::Feature { geometry } => push_geom(geometry, "/geometry".into())?,
        PointsBody::FeatureCollection { features } => {
            for (i, f) in features.into_iter().enumerate() {
                push_geom(f.geometry, format!("/features/{i}/geometry"))?;
            }
        }
    }
    for (i, [lon, lat]) in out.iter().enumerate() {
        if !(-180.0..=180.0).contains(lon) || !(-90.0..=90.0).contains(lat) {
            return Err(ApiError::body(
                &format!("/points/{i}"),
                format!("point {i} [{lon}, {lat}] is outside lon −180…180 / lat −90…90"),
            ));
        }
    }
    Ok(out)
}

/// `POST /coverage/points[?technology=]`: which operators cover each of
/// up to 1,000,000 points. The body is a GeoJSON MultiPoint, a Feature with a
/// Point or MultiPoint, or a FeatureCollection of those (lon/lat, CRS84).
/// The answer lists the operators once and, per point in input order, the
/// indices of the operators covering it; it is streamed in chunks.
#[utoipa::path(post, path = "/coverage/points", tag = "Coverage",
    params(("technology" = Option<String>, Query, description = "2G, 3G, 4G or 5G; default: any")),
    request_body(content = serde_json::Value, description = "GeoJSON MultiPoint, Feature or FeatureCollection of points; at most 1,000,000 points", content_type = "application/geo+json"),
    responses(
        (status = 200, description = "{\"technology\", \"count\", \"operators\": [ids], \"covered_by\": [[operator indices] per point]}"),
        (status = 400, description = "Malformed body or parameter", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "More than 1,000,000 points or a body over 128 MiB", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn points(
    State(st): State<AppState>,
    actor: Actor,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    authorize_public(&actor)?;
    let mut q = Query::parse(raw.as_deref())?;
    let tech = technology(&mut q)?;
    q.finish()?;
    let body = body_bytes(body)?;
    json_body_bytes_check(
        &headers,
        &body,
        &["application/geo+json", "application/json"],
    )?;
    let index = st.coverage.snapshot();
    // Parsing up to 128 MiB of JSON, testing up to 1,000,000 points and
    // writing the answer: on the CPU pool, with every core it may use.
    let chunks = {
        crate::cpu::run_wide(crate::cpu::workers(), move |cancel, threads| {
            let parsed: PointsBody = serde_json::from_slice(&body).map_err(|e| {
                ApiError::body("", format!("expected a GeoJSON MultiPoint, Feature or FeatureCollection of points (line {}, column {}): {e}", e.line(), e.column()))
            })?;
            drop(body);
            let pts = collect_points(parsed)?;
            if pts.len() > MAX_POINTS {
                return Err(ApiError::PayloadTooLarge(format!(
                    "{} points; at most {MAX_POINTS} per request",
                    pts.len()
                )));
            }
            if cancel.is_cancelled() {
                return Err(ApiError::Unavailable(crate::cpu::Cancelled.to_string()));
            }
            let masks = index.operators_covering_batch(&pts, tech, threads);
            drop(pts);
            let ops: Vec<&str> = index.operators.iter().map(String::as_str).collect();
            let head = serde_json::to_string(&json!({"technology": tech.map(Technology::as_str), "count": masks.len(), "operators": ops}))
                .map_err(ApiError::internal)?;
            // Stream: the head object without its closing brace, then the arrays.
            let mut chunks: Vec<Result<Bytes, std::io::Error>> = Vec::new();
            let mut buf = String::with_capacity(1 << 16);
            buf.push_str(&head[..head.len() - 1]);
            buf.push_str(",\"covered_by\":[");
            for (i, m) in masks.iter().enumerate() {
                if i > 0 {
                    buf.push(',');
                }
                buf.push('[');
                let mut first = true;
                let mut bits = *m;
                while bits != 0 {
                    let b = bits.trailing_zeros();
                    if !first {
                        buf.push(',');
                    }
                    first = false;
                    buf.push_str(&b.to_string());
                    bits &= bits - 1;
                }
                buf.push(']');
                if buf.len() > (1 << 16) {
                    chunks.push(Ok(Bytes::from(std::mem::take(&mut buf))));
                }
            }
            buf.push_str("]}");
            chunks.push(Ok(Bytes::from(buf)));
            Ok(chunks)
        })
        .await
        .map_err(ApiError::internal)??
    };
    let mut res = Body::from_stream(futures_util::stream::iter(chunks)).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(res)
}

fn sector_properties(index: &CoverageIndex, s: &CoverSector) -> serde_json::Value {
    json!({
        "sector_id": s.sector_id,
        "tower_id": s.tower_id,
        "operator": index.operators[s.op as usize],
        "technology": s.technology.as_str(),
        "azimuth_deg": s.azimuth_deg,
        "beamwidth_deg": s.beamwidth_deg,
        "range_m": round(s.range_m, 1),
        "range_source": s.range_source,
    })
}

/// `GET /coverage/footprints?technology=&operator=&bbox=`: each operational
/// sector's coverage wedge as a GeoJSON polygon, for drawing.
#[utoipa::path(get, path = "/coverage/footprints", tag = "Coverage",
    params(
        ("technology" = Option<String>, Query, description = "2G, 3G, 4G or 5G"),
        ("operator" = Option<String>, Query, description = "Operator id"),
        ("bbox" = Option<String>, Query, description = "minLon,minLat,maxLon,maxLat: footprints that may reach the box"),
        ("limit" = Option<usize>, Query, description = "At most this many footprints (default and maximum 20000)"),
    ),
    responses(
        (status = 200, description = "GeoJSON FeatureCollection of sector wedges", content_type = "application/geo+json"),
        (status = 400, description = "Bad parameter", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn footprints(
    State(st): State<AppState>,
    actor: Actor,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    authorize_public(&actor)?;
    let mut q = Query::parse(raw.as_deref())?;
    let tech = technology(&mut q)?;
    let index = st.coverage.snapshot();
    let op = operator(&index, &mut q)?;
    let bbox = q.bbox("bbox", false)?;
    let limit = q.i64("limit", 1..)?.map_or(MAX_FOOTPRINTS, |l| {
        usize::try_from(l).unwrap_or(usize::MAX).min(MAX_FOOTPRINTS)
    });
    q.finish()?;
    let body = crate::cpu::run(move |cancel| {
        let bbox = bbox.map(|b| [b.min_lon, b.min_lat, b.max_lon, b.max_lat]);
        let sectors = match op {
            Some(None) => Vec::new(),
            Some(o) => index.sectors_in_bbox(bbox, tech, o),
            None => index.sectors_in_bbox(bbox, tech, None),
        };
        let matched = sectors.len();
        let mut features: Vec<serde_json::Value> = Vec::new();
        for (k, s) in sectors.iter().take(limit).enumerate() {
            if k % 1_024 == 0 && cancel.is_cancelled() {
                return Err(ApiError::Unavailable(crate::cpu::Cancelled.to_string()));
            }
            features.push(json!({
                "type": "Feature",
                "id": s.sector_id,
                "geometry": geojson_geometry(&area_geometry(s.coverage_area(5.0))),
                "properties": sector_properties(&index, s),
            }));
        }
        serde_json::to_vec(&json!({
            "type": "FeatureCollection",
            "numberMatched": matched,
            "numberReturned": features.len(),
            "features": features,
        }))
        .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(json_response(StatusCode::OK, GEO_JSON, body))
}

/// `GET /coverage/gaps?technology=&resolution=&district=|bbox=[&max_operators=k]`:
/// H3 cells whose centres lie in the area, with the number of operators whose
/// sectors cover each centre (0: not-spot; fewer than all: partial not-spot).
#[utoipa::path(get, path = "/coverage/gaps", tag = "Coverage",
    params(
        ("technology" = Option<String>, Query, description = "2G, 3G, 4G or 5G; default 4G"),
        ("resolution" = Option<u8>, Query, description = "H3 resolution 7–11; default 9", minimum = 7, maximum = 11),
        ("district" = Option<String>, Query, description = "District code; the area (default: all districts)"),
        ("bbox" = Option<String>, Query, description = "minLon,minLat,maxLon,maxLat; the area, instead of district"),
        ("max_operators" = Option<u32>, Query, description = "Keep only cells covered by fewer than this many operators"),
    ),
    responses(
        (status = 200, description = "GeoJSON FeatureCollection of hexagons with h3, operators and operator_ids", content_type = "application/geo+json"),
        (status = 400, description = "Bad parameter, or too many cells for one response", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown district", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn gaps(
    State(st): State<AppState>,
    actor: Actor,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    authorize_public(&actor)?;
    let mut q = Query::parse(raw.as_deref())?;
    let tech = technology(&mut q)?.unwrap_or(Technology::G4);
    let resolution = q
        .i64(
            "resolution",
            i64::from(*grid::RESOLUTIONS.start())..=i64::from(*grid::RESOLUTIONS.end()),
        )?
        .and_then(|r| u8::try_from(r).ok())
        .unwrap_or(9);
    let max_ops: Option<u32> = q
        .i64("max_operators", 1..)?
        .map(|m| u32::try_from(m).unwrap_or(u32::MAX));
    let district = q.string("district");
    let bbox = q.bbox("bbox", false)?;
    q.finish()?;
    let area = match (district, bbox) {
        (Some(_), Some(_)) => {
            return Err(ApiError::param(
                "bbox",
                "give either district or bbox, not both",
            ));
        }
        (Some(code), None) => GapArea::District(code),
        (None, Some(b)) => GapArea::Bbox(b),
        (None, None) => GapArea::AllDistricts,
    };
    let body = gaps::gaps_cached(
        &st.coverage,
        GapQuery {
            technology: tech,
            resolution,
            max_operators: max_ops,
            area,
        },
    )
    .await?;
    Ok(json_response(StatusCode::OK, GEO_JSON, body.to_vec()))
}

/// One sample of a `/coverage/profile` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProfileSample {
    /// Distance from the antenna, metres.
    pub distance_m: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Ground elevation (DEM, metres over its datum); null without DEM.
    pub ground_m: Option<f64>,
    /// The direct ray's height over the same datum, the earth bulge taken
    /// off (compare with `ground_m`), metres.
    pub ray_m: f64,
    /// First Fresnel zone radius there, metres.
    pub fresnel_m: f64,
}

/// Answer of `GET /coverage/profile`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProfileAnswer {
    /// `{tower_id}:{sector_id}` as asked.
    pub sector: String,
    /// Operator id.
    pub operator: String,
    /// Technology.
    pub technology: String,
    /// Antenna [lon, lat], degrees.
    pub from: [f64; 2],
    /// Point [lon, lat] asked, degrees.
    pub to: [f64; 2],
    /// Path length, metres.
    pub distance_m: f64,
    /// Bearing from the antenna, degrees clockwise from north.
    pub bearing_deg: f64,
    /// Within the sector's beam.
    pub in_beam: bool,
    /// `dem` when every sample has a DEM elevation, else `none` (only the
    /// empirical model applies).
    pub terrain: String,
    /// No ground at or above the ray (null without terrain).
    pub line_of_sight: Option<bool>,
    /// Smallest clearance in first-Fresnel-zone radii (null without terrain).
    pub fresnel_clearance_min: Option<f64>,
    /// Diffraction loss over the terrain, dB (delta-Bullington, P.526).
    pub diffraction_loss_db: f64,
    /// Bullington's loss over the actual profile, dB.
    pub bullington_actual_db: f64,
    /// Bullington's loss over the smooth earth, dB (what the empirical model
    /// holds already).
    pub bullington_smooth_db: f64,
    /// The main obstacle: sample index (null without terrain).
    pub obstacle_sample: Option<usize>,
    /// The receiver's clutter class.
    pub clutter: String,
    /// `landuse` (an OSM polygon) or `district` (none there).
    pub clutter_source: String,
    /// Empirical model.
    pub model: String,
    /// Empirical path loss, dB.
    pub empirical_loss_db: f64,
    /// Clutter margin, dB.
    pub clutter_loss_db: f64,
    /// Total path loss, dB.
    pub path_loss_db: f64,
    /// Sector EIRP, dBm.
    pub eirp_dbm: f64,
    /// Received power, dBm.
    pub rx_dbm: f64,
    /// The technology's threshold, dBm.
    pub threshold_dbm: f64,
    /// In the beam and `rx_dbm ≥ threshold_dbm` (within the model's
    /// range limits) at this point.
    pub budget_met: bool,
    /// What point, batch, gap, footprint and analysis answers say here.
    pub covered: bool,
    /// `footprint`, `explicit_range`, `flat_model` or `not_indexed`.
    pub coverage_source: String,
    /// The samples, antenna first (at most 4,096).
    pub samples: Vec<ProfileSample>,
}

fn parse_sector_ref(v: &str) -> Result<(i64, i64), String> {
    let bad = || format!("'{v}' is not {{tower_id}}:{{sector_id}} (two positive integers)");
    let (t, s) = v.trim().split_once(':').ok_or_else(bad)?;
    let t: i64 = t.parse().map_err(|_| bad())?;
    let s: i64 = s.parse().map_err(|_| bad())?;
    if t <= 0 || s <= 0 {
        return Err(bad());
    }
    Ok((t, s))
}

fn as_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `GET /coverage/profile?sector={tower_id}:{sector_id}&lon=&lat=`: the
/// terrain profile and link budget from a sector's antenna to one point
/// (lon/lat, CRS84): ground and ray per DEM pixel, line of sight, Fresnel
/// clearance, diffraction, the receiver's clutter, and whether the point
/// is covered as every other coverage answer says. Any tower's sector
/// (a planned site's too; `covered` is then false, `not_indexed`).
#[utoipa::path(get, path = "/coverage/profile", tag = "Coverage",
    params(
        ("sector" = String, Query, description = "{tower_id}:{sector_id}"),
        ("lon" = f64, Query, description = "Longitude, degrees (CRS84)"),
        ("lat" = f64, Query, description = "Latitude, degrees (CRS84)"),
    ),
    responses(
        (status = 200, description = "The profile and link budget", body = ProfileAnswer),
        (status = 400, description = "Bad parameter", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such sector on that tower", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn profile(
    State(st): State<AppState>,
    actor: Actor,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    authorize_public(&actor)?;
    let mut q = Query::parse(raw.as_deref())?;
    let (tower_id, sector_id) = q
        .parse_with("sector", parse_sector_ref)?
        .required("sector")?;
    let lon = q.f64("lon", -180.0..=180.0)?.required("lon")?;
    let lat = q.f64("lat", -90.0..=90.0)?.required("lat")?;
    q.finish()?;
    let Some((s, _status)) =
        crate::db::coverage::sector_of_tower(&st.pool, tower_id, sector_id).await?
    else {
        return Err(ApiError::NotFound(format!(
            "tower {tower_id} has no sector {sector_id}"
        )));
    };
    let index = st.coverage.snapshot();
    let input = s.clone();
    // Up to 4,096 samples with a bilinear lookup each: off the runtime.
    let sp = tokio::task::spawn_blocking(move || index.sector_profile(&input, lon, lat))
        .await
        .map_err(ApiError::internal)?;
    let l = &sp.link;
    let p = &l.profile;
    let d = p.distance_m;
    let wl = crate::coverage::profile::wavelength_m(s.frequency_mhz);
    let samples = p
        .samples
        .iter()
        .map(|x| ProfileSample {
            distance_m: round(x.distance_m, 2),
            lon: round(x.lon, 7),
            lat: round(x.lat, 7),
            ground_m: x.ground_m.map(|g| round(g, 2)),
            ray_m: round(x.ray_m, 2),
            fresnel_m: if d > 0.0 {
                round(
                    (wl * x.distance_m * (d - x.distance_m) / d).max(0.0).sqrt(),
                    2,
                )
            } else {
                0.0
            },
        })
        .collect();
    let body = serde_json::to_vec(&ProfileAnswer {
        sector: format!("{tower_id}:{sector_id}"),
        operator: s.operator.clone(),
        technology: s.technology.as_str().to_owned(),
        from: [s.lon, s.lat],
        to: [lon, lat],
        distance_m: round(d, 2),
        bearing_deg: round(sp.bearing_deg, 3),
        in_beam: sp.in_beam,
        terrain: if p.has_terrain { "dem" } else { "none" }.to_owned(),
        line_of_sight: p.line_of_sight,
        fresnel_clearance_min: p.fresnel_clearance_min.map(|v| round(v, 3)),
        diffraction_loss_db: round(p.diffraction_loss_db, 2),
        bullington_actual_db: round(p.bullington_actual_db, 2),
        bullington_smooth_db: round(p.bullington_smooth_db, 2),
        obstacle_sample: p.obstacle,
        clutter: l.clutter.as_str().to_owned(),
        clutter_source: as_name(&l.clutter_source),
        model: as_name(&l.model),
        empirical_loss_db: round(l.empirical_loss_db, 2),
        clutter_loss_db: round(l.clutter_loss_db, 2),
        path_loss_db: round(l.path_loss_db, 2),
        eirp_dbm: s.eirp_dbm,
        rx_dbm: round(l.rx_dbm, 2),
        threshold_dbm: l.threshold_dbm,
        budget_met: sp.budget_met,
        covered: sp.covered,
        coverage_source: as_name(&sp.source),
        samples,
    })
    .map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, "application/json", body))
}
