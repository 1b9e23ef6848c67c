//! `/collections/{collectionId}/items`: list, read, create, replace, patch
//! and delete features (OGC API – Features Parts 1 and 4), their history and
//! the change feed. A thin adapter: each handler parses the request, calls
//! one use-case of [`crate::service`], and renders its answer.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::access::{Actor, request_id};
use super::conditional::Conditional;
use super::error::{ApiError, ApiResult};
use super::extract::{BaseUrl, PathParams, body_bytes, json_body};
use super::params::{parse_pairs, read_items_filter};
use super::query::Query;
use super::{AppState, GEO_JSON, json_response};
use crate::db::ItemFilter;
use crate::db::history::{Entry, FeedFilter};
use crate::domain::CollectionId;
use crate::service::export::{ExportFormat, ExportRequest};
use crate::service::policy::sign_in_required;
use crate::service::render::{FeatureCollection, Link, now_stamp};
use crate::service::{Caller, IfMatch, Key, Page, Update, Viewer, Visible};

const FEATURE_MEDIA: &[&str] = &["application/geo+json", "application/json"];
const PATCH_MEDIA: &[&str] = &[
    "application/merge-patch+json",
    "application/json",
    "application/geo+json",
];

/// Resolves a collection id from the URL.
///
/// # Errors
/// 404 naming the collections there are.
pub fn collection(id: &str) -> ApiResult<CollectionId> {
    CollectionId::parse(id).ok_or_else(|| {
        let ids: Vec<&str> = CollectionId::ALL.iter().map(|c| c.as_str()).collect();
        ApiError::NotFound(format!(
            "no collection '{id}'; collections are: {}",
            ids.join(", ")
        ))
    })
}

/// Resolves a feature id of collection `c` from the URL.
fn key(c: CollectionId, raw: &str) -> ApiResult<Key> {
    Key::parse(c, raw)
        .ok_or_else(|| ApiError::NotFound(format!("no feature '{raw}' in collection '{c}'")))
}

fn geojson_headers(mut res: Response) -> Response {
    res.headers_mut().insert(
        "content-crs",
        HeaderValue::from_static("<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"),
    );
    res
}

fn page_link(
    base: &str,
    c: CollectionId,
    pairs: &[(String, String)],
    offset: i64,
    limit: i64,
    rel: &str,
) -> Link {
    let mut q: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "offset" && k != "limit")
        .cloned()
        .collect();
    q.push(("limit".into(), limit.to_string()));
    if offset > 0 {
        q.push(("offset".into(), offset.to_string()));
    }
    let query = serde_urlencoded::to_string(&q).unwrap_or_default();
    Link::new(
        format!("{base}/collections/{c}/items?{query}"),
        rel,
        GEO_JSON,
    )
}

fn to_json<T: serde::Serialize>(v: &T) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(ApiError::internal)
}

/// What `f` may ask of `/items`: a page (json, the default), or an export.
const ITEMS_FORMATS: &[(&str, Option<ExportFormat>)] = &[
    ("json", None),
    ("application/json", None),
    ("application/geo+json", None),
    ("geojson", Some(ExportFormat::Geojson)),
    ("csv", Some(ExportFormat::Csv)),
    ("gpkg", Some(ExportFormat::Gpkg)),
];

/// `GET /collections/{collectionId}/items`: a page of features as GeoJSON.
#[utoipa::path(get, path = "/collections/{collectionId}/items", tag = "Features",
    params(
        ("collectionId" = String, Path, description = "towers, fibre-routes, data-centres, districts, structures or duct-banks"),
        ("limit" = Option<i64>, Query, description = "Page size, 1…10000 (larger values are clamped to 10000); default 100", minimum = 1, maximum = 10000),
        ("offset" = Option<i64>, Query, description = "Features to skip (ordered by id); follow `next` links rather than computing it"),
        ("bbox" = Option<String>, Query, description = "minLon,minLat,maxLon,maxLat in CRS84: features that intersect the box", style = Form, explode = false),
        ("bbox-crs" = Option<String>, Query, description = "CRS of bbox: CRS84 (default) or EPSG:4326 (lat,lon axis order)"),
        ("operator" = Option<String>, Query, description = "Owning operator id (towers, fibre-routes, data-centres)"),
        ("status" = Option<String>, Query, description = "planned, under_construction, operational or retired"),
        ("technology" = Option<String>, Query, description = "Towers with at least one sector of this technology: 2G, 3G, 4G, 5G"),
        ("as_of" = Option<String>, Query, description = "RFC 3339 time: the features as they were then (from the audit history)"),
        ("f" = Option<String>, Query, description = "json (default: a page of GeoJSON), or an export of every matching feature (limit/offset when given) as geojson, csv or gpkg (GeoPackage), with Content-Disposition: attachment"),
    ),
    responses(
        (status = 200, description = "GeoJSON FeatureCollection with numberMatched, numberReturned and next/prev links; an attachment for f=geojson, f=csv or f=gpkg", content_type = "application/geo+json"),
        (status = 400, description = "Malformed parameter", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such collection", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams(cid): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    // The pairs as sent, for the page links; the reader checks them.
    let pairs: Vec<(String, String)> = parse_pairs(raw.as_deref())?
        .into_iter()
        .filter(|(k, _)| k != "as_of")
        .collect();
    let mut q = Query::parse(raw.as_deref())?;
    let as_of = q.time("as_of")?;
    let format = q.format(ITEMS_FORMATS)?.flatten();
    let limited = q.contains("limit");
    let filter: ItemFilter = read_items_filter(c, &mut q)?;
    q.finish()?;
    let viewer = Viewer::new(actor);
    let service = st.service();
    if let Some(format) = format {
        if as_of.is_some() {
            return Err(ApiError::param(
                "as_of",
                "exports are of the current network; use f=json with as_of",
            ));
        }
        // An export: every matching feature (or `limit` of them).
        let request = ExportRequest {
            layer: c,
            filter,
            limited,
            format,
        };
        let mut res = super::export::response(service, viewer, request).await?;
        vary_authorization(&mut res, c);
        return Ok(res);
    }
    let page = match as_of {
        Some(at) => service.list_as_of(&viewer, c, at, &filter).await?,
        None => service.list(&viewer, c, &filter).await?,
    };
    let body = page_body(&base, c, &pairs, &filter, page)?;
    let mut res = geojson_headers(json_response(StatusCode::OK, GEO_JSON, body));
    vary_authorization(&mut res, c);
    Ok(res)
}

/// Fibre answers depend on who asks: caches must not share them.
fn vary_authorization(res: &mut Response, c: CollectionId) {
    if c == CollectionId::FibreRoutes {
        res.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Authorization"));
    }
}

/// A page as a FeatureCollection with its `self`, `collection`, `next` and
/// `prev` links.
fn page_body(
    base: &str,
    c: CollectionId,
    pairs: &[(String, String)],
    filter: &ItemFilter,
    page: Page,
) -> ApiResult<Vec<u8>> {
    let returned = page.features.len();
    let returned_i = i64::try_from(returned).unwrap_or(i64::MAX);
    let mut links = vec![
        page_link(base, c, pairs, filter.offset, filter.limit, "self"),
        Link::new(
            format!("{base}/collections/{c}"),
            "collection",
            "application/json",
        )
        .titled(c.title()),
    ];
    if filter.offset + returned_i < page.matched && returned > 0 {
        links.push(
            page_link(
                base,
                c,
                pairs,
                filter.offset + returned_i,
                filter.limit,
                "next",
            )
            .titled("next page"),
        );
    }
    if filter.offset > 0 {
        links.push(
            page_link(
                base,
                c,
                pairs,
                (filter.offset - filter.limit).max(0),
                filter.limit,
                "prev",
            )
            .titled("previous page"),
        );
    }
    to_json(&FeatureCollection {
        type_: "FeatureCollection",
        features: page.features,
        number_matched: page.matched,
        number_returned: returned,
        time_stamp: now_stamp(),
        links,
    })
}

/// The `If-Match` condition of a write, for the use-case to check.
fn if_match(headers: &HeaderMap) -> ApiResult<IfMatch> {
    Ok(Conditional::from_headers(headers).if_match()?)
}

fn links_of(base: &str, c: CollectionId, key: &Key) -> Vec<Link> {
    vec![
        Link::new(
            format!("{base}/collections/{c}/items/{}", key.as_string()),
            "self",
            GEO_JSON,
        ),
        Link::new(
            format!("{base}/collections/{c}"),
            "collection",
            "application/json",
        )
        .titled(c.title()),
        Link::new(
            format!("{base}/collections/{c}/items/{}/history", key.as_string()),
            "version-history",
            "application/json",
        )
        .titled("audit history"),
    ]
}

fn stamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A feature's response: its served GeoJSON with links, its ETag when
/// `etag`, and `Location` when given.
fn feature_response(
    status: StatusCode,
    feature: &Visible,
    base: &str,
    etag: bool,
    location: bool,
) -> ApiResult<Response> {
    let c = feature.record().collection();
    let key = feature.key();
    let body = feature.to_json(Some(&links_of(base, c, &key)))?;
    let mut res = geojson_headers(json_response(status, GEO_JSON, body));
    if etag && let Ok(v) = HeaderValue::from_str(&feature.etag()?) {
        res.headers_mut().insert(header::ETAG, v);
    }
    if location {
        let href = format!("{base}/collections/{c}/items/{}", key.as_string());
        if let Ok(v) = HeaderValue::from_str(&href) {
            res.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(res)
}

/// `GET /collections/{collectionId}/items/{featureId}`: one feature.
#[utoipa::path(get, path = "/collections/{collectionId}/items/{featureId}", tag = "Features",
    params(
        ("collectionId" = String, Path, description = "Collection id"),
        ("featureId" = String, Path, description = "Feature id (district code for districts)"),
        ("as_of" = Option<String>, Query, description = "RFC 3339 time: the feature as it was then"),
    ),
    responses(
        (status = 200, description = "GeoJSON Feature, with its ETag", content_type = "application/geo+json"),
        (status = 404, description = "No such feature", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_one(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams((cid, fid)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let mut q = Query::parse(raw.as_deref())?;
    let as_of = q.time("as_of")?;
    q.json_format()?;
    q.parse_with("crs", |v| {
        if crate::domain::geometry::is_accepted_crs(v) && !v.contains("EPSG") {
            Ok(())
        } else {
            Err(format!(
                "'{v}' is not supported; features are served in CRS84"
            ))
        }
    })?;
    q.finish()?;
    let key = key(c, &fid)?;
    let viewer = Viewer::new(actor);
    let service = st.service();
    let (feature, etag) = match as_of {
        Some(at) => (service.get_as_of(&viewer, c, &key, at).await?, false),
        None => (service.get(&viewer, c, &key).await?, true),
    };
    let mut res = feature_response(StatusCode::OK, &feature, &base, etag, false)?;
    vary_authorization(&mut res, c);
    Ok(res)
}

/// The caller of a use-case: who, and the request's id (for the history).
pub(super) fn caller(actor: Actor, headers: &HeaderMap) -> Caller {
    Caller {
        actor,
        request_id: request_id(headers),
    }
}

/// `POST /collections/{collectionId}/items`: create a feature (201 + Location).
#[utoipa::path(post, path = "/collections/{collectionId}/items", tag = "Features",
    params(("collectionId" = String, Path, description = "Collection id")),
    request_body(content = serde_json::Value, description = "A GeoJSON Feature in CRS84 (lon/lat); see the README for each collection's properties", content_type = "application/geo+json"),
    responses(
        (status = 201, description = "Created; Location names the new feature, the body is the stored feature, ETag its version", content_type = "application/geo+json"),
        (status = 400, description = "Malformed JSON or not a Feature", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API token", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not create this feature", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Duplicate site code, external id or district code", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Unsupported Content-Type", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid geometry or properties; `errors` lists each with a JSON Pointer", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams(cid): PathParams<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let service = st.service();
    // Who may create is decided before the body is read.
    service.check_create(&actor, c)?;
    let body = body_bytes(body)?;
    let value = json_body(&headers, &body, FEATURE_MEDIA)?;
    let created = service.create(&caller(actor, &headers), c, &value).await?;
    feature_response(StatusCode::CREATED, &created, &base, true, true)
}

/// Replace or patch: the body is read after the caller is known to have
/// an account, then the use-case locks, checks and writes.
async fn update(
    st: &AppState,
    actor: Actor,
    headers: &HeaderMap,
    base: &str,
    (cid, fid): (String, String),
    body: Result<Bytes, BytesRejection>,
    patch: bool,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let key = key(c, &fid)?;
    if actor == Actor::Anonymous {
        return Err(sign_in_required(&format!("changing a feature of {c}")).into());
    }
    let body = body_bytes(body)?;
    let update = if patch {
        let value = json_body(headers, &body, PATCH_MEDIA)?;
        if !value.is_object() {
            return Err(ApiError::body("", "a merge patch must be a JSON object"));
        }
        Update::MergePatch(value)
    } else {
        Update::Replace(json_body(headers, &body, FEATURE_MEDIA)?)
    };
    let written = st
        .service()
        .update(
            &caller(actor, headers),
            c,
            &key,
            update,
            &if_match(headers)?,
        )
        .await?;
    feature_response(StatusCode::OK, &written, base, true, false)
}

/// `PUT /collections/{collectionId}/items/{featureId}`: replace a feature.
/// Tower sectors that carry their `id` are kept (updated in place); sectors
/// without one are added; sectors left out are removed.
#[utoipa::path(put, path = "/collections/{collectionId}/items/{featureId}", tag = "Features",
    params(
        ("collectionId" = String, Path, description = "Collection id"),
        ("featureId" = String, Path, description = "Feature id"),
        ("If-Match" = String, Header, description = "The feature's ETag from GET"),
    ),
    request_body(content = serde_json::Value, description = "The complete new GeoJSON Feature", content_type = "application/geo+json"),
    responses(
        (status = 200, description = "Replaced; the body is the stored feature, ETag its new version", content_type = "application/geo+json"),
        (status = 401, description = "No or bad API token", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not change this feature", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such feature", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names an older version", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid feature", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn replace(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams(ids): PathParams<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    update(&st, actor, &headers, &base, ids, body, false).await
}

/// `PATCH /collections/{collectionId}/items/{featureId}`: update a feature
/// with a JSON merge patch (RFC 7396) of its GeoJSON; arrays such as
/// `sectors` are replaced whole.
#[utoipa::path(patch, path = "/collections/{collectionId}/items/{featureId}", tag = "Features",
    params(
        ("collectionId" = String, Path, description = "Collection id"),
        ("featureId" = String, Path, description = "Feature id"),
        ("If-Match" = String, Header, description = "The feature's ETag from GET"),
    ),
    request_body(content = serde_json::Value, description = "JSON merge patch of the Feature, e.g. {\"properties\": {\"status\": \"retired\"}}", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Updated; the body is the stored feature, ETag its new version", content_type = "application/geo+json"),
        (status = 401, description = "No or bad API token", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not change this feature", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such feature", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names an older version", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The patched feature is invalid", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn patch(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams(ids): PathParams<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    update(&st, actor, &headers, &base, ids, body, true).await
}

/// `DELETE /collections/{collectionId}/items/{featureId}`: delete a feature
/// (a tower with its sectors). Deletion is soft: an administrator can
/// restore it.
#[utoipa::path(delete, path = "/collections/{collectionId}/items/{featureId}", tag = "Features",
    params(
        ("collectionId" = String, Path, description = "Collection id"),
        ("featureId" = String, Path, description = "Feature id"),
        ("If-Match" = String, Header, description = "The feature's ETag from GET"),
    ),
    responses(
        (status = 204, description = "Deleted (restorable)"),
        (status = 401, description = "No or bad API token", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not delete this feature", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such feature", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names an older version", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(st): State<AppState>,
    actor: Actor,
    PathParams((cid, fid)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let key = key(c, &fid)?;
    st.service()
        .delete(&caller(actor, &headers), c, &key, &if_match(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /collections/{collectionId}/items/{featureId}/restore`: bring a
/// deleted feature back exactly as it was (administrators only).
#[utoipa::path(post, path = "/collections/{collectionId}/items/{featureId}/restore", tag = "Features",
    params(("collectionId" = String, Path, description = "Collection id"), ("featureId" = String, Path, description = "Feature id")),
    responses(
        (status = 200, description = "Restored; the body is the feature, identical to before its deletion", content_type = "application/geo+json"),
        (status = 401, description = "No or bad API token", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deleted feature", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The feature is not deleted, or a live feature now holds its site code, external id or code", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn restore(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams((cid, fid)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let key = key(c, &fid)?;
    let restored = st
        .service()
        .restore(&caller(actor, &headers), c, &key)
        .await?;
    feature_response(StatusCode::OK, &restored, &base, true, false)
}

/// One history entry as served.
fn entry_json(e: &Entry) -> serde_json::Value {
    serde_json::json!({
        "id": e.id,
        "collection": e.collection,
        "featureId": e.feature_id,
        "op": e.op,
        "at": stamp(&e.at),
        "actor": {"name": e.actor, "role": e.actor_role, "token_id": e.token_id},
        "request_id": e.request_id,
        "operators": e.operators,
        "before": e.before,
        "after": e.after,
    })
}

/// `GET /collections/{collectionId}/items/{featureId}/history`: every
/// change of a feature, oldest first (deleted features too).
#[utoipa::path(get, path = "/collections/{collectionId}/items/{featureId}/history", tag = "Audit",
    params(("collectionId" = String, Path, description = "Collection id"), ("featureId" = String, Path, description = "Feature id")),
    responses(
        (status = 200, description = "{entries: [{id, op, at, actor, request_id, before, after}], links}", content_type = "application/json"),
        (status = 401, description = "No or bad API token", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "A carrier reading another operator's feature", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such feature, now or ever", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn history(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams((cid, fid)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let key = key(c, &fid)?;
    let history = st.service().history(&Viewer::new(actor), c, &key).await?;
    let id = key.as_string();
    let body = serde_json::json!({
        "collection": c.as_str(),
        "featureId": id,
        "deleted": history.deleted,
        "entries": history.entries.iter().map(entry_json).collect::<Vec<_>>(),
        "links": [
            Link::new(format!("{base}/collections/{c}/items/{id}/history"), "self", "application/json"),
            Link::new(format!("{base}/collections/{c}/items/{id}"), "about", GEO_JSON),
        ],
    });
    Ok(json_response(
        StatusCode::OK,
        "application/json",
        to_json(&body)?,
    ))
}

/// The change feed's filter from the query string.
fn feed_filter(raw: Option<&str>) -> ApiResult<FeedFilter> {
    let mut q = Query::parse(raw)?;
    let since = q.time("since")?;
    let operator = q.parse_with("operator", |v| {
        if crate::domain::operator::is_valid_slug(v) {
            Ok(v.to_owned())
        } else {
            Err("not an operator id (GET /operators)")
        }
    })?;
    let collection = q.parse_with("collection", |v| {
        CollectionId::parse(v)
            .ok_or("one of towers, fibre-routes, data-centres, districts, structures, duct-banks")
    })?;
    let after_id = q.i64("after", 0..)?;
    let limit = q.i64("limit", 1..=1000)?.unwrap_or(100);
    q.json_format()?;
    q.finish()?;
    Ok(FeedFilter {
        since,
        after_id,
        operator,
        collection,
        limit,
    })
}

/// `GET /changes`: the change feed, oldest first, paged by a cursor.
#[utoipa::path(get, path = "/changes", tag = "Audit",
    params(
        ("since" = Option<String>, Query, description = "RFC 3339 time: changes after it"),
        ("operator" = Option<String>, Query, description = "Only changes that concern this operator (a carrier sees only its own)"),
        ("collection" = Option<String>, Query, description = "Only this collection"),
        ("after" = Option<i64>, Query, description = "Cursor: changes after this entry id (the next link sets it)"),
        ("limit" = Option<i64>, Query, description = "Page size, 1…1000; default 100"),
    ),
    responses(
        (status = 200, description = "{changes: [...], numberReturned, links}", content_type = "application/json"),
        (status = 400, description = "Malformed parameter", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API token", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "A carrier asking for another operator's changes", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn changes(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    if actor == Actor::Anonymous {
        return Err(sign_in_required("the change feed").into());
    }
    let filter = feed_filter(raw.as_deref())?;
    let pairs = parse_pairs(raw.as_deref())?;
    let limit = filter.limit;
    let entries = st.service().changes(&Viewer::new(actor), filter).await?;
    let mut links = vec![Link::new(
        format!(
            "{base}/changes{}",
            raw.as_deref().map(|q| format!("?{q}")).unwrap_or_default()
        ),
        "self",
        "application/json",
    )];
    if let Some(last) = entries
        .last()
        .filter(|_| i64::try_from(entries.len()).unwrap_or(i64::MAX) == limit)
    {
        let mut q: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "after")
            .cloned()
            .collect();
        q.push(("after".into(), last.id.to_string()));
        links.push(Link::new(
            format!(
                "{base}/changes?{}",
                serde_urlencoded::to_string(&q).unwrap_or_default()
            ),
            "next",
            "application/json",
        ));
    }
    let body = serde_json::json!({
        "changes": entries.iter().map(entry_json).collect::<Vec<_>>(),
        "numberReturned": entries.len(),
        "timeStamp": now_stamp(),
        "links": links,
    });
    Ok(json_response(
        StatusCode::OK,
        "application/json",
        to_json(&body)?,
    ))
}
