//! `/ducts`: the shared underground network's leases, route finder and
//! capacity map (issue 17). The structures and duct banks themselves are
//! OGC API collections (`/collections/structures`, `/collections/duct-banks`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::access::Actor;
use super::error::{ApiError, ApiResult};
use super::extract::{PathParams, body_bytes, json_body};
use super::items::caller;
use super::query::{Query, Required};
use super::{AppState, GEO_JSON, json_response};
use crate::db::duct_leases::LeaseFilter;
use crate::domain::duct::LeaseState;
use crate::service::ducts::{RouteRequest, lease_document};
use crate::service::policy::LeaseView;

const JSON_MEDIA: &[&str] = &["application/json", "application/geo+json"];
const PATCH_MEDIA: &[&str] = &["application/json", "application/merge-patch+json"];

/// Extra cost of a bank the city does not own when `prefer_city=true`, as
/// a share of its length: such a bank is taken only when the city's way
/// round is more than twice as long.
pub const NON_CITY_PENALTY: f64 = 1.0;

/// Largest page of leases.
pub const MAX_LEASES_PAGE: i64 = 1_000;

/// Largest (and default) page of the capacity map, in banks.
pub const MAX_CAPACITY_PAGE: i64 = 10_000;

fn body_json(bytes: Vec<u8>, status: StatusCode) -> Response {
    json_response(status, GEO_JSON, bytes)
}

fn to_bytes(v: &Value) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(ApiError::internal)
}

/// Reads `lon,lat`.
fn lon_lat(name: &str, v: &str) -> ApiResult<(f64, f64)> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let nums: Option<Vec<f64>> = parts
        .iter()
        .map(|p| p.parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect();
    match nums.as_deref() {
        Some([lon, lat]) if (-180.0..=180.0).contains(lon) && (-90.0..=90.0).contains(lat) => {
            Ok((*lon, *lat))
        }
        _ => Err(ApiError::param(
            name,
            format!("'{v}' must be lon,lat in degrees (CRS84), e.g. 108.2208,16.0678"),
        )),
    }
}

/// `GET /ducts/route?from=lon,lat&to=lon,lat&cable_diameter_mm=…`: the
/// shortest path through duct banks with room for the cable, from the
/// structure nearest `from` to the one nearest `to`.
#[utoipa::path(get, path = "/ducts/route", tag = "Ducts",
    params(
        ("from" = String, Query, description = "Start, lon,lat (CRS84)"),
        ("to" = String, Query, description = "End, lon,lat (CRS84)"),
        ("cable_diameter_mm" = f64, Query, description = "Outer diameter of the cable, mm (0.5–200)"),
        ("operator" = Option<String>, Query, description = "The lessee the drafted lease request names"),
        ("avoid" = Option<String>, Query, description = "Structure ids to avoid, comma-separated"),
        ("prefer_city" = Option<bool>, Query, description = "Prefer the city's banks (another owner's bank costs twice its length)"),
    ),
    responses(
        (status = 200, description = "The route: a Feature with the banks, the duct chosen in each, the length and the structures, and a drafted lease request", content_type = "application/geo+json"),
        (status = 400, description = "Bad parameter", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No route has room (naming the first bank that blocks), or the ends are not connected", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn route(
    State(st): State<AppState>,
    actor: Actor,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    crate::service::policy::authorize_public(&actor)?;
    let mut q = Query::parse(raw.as_deref())?;
    let from = q.string("from").required("from")?;
    let to = q.string("to").required("to")?;
    let cable = q
        .f64("cable_diameter_mm", 0.5..=200.0)?
        .required("cable_diameter_mm")?;
    let operator = q.text("operator", 63)?;
    let avoid = match q.string("avoid") {
        None => Vec::new(),
        Some(v) => v
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse::<i64>().ok().filter(|i| *i > 0))
            .collect::<Option<Vec<_>>>()
            .filter(|v| v.len() <= 1_000)
            .ok_or_else(|| {
                ApiError::param(
                    "avoid",
                    format!("'{v}' must be structure ids, comma-separated (at most 1,000)"),
                )
            })?,
    };
    let prefer_city = q
        .choice("prefer_city", &[("true", true), ("false", false)])?
        .unwrap_or(false);
    q.finish()?;
    let req = RouteRequest {
        from: lon_lat("from", &from)?,
        to: lon_lat("to", &to)?,
        cable_diameter_mm: cable,
        operator: operator.or_else(|| actor.carrier_operator().map(str::to_owned)),
        avoid,
        prefer_city: if prefer_city { NON_CITY_PENALTY } else { 0.0 },
    };
    let doc = st.service().duct_route(req).await?;
    Ok(body_json(to_bytes(&doc)?, StatusCode::OK))
}

/// `GET /ducts/capacity[?bbox=]`: the active duct banks with their free
/// capacity: a class (none / low / ample) for everyone; per duct and
/// subduct its fill and the largest cable that still fits for callers
/// signed in. No occupancy details (who leases what) at all.
#[utoipa::path(get, path = "/ducts/capacity", tag = "Ducts",
    params(
        ("bbox" = Option<String>, Query, description = "minLon,minLat,maxLon,maxLat (CRS84)"),
        ("limit" = Option<i64>, Query, description = "Banks per page, 1–10000 (default 10000)"),
        ("offset" = Option<i64>, Query, description = "Banks to skip, in id order"),
    ),
    responses(
        (status = 200, description = "A FeatureCollection of duct banks with their capacity", content_type = "application/geo+json"),
        (status = 400, description = "Bad parameter", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn capacity(
    State(st): State<AppState>,
    actor: Actor,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let mut q = Query::parse(raw.as_deref())?;
    let bbox = q.bbox("bbox", false)?;
    let limit = q
        .i64("limit", 1..=MAX_CAPACITY_PAGE)?
        .unwrap_or(MAX_CAPACITY_PAGE);
    let offset = q.i64("offset", 0..)?.unwrap_or(0);
    q.finish()?;
    let page = (
        usize::try_from(limit).unwrap_or(1),
        usize::try_from(offset).unwrap_or(usize::MAX),
    );
    let doc = st
        .service()
        .duct_capacity(LeaseView::of(&actor), bbox, page)
        .await?;
    Ok(body_json(to_bytes(&doc)?, StatusCode::OK))
}

/// `GET /ducts/leases`: the leases the caller may see (the Department:
/// all; a carrier: its own and those through its banks; the public: none).
#[utoipa::path(get, path = "/ducts/leases", tag = "Ducts",
    params(
        ("operator" = Option<String>, Query, description = "Lessee"),
        ("state" = Option<String>, Query, description = "requested, approved, active, released or rejected"),
        ("bank_id" = Option<i64>, Query, description = "Only leases through this duct bank"),
        ("limit" = Option<i64>, Query, description = "Page size, 1–1000 (default 100)"),
        ("offset" = Option<i64>, Query, description = "Leases to skip"),
    ),
    responses(
        (status = 200, description = "A FeatureCollection of leases", content_type = "application/geo+json"),
        (status = 401, description = "No API token", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn leases(
    State(st): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let mut q = Query::parse(raw.as_deref())?;
    let operator = q.text("operator", 63)?;
    let state = match q.string("state") {
        None => None,
        Some(s) => Some(LeaseState::parse(&s).ok_or_else(|| {
            ApiError::param(
                "state",
                format!("'{s}' is not one of requested, approved, active, released, rejected"),
            )
        })?),
    };
    let bank_id = q.i64("bank_id", 1..)?;
    let limit = q.i64("limit", 1..=MAX_LEASES_PAGE)?.unwrap_or(100);
    let offset = q.i64("offset", 0..)?.unwrap_or(0);
    q.finish()?;
    let page = st
        .service()
        .leases(
            &caller(actor, &headers),
            LeaseFilter {
                visible_to: None,
                operator,
                state,
                bank_id,
                limit,
                offset,
            },
        )
        .await?;
    let doc = json!({
        "type": "FeatureCollection",
        "numberMatched": page.matched,
        "numberReturned": page.leases.len(),
        "features": page.leases.iter().map(lease_document).collect::<Vec<_>>(),
    });
    Ok(body_json(to_bytes(&doc)?, StatusCode::OK))
}

fn lease_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::NotFound(format!("no duct lease '{raw}'")))
}

/// `POST /ducts/leases`: request a lease (201 + Location). The cable is
/// admitted in every segment under the fill limits, in one transaction.
#[utoipa::path(post, path = "/ducts/leases", tag = "Ducts",
    request_body(content = serde_json::Value, description = "{operator?, cable_diameter_mm, fibre_count?, fibre_route_id?, reference?, note?, segments: [{bank_id, duct, subduct?}]}", content_type = "application/json"),
    responses(
        (status = 201, description = "Requested; the body is the lease", content_type = "application/geo+json"),
        (status = 401, description = "No API token", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not request this lease", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "No room: names the duct and by how much, or the occupied subduct", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid request (unknown bank, duct, subduct; banks that do not follow each other)", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn request(
    State(st): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    if actor == Actor::Anonymous {
        return Err(crate::service::policy::sign_in_required("requesting a duct lease").into());
    }
    let body = body_bytes(body)?;
    let value = json_body(&headers, &body, JSON_MEDIA)?;
    let lease = st
        .service()
        .request_lease(&caller(actor, &headers), &value)
        .await?;
    let mut res = body_json(to_bytes(&lease_document(&lease))?, StatusCode::CREATED);
    if let Ok(v) = header::HeaderValue::from_str(&format!("/ducts/leases/{}", lease.id)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// `GET /ducts/leases/{id}`: one lease, if the caller may see it.
#[utoipa::path(get, path = "/ducts/leases/{id}", tag = "Ducts",
    params(("id" = i64, Path, description = "Lease id")),
    responses(
        (status = 200, description = "The lease", content_type = "application/geo+json"),
        (status = 401, description = "No API token", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such lease the caller may see", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn lease(
    State(st): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    let id = lease_id(&id)?;
    let lease = st.service().lease(&caller(actor, &headers), id).await?;
    Ok(body_json(
        to_bytes(&lease_document(&lease))?,
        StatusCode::OK,
    ))
}

/// `PATCH /ducts/leases/{id}` with `{"state": …, "note"?, "reference"?}`:
/// approve, reject, activate or release a lease.
#[utoipa::path(patch, path = "/ducts/leases/{id}", tag = "Ducts",
    params(("id" = i64, Path, description = "Lease id")),
    request_body(content = serde_json::Value, description = "{state, note?, reference?}", content_type = "application/json"),
    responses(
        (status = 200, description = "The lease after the change", content_type = "application/geo+json"),
        (status = 403, description = "The token may not make this change", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The life cycle does not allow this change", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn change(
    State(st): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    PathParams(id): PathParams<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let id = lease_id(&id)?;
    if actor == Actor::Anonymous {
        return Err(crate::service::policy::sign_in_required("changing a duct lease").into());
    }
    let body = body_bytes(body)?;
    let value = json_body(&headers, &body, PATCH_MEDIA)?;
    let lease = st
        .service()
        .change_lease(&caller(actor, &headers), id, &value)
        .await?;
    Ok(body_json(
        to_bytes(&lease_document(&lease))?,
        StatusCode::OK,
    ))
}
