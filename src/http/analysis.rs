//! `/analysis`: which districts are underserved, and why.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use super::AppState;
use super::access::Actor;
use super::error::{ApiError, ApiResult};
use super::extract::PathParams;
use super::query::Query;
use super::{GEO_JSON, json_response};
use crate::domain::classify::{AnalysisConfig, CRITERIA};
use crate::domain::tower::Technology;
use crate::service::analysis::{self, DistrictReport};
use crate::service::policy::authorize_public;
use crate::service::render::geojson_geometry;
use crate::spatial::analysis::UniformPopulation;

/// What an analysis request asks for.
struct Request {
    technology: Technology,
    config: AnalysisConfig,
    csv: bool,
}

/// The output formats of `/analysis/districts`: `f=csv` for a table.
const FORMATS: &[(&str, bool)] = &[("json", false), ("geojson", false), ("csv", true)];

fn parse(
    st: &AppState,
    raw: Option<&str>,
    headers: &HeaderMap,
    allow_format: bool,
) -> ApiResult<Request> {
    let mut config = (*st.analysis).clone();
    let mut q = Query::parse(raw)?;
    let technology = q
        .from_str::<Technology>("technology")?
        .unwrap_or(Technology::G4);
    let accept_csv = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| {
            a.split(',')
                .next()
                .is_some_and(|f| f.trim().starts_with("text/csv"))
        });
    let csv = allow_format && q.format(FORMATS)?.unwrap_or(accept_csv);
    if let Some(r) = q.i64("resolution", 7..=11)? {
        config.resolution = u8::try_from(r).unwrap_or(config.resolution);
    }
    if let Some(m) = q.f64("fibre_reach_m", ..)? {
        config.fibre_reach_m = m;
    }
    let overrides = q.take_where(|n| n.starts_with("underserved.") || n.starts_with("unserved."));
    for (k, v) in overrides {
        let (level, name) = k.split_once('.').unwrap_or_default();
        if !CRITERIA.iter().any(|c| c.name == name) {
            return Err(ApiError::param(&k, format!("'{name}' is not a criterion")));
        }
        let value = v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| ApiError::param(&k, format!("'{v}' is not a number")))?;
        let map = if level == "underserved" {
            &mut config.underserved
        } else {
            &mut config.unserved
        };
        map.insert(name.to_owned(), value);
    }
    for c in CRITERIA {
        q.accept(&format!("underserved.{}", c.name));
    }
    q.accept("unserved.…");
    q.finish()?;
    config
        .check()
        .map_err(|e| ApiError::param(&e.setting(), e.to_string()))?;
    Ok(Request {
        technology,
        config,
        csv,
    })
}

async fn build(st: &AppState, q: &Request) -> ApiResult<Vec<DistrictReport>> {
    analysis::districts_cached(
        &st.pool,
        &st.coverage,
        &q.config,
        q.technology,
        &UniformPopulation,
    )
    .await
    .map(|r| r.as_ref().clone())
    .map_err(|e| match e {
        analysis::ReportError::Db(d) => ApiError::from(d),
        analysis::ReportError::Cancelled(c) => ApiError::Unavailable(c.to_string()),
        other => ApiError::internal(other),
    })
}

fn feature(
    st_index: &crate::coverage::index::CoverageIndex,
    r: &DistrictReport,
) -> serde_json::Value {
    let geometry = st_index.areas.iter().find(|a| a.code == r.code).map(|a| {
        serde_json::to_value(geojson_geometry(&geo::Geometry::MultiPolygon(
            a.geometry.clone(),
        )))
        .unwrap_or_default()
    });
    json!({
        "type": "Feature",
        "id": r.code,
        "geometry": geometry,
        "properties": {
            "code": r.code,
            "name": r.name,
            "rank": r.rank,
            "class": r.verdict.class,
            "score": r.verdict.score,
            "indicators": r.indicators,
            "explanation": r.verdict.explanation,
        }
    })
}

/// `GET /analysis/districts`: every district with class, score, indicators
/// and explanation, worst first; `f=csv` or `Accept: text/csv` for a table.
#[utoipa::path(get, path = "/analysis/districts", tag = "Analysis",
    params(
        ("technology" = Option<String>, Query, description = "2G, 3G, 4G or 5G; default 4G"),
        ("f" = Option<String>, Query, description = "json (GeoJSON, default) or csv"),
        ("resolution" = Option<u8>, Query, description = "H3 resolution of the analysis grid, 7–11 (default from config/analysis.toml)"),
        ("fibre_reach_m" = Option<f64>, Query, description = "Fibre reach distance, metres"),
        ("underserved.pop_coverage_pct" = Option<f64>, Query, description = "Override any threshold: underserved.<criterion> or unserved.<criterion>"),
    ),
    responses(
        (status = 200, description = "GeoJSON FeatureCollection (or CSV) of districts with class, score, indicators and explanation"),
        (status = 400, description = "Bad parameter", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn districts(
    State(st): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    authorize_public(&actor)?;
    let q = parse(&st, raw.as_deref(), &headers, true)?;
    let reports = build(&st, &q).await?;
    if q.csv {
        let body = analysis::to_csv(&reports).map_err(ApiError::internal)?;
        let mut res = json_response(StatusCode::OK, "text/csv; charset=utf-8", body.into_bytes());
        res.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            header::HeaderValue::from_static("attachment; filename=\"underserved-districts.csv\""),
        );
        return Ok(res);
    }
    let index = st.coverage.snapshot();
    let features: Vec<serde_json::Value> = reports.iter().map(|r| feature(&index, r)).collect();
    let body = serde_json::to_vec(&json!({
        "type": "FeatureCollection",
        "technology": q.technology.as_str(),
        "thresholds": q.config,
        "numberReturned": features.len(),
        "features": features,
    }))
    .map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, GEO_JSON, body))
}

/// `GET /analysis/districts/{code}`: one district's report as a Feature.
#[utoipa::path(get, path = "/analysis/districts/{code}", tag = "Analysis",
    params(("code" = String, Path, description = "District code"), ("technology" = Option<String>, Query, description = "2G, 3G, 4G or 5G; default 4G")),
    responses(
        (status = 200, description = "GeoJSON Feature with class, score, indicators and explanation"),
        (status = 404, description = "No such district", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn district(
    State(st): State<AppState>,
    actor: Actor,
    PathParams(code): PathParams<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    authorize_public(&actor)?;
    let q = parse(&st, raw.as_deref(), &headers, false)?;
    let reports = build(&st, &q).await?;
    let r = reports
        .iter()
        .find(|r| r.code == code)
        .ok_or_else(|| ApiError::NotFound(format!("no district '{code}'")))?;
    let body =
        serde_json::to_vec(&feature(&st.coverage.snapshot(), r)).map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, GEO_JSON, body))
}

/// `GET /analysis/summary`: city totals and the plan's indicators.
#[utoipa::path(get, path = "/analysis/summary", tag = "Analysis",
    params(("technology" = Option<String>, Query, description = "2G, 3G, 4G or 5G; default 4G")),
    responses((status = 200, description = "City totals: population coverage, districts per class, shared sites against the 2025 target of 400, type-1 masts, underground versus aerial fibre, and the shared duct network (km of banks, average and highest fill, banks over the limit, aerial fibre within 50 m of a bank with room)")))]
pub async fn summary(
    State(st): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    authorize_public(&actor)?;
    let q = parse(&st, raw.as_deref(), &headers, false)?;
    let reports = build(&st, &q).await?;
    let s = analysis::summary(&st.pool, q.technology, &reports, &st.ducts.policy)
        .await
        .map_err(|e| match e {
            analysis::ReportError::Db(d) => ApiError::from(d),
            other => ApiError::internal(other),
        })?;
    Ok(json_response(
        StatusCode::OK,
        "application/json",
        serde_json::to_vec(&s).map_err(ApiError::internal)?,
    ))
}

/// `GET /analysis/undergrounding`: per district, the aerial fibre still to
/// move underground, the fibre already moved (from the history), and the
/// aerial fibre within 50 m of a duct bank with room; `f=csv` for a table.
#[utoipa::path(get, path = "/analysis/undergrounding", tag = "Analysis",
    params(("f" = Option<String>, Query, description = "json (default) or csv")),
    responses(
        (status = 200, description = "Per district: aerial_km (to move), underground_km, moved_km, aerial_km_near_room, bank_km; and the city totals"),
        (status = 400, description = "Bad parameter", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn undergrounding(
    State(st): State<AppState>,
    actor: Actor,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    authorize_public(&actor)?;
    let mut q = Query::parse(raw.as_deref())?;
    let csv = q
        .format(&[("json", false), ("csv", true)])?
        .unwrap_or(false);
    q.finish()?;
    let rows = st.service().undergrounding().await?;
    let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
    if csv {
        return csv_table(
            &[
                "code",
                "name",
                "aerial_km",
                "underground_km",
                "moved_km",
                "aerial_km_near_room",
                "bank_km",
            ],
            rows.iter().map(|r| {
                vec![
                    r.code.clone(),
                    r.name.clone(),
                    r3(r.aerial_km).to_string(),
                    r3(r.underground_km).to_string(),
                    r3(r.moved_km).to_string(),
                    r3(r.aerial_km_near_room).to_string(),
                    r3(r.bank_km).to_string(),
                ]
            }),
        );
    }
    let sum = |f: fn(&crate::db::analysis::UndergroundingRow) -> f64| r3(rows.iter().map(f).sum());
    let districts: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            json!({
                "code": r.code, "name": r.name,
                "aerial_km": r3(r.aerial_km),
                "underground_km": r3(r.underground_km),
                "moved_km": r3(r.moved_km),
                "aerial_km_near_room": r3(r.aerial_km_near_room),
                "bank_km": r3(r.bank_km),
            })
        })
        .collect();
    let body = serde_json::to_vec(&json!({
        "districts": districts,
        "totals": {
            "aerial_km": sum(|r| r.aerial_km),
            "underground_km": sum(|r| r.underground_km),
            "moved_km": sum(|r| r.moved_km),
            "aerial_km_near_room": sum(|r| r.aerial_km_near_room),
            "bank_km": sum(|r| r.bank_km),
        },
        "room": format!(
            "a duct bank has room when one of its conduits still takes a cable of {} mm under the fill limits",
            crate::service::ducts::LOW_FROM_MM
        ),
    }))
    .map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, "application/json", body))
}

/// A `text/csv` answer of `header` and `rows`.
fn csv_table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> ApiResult<Response> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(ApiError::internal)?;
    for r in rows {
        w.write_record(&r).map_err(ApiError::internal)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| ApiError::internal(e.into_error()))?;
    Ok(json_response(
        StatusCode::OK,
        "text/csv; charset=utf-8",
        body,
    ))
}

/// Default corridor of a street segment, metres.
const STREET_CORRIDOR_M: f64 = 30.0;

/// `GET /analysis/undergrounding/streets`: per street segment (a main
/// street's part inside one district), within `corridor_m` of it, the aerial
/// fibre still to move, the fibre moved, and the duct banks with and without
/// room; the segments with the most aerial fibre first; `f=csv` for a table.
#[utoipa::path(get, path = "/analysis/undergrounding/streets", tag = "Analysis",
    params(
        ("corridor_m" = Option<f64>, Query, description = "Half-width of the street's corridor, metres (1–200, default 30)"),
        ("f" = Option<String>, Query, description = "json (default) or csv")),
    responses(
        (status = 200, description = "Street segments: street_id, name, code, district, length_km, aerial_km (to move), moved_km, bank_km, bank_km_with_room"),
        (status = 400, description = "Bad parameter", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn undergrounding_streets(
    State(st): State<AppState>,
    actor: Actor,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    authorize_public(&actor)?;
    let mut q = Query::parse(raw.as_deref())?;
    let csv = q
        .format(&[("json", false), ("csv", true)])?
        .unwrap_or(false);
    let corridor_m = q
        .f64("corridor_m", 1.0..=200.0)?
        .unwrap_or(STREET_CORRIDOR_M);
    q.finish()?;
    let rows = st.service().undergrounding_streets(corridor_m).await?;
    let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
    if csv {
        return csv_table(
            &[
                "street_id",
                "name",
                "code",
                "district",
                "length_km",
                "aerial_km",
                "moved_km",
                "bank_km",
                "bank_km_with_room",
            ],
            rows.iter().map(|r| {
                vec![
                    r.street_id.to_string(),
                    r.name.clone(),
                    r.code.clone(),
                    r.district.clone(),
                    r3(r.length_km).to_string(),
                    r3(r.aerial_km).to_string(),
                    r3(r.moved_km).to_string(),
                    r3(r.bank_km).to_string(),
                    r3(r.bank_km_with_room).to_string(),
                ]
            }),
        );
    }
    let segments: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            json!({
                "street_id": r.street_id, "name": r.name, "code": r.code, "district": r.district,
                "length_km": r3(r.length_km),
                "aerial_km": r3(r.aerial_km),
                "moved_km": r3(r.moved_km),
                "bank_km": r3(r.bank_km),
                "bank_km_with_room": r3(r.bank_km_with_room),
            })
        })
        .collect();
    let body = serde_json::to_vec(&json!({
        "corridor_m": corridor_m,
        "segments": segments,
        "room": format!(
            "a duct bank has room when one of its conduits still takes a cable of {} mm under the fill limits",
            crate::service::ducts::LOW_FROM_MM
        ),
    }))
    .map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, "application/json", body))
}
