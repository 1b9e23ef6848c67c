//! Landing page, conformance, collections, queryables and operators.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::access::Actor;
use super::error::{ApiError, ApiResult};
use super::extract::{BaseUrl, PathParams};
use super::items::collection;
use super::params::{QueryableKind, queryables as queryables_of};
use super::query::Query;
use super::{AppState, CRS84, GEO_JSON, json_response};
use crate::db;
use crate::domain::CollectionId;
use crate::service::Viewer;
use crate::service::render::Link;

/// Conformance classes this service implements.
pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
];

const JSON: &str = "application/json";
const OPENAPI: &str = "application/vnd.oai.openapi+json;version=3.0";

/// Accepts only `f` (JSON); `Ok(true)` when it was given.
fn only_format(raw: Option<&str>) -> ApiResult<bool> {
    let mut q = Query::parse(raw)?;
    let given = q.contains("f");
    q.json_format()?;
    q.finish()?;
    Ok(given)
}

fn wants_html(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or("");
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.trim().starts_with("text/html"))
}

fn json_ok<T: Serialize>(media: &'static str, v: &T) -> ApiResult<Response> {
    Ok(json_response(
        StatusCode::OK,
        media,
        serde_json::to_vec(v).map_err(ApiError::internal)?,
    ))
}

/// `GET /`: the landing page (JSON), or the web map for browsers
/// (`Accept: text/html` first, and no `f` parameter).
#[utoipa::path(get, path = "/", tag = "Capabilities", responses((status = 200, description = "Landing page with links to the API definition, conformance and collections")))]
pub async fn landing(
    State(st): State<AppState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let f_given = only_format(raw.as_deref())?;
    if !f_given
        && wants_html(&headers)
        && let Some(index) = st.web_dir.as_ref().map(|d| d.join("index.html"))
        && let Ok(html) = tokio::fs::read_to_string(&index).await
    {
        return Ok(Html(html).into_response());
    }
    json_ok(
        JSON,
        &json!({
            "title": "telecom-gis",
            "description": "Telecom infrastructure inventory of Đà Nẵng: towers and antenna sectors, fibre routes, data centres and districts (OGC API – Features).",
            "links": [
                Link::new(format!("{base}/"), "self", JSON).titled("This document"),
                Link::new(format!("{base}/api"), "service-desc", OPENAPI).titled("The API definition (OpenAPI 3.0)"),
                Link::new(format!("{base}/conformance"), "conformance", JSON).titled("Conformance classes"),
                Link::new(format!("{base}/collections"), "data", JSON).titled("Feature collections"),
                Link::new(format!("{base}/operators"), "related", JSON).titled("Operators (carriers)"),
                Link::new(format!("{base}/tileMatrixSets"), "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", JSON).titled("Tile matrix sets"),
                Link::new(format!("{base}/collections/sectors/tiles"), "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", JSON).titled("Sector wedges (vector tiles of the coverage index)"),
            ]
        }),
    )
}

/// `GET /conformance`.
#[utoipa::path(get, path = "/conformance", tag = "Capabilities", responses((status = 200, description = "The conformance classes implemented")))]
pub async fn conformance(RawQuery(raw): RawQuery) -> ApiResult<Response> {
    only_format(raw.as_deref())?;
    json_ok(JSON, &json!({ "conformsTo": CONFORMANCE }))
}

/// The description of collection `c`, with its extent as `viewer` sees it.
async fn collection_doc(
    st: &AppState,
    viewer: &Viewer,
    base: &str,
    c: CollectionId,
) -> ApiResult<serde_json::Value> {
    let extent = st
        .service()
        .extent(viewer, c)
        .await?
        .unwrap_or(crate::domain::region::CITY_BBOX);
    Ok(json!({
        "id": c.as_str(),
        "title": c.title(),
        "description": c.description(),
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "extent": { "spatial": { "bbox": [extent], "crs": CRS84 } },
        "geometryTypes": c.geometry_types(),
        "links": [
            Link::new(format!("{base}/collections/{c}"), "self", JSON).titled(c.title()),
            Link::new(format!("{base}/collections/{c}/items"), "items", GEO_JSON).titled("Features"),
            Link::new(format!("{base}/collections/{c}/queryables"), "http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json").titled("Queryables"),
            Link::new(format!("{base}/collections/{c}/tiles"), "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", JSON).titled("Vector tilesets"),
        ]
    }))
}

/// `GET /collections`.
#[utoipa::path(get, path = "/collections", tag = "Capabilities", responses((status = 200, description = "Every feature collection with its extent and links")))]
pub async fn collections(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    only_format(raw.as_deref())?;
    let viewer = Viewer::new(actor);
    let mut docs = Vec::new();
    for c in CollectionId::ALL {
        docs.push(collection_doc(&st, &viewer, &base, c).await?);
    }
    json_ok(
        JSON,
        &json!({
            "links": [Link::new(format!("{base}/collections"), "self", JSON)],
            "collections": docs,
        }),
    )
}

/// `GET /collections/{collectionId}`.
#[utoipa::path(get, path = "/collections/{collectionId}", tag = "Capabilities",
    params(("collectionId" = String, Path, description = "towers, fibre-routes, data-centres, districts, structures or duct-banks")),
    responses((status = 200, description = "The collection"), (status = 404, description = "No such collection", body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn collection_one(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams(cid): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    only_format(raw.as_deref())?;
    json_ok(
        JSON,
        &collection_doc(&st, &Viewer::new(actor), &base, c).await?,
    )
}

/// `GET /collections/{collectionId}/queryables`: the properties usable as
/// `?name=value` filters, as JSON Schema (OGC API – Features Part 3).
#[utoipa::path(get, path = "/collections/{collectionId}/queryables", tag = "Capabilities",
    params(("collectionId" = String, Path, description = "Collection id")),
    responses((status = 200, description = "JSON Schema of the queryables", content_type = "application/schema+json")))]
pub async fn queryables(
    BaseUrl(base): BaseUrl,
    PathParams(cid): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let c = super::items::collection(&cid)?;
    only_format(raw.as_deref())?;
    let mut props = serde_json::Map::new();
    for (name, kind) in queryables_of(c) {
        let schema = match kind {
            QueryableKind::Text => json!({"type": "string"}),
            QueryableKind::OneOf(values) => json!({"type": "string", "enum": values}),
            QueryableKind::Integer(min, max) => {
                json!({"type": "integer", "minimum": min, "maximum": max})
            }
        };
        props.insert((*name).to_owned(), schema);
    }
    json_ok(
        "application/schema+json",
        &json!({
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": format!("{base}/collections/{c}/queryables"),
            "type": "object",
            "title": c.title(),
            "properties": props,
            "additionalProperties": false,
        }),
    )
}

/// `GET /operators`: the registered carriers.
#[utoipa::path(get, path = "/operators", tag = "Operators", responses((status = 200, description = "Every operator", body = [crate::domain::operator::Operator])))]
pub async fn operators(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    only_format(raw.as_deref())?;
    let ops = db::operators::list(&st.pool).await?;
    json_ok(JSON, &json!({ "operators": ops }))
}

/// `GET /healthz`: the process is alive.
#[utoipa::path(get, path = "/healthz", tag = "Operations", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        "ok\n",
    )
}
