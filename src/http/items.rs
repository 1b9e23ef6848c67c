//! `/collections/{collectionId}/items`: list, read, create, replace, patch
//! and delete features (OGC API – Features Parts 1 and 4).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sqlx::PgConnection;

use super::access::{Action, Actor, authorize};
use super::error::{ApiError, ApiResult};
use super::extract::{BaseUrl, PathParams, body_bytes, feature_parts, json_body, merge_patch};
use super::features::{
    DataCentreFeature, DistrictFeature, FeatureCollection, FibreFeature, Link, TowerFeature,
    now_stamp,
};
use super::params::{check_format, items_filter, parse_pairs};
use super::{AppState, GEO_JSON, json_response};
use crate::db::{self, ItemFilter};
use crate::domain::CollectionId;
use crate::domain::data_centre::NewDataCentre;
use crate::domain::district::NewDistrict;
use crate::domain::fibre::NewFibreRoute;
use crate::domain::tower::NewTower;

const FEATURE_MEDIA: &[&str] = &["application/geo+json", "application/json"];
const PATCH_MEDIA: &[&str] = &[
    "application/merge-patch+json",
    "application/json",
    "application/geo+json",
];

/// Resolves a collection id from the URL.
pub fn collection(id: &str) -> ApiResult<CollectionId> {
    CollectionId::parse(id).ok_or_else(|| {
        let ids: Vec<&str> = CollectionId::ALL.iter().map(|c| c.as_str()).collect();
        ApiError::NotFound(format!(
            "no collection '{id}'; collections are: {}",
            ids.join(", ")
        ))
    })
}

/// A feature's key: an integer id, or a district code.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    Id(i64),
    Code(String),
}

impl Key {
    fn parse(c: CollectionId, raw: &str) -> ApiResult<Key> {
        let missing = || ApiError::NotFound(format!("no feature '{raw}' in collection '{c}'"));
        if c.numeric_ids() {
            raw.parse::<i64>()
                .ok()
                .filter(|i| *i > 0)
                .map(Key::Id)
                .ok_or_else(missing)
        } else if crate::domain::district::is_valid_code(raw) {
            Ok(Key::Code(raw.to_owned()))
        } else {
            Err(missing())
        }
    }

    fn as_string(&self) -> String {
        match self {
            Key::Id(i) => i.to_string(),
            Key::Code(c) => c.clone(),
        }
    }
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

/// `GET /collections/{collectionId}/items`: a page of features as GeoJSON.
#[utoipa::path(get, path = "/collections/{collectionId}/items", tag = "Features",
    params(
        ("collectionId" = String, Path, description = "towers, fibre-routes, data-centres or districts"),
        ("limit" = Option<i64>, Query, description = "Page size, 1…10000 (larger values are clamped to 10000); default 100", minimum = 1, maximum = 10000),
        ("offset" = Option<i64>, Query, description = "Features to skip (ordered by id); follow `next` links rather than computing it"),
        ("bbox" = Option<String>, Query, description = "minLon,minLat,maxLon,maxLat in CRS84: features that intersect the box", style = Form, explode = false),
        ("bbox-crs" = Option<String>, Query, description = "CRS of bbox: CRS84 (default) or EPSG:4326 (lat,lon axis order)"),
        ("operator" = Option<String>, Query, description = "Owning operator id (towers, fibre-routes, data-centres)"),
        ("status" = Option<String>, Query, description = "planned, under_construction, operational or retired"),
        ("technology" = Option<String>, Query, description = "Towers with at least one sector of this technology: 2G, 3G, 4G, 5G"),
        ("f" = Option<String>, Query, description = "json (default: a page of GeoJSON), or an export of every matching feature (limit/offset when given) as geojson, csv or gpkg (GeoPackage), with Content-Disposition: attachment"),
    ),
    responses(
        (status = 200, description = "GeoJSON FeatureCollection with numberMatched, numberReturned and next/prev links; an attachment for f=geojson, f=csv or f=gpkg", content_type = "application/geo+json"),
        (status = 400, description = "Malformed parameter", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such collection", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(st): State<AppState>,
    BaseUrl(base): BaseUrl,
    PathParams(cid): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let pairs = parse_pairs(raw.as_deref())?;
    if pairs.iter().any(|(k, v)| k == "f" && v == "gpkg") {
        // GeoPackage export: every matching feature (or `limit` of them).
        let rest: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "f").collect();
        let filter = items_filter(c, &rest)?;
        authorize(&Actor::Anonymous, Action::Read, c, None)?;
        let limited = rest.iter().any(|(k, _)| k == "limit");
        return super::export::gpkg_response(st.pool.clone(), c, filter, limited).await;
    }
    let export = pairs
        .iter()
        .find(|(k, _)| k == "f")
        .and_then(|(_, v)| match v.as_str() {
            "csv" => Some(super::export::ExportFormat::Csv),
            "geojson" => Some(super::export::ExportFormat::Geojson),
            _ => None,
        });
    if let Some(format) = export {
        // Export: every matching feature (or `limit` of them), streamed.
        let rest: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "f").collect();
        let filter = items_filter(c, &rest)?;
        authorize(&Actor::Anonymous, Action::Read, c, None)?;
        let limited = rest.iter().any(|(k, _)| k == "limit");
        return super::export::stream_response(
            st.pool.clone(),
            st.coverage.snapshot(),
            c,
            filter,
            limited,
            format,
        );
    }
    let filter: ItemFilter = items_filter(c, &pairs)?;
    authorize(&Actor::Anonymous, Action::Read, c, None)?;
    let pool = &st.pool;
    // Count and page run concurrently on two connections.
    macro_rules! page {
        ($layer:ident, $feature:expr) => {{
            let (n, rows) = tokio::try_join!(
                db::$layer::count(pool, &filter),
                db::$layer::list(pool, &filter)
            )?;
            rows_to_fc(
                &base,
                c,
                &pairs,
                &filter,
                n,
                rows.iter().map($feature).collect(),
            )?
        }};
    }
    let index = st.coverage.snapshot();
    let body = match c {
        CollectionId::Towers => page!(towers, |t| TowerFeature(t, None, &index)),
        CollectionId::FibreRoutes => page!(fibre_routes, |f| FibreFeature(f, None)),
        CollectionId::DataCentres => page!(data_centres, |d| DataCentreFeature(d, None)),
        CollectionId::Districts => page!(districts, |d| DistrictFeature(d, None)),
    };
    Ok(geojson_headers(json_response(
        StatusCode::OK,
        GEO_JSON,
        body,
    )))
}

fn rows_to_fc<F: serde::Serialize>(
    base: &str,
    c: CollectionId,
    pairs: &[(String, String)],
    filter: &ItemFilter,
    matched: i64,
    features: Vec<F>,
) -> ApiResult<Vec<u8>> {
    let returned = features.len();
    let mut links = vec![
        page_link(base, c, pairs, filter.offset, filter.limit, "self"),
        Link::new(
            format!("{base}/collections/{c}"),
            "collection",
            "application/json",
        )
        .titled(c.title()),
    ];
    if filter.offset + (returned as i64) < matched && returned > 0 {
        links.push(
            page_link(
                base,
                c,
                pairs,
                filter.offset + returned as i64,
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
        features,
        number_matched: matched,
        number_returned: returned,
        time_stamp: now_stamp(),
        links,
    })
}

/// Reads one feature and serialises it (with links when `base` is given).
async fn fetch(
    st: &AppState,
    conn: &mut PgConnection,
    c: CollectionId,
    key: &Key,
    base: Option<&str>,
) -> ApiResult<Option<(Vec<u8>, Option<String>)>> {
    let links: Option<Vec<Link>> = base.map(|b| {
        vec![
            Link::new(
                format!("{b}/collections/{c}/items/{}", key.as_string()),
                "self",
                GEO_JSON,
            ),
            Link::new(
                format!("{b}/collections/{c}"),
                "collection",
                "application/json",
            )
            .titled(c.title()),
        ]
    });
    let l = links.as_deref();
    Ok(match (c, key) {
        (CollectionId::Towers, Key::Id(id)) => match db::towers::get(conn, *id).await? {
            Some(t) => Some((
                to_json(&TowerFeature(&t, l, &st.coverage.snapshot()))?,
                Some(t.operator),
            )),
            None => None,
        },
        (CollectionId::FibreRoutes, Key::Id(id)) => match db::fibre_routes::get(conn, *id).await? {
            Some(f) => Some((to_json(&FibreFeature(&f, l))?, Some(f.operator))),
            None => None,
        },
        (CollectionId::DataCentres, Key::Id(id)) => match db::data_centres::get(conn, *id).await? {
            Some(d) => Some((to_json(&DataCentreFeature(&d, l))?, Some(d.operator))),
            None => None,
        },
        (CollectionId::Districts, Key::Code(code)) => match db::districts::get(conn, code).await? {
            Some(d) => Some((to_json(&DistrictFeature(&d, l))?, None)),
            None => None,
        },
        _ => None,
    })
}

fn not_found(c: CollectionId, key: &Key) -> ApiError {
    ApiError::NotFound(format!(
        "no feature '{}' in collection '{c}'",
        key.as_string()
    ))
}

/// `GET /collections/{collectionId}/items/{featureId}`: one feature.
#[utoipa::path(get, path = "/collections/{collectionId}/items/{featureId}", tag = "Features",
    params(("collectionId" = String, Path, description = "Collection id"), ("featureId" = String, Path, description = "Feature id (district code for districts)")),
    responses(
        (status = 200, description = "GeoJSON Feature", content_type = "application/geo+json"),
        (status = 404, description = "No such feature", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_one(
    State(st): State<AppState>,
    BaseUrl(base): BaseUrl,
    PathParams((cid, fid)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    for (k, v) in parse_pairs(raw.as_deref())? {
        match k.as_str() {
            "f" => check_format(&v)?,
            "crs" if crate::domain::geometry::is_accepted_crs(&v) && !v.contains("EPSG") => {}
            other => {
                return Err(ApiError::param(
                    other,
                    "unknown parameter; a single feature accepts only f and crs",
                ));
            }
        }
    }
    let key = Key::parse(c, &fid)?;
    let mut conn = st.pool.acquire().await.map_err(db::DbError::from)?;
    let (body, owner) = fetch(&st, &mut conn, c, &key, Some(&base))
        .await?
        .ok_or_else(|| not_found(c, &key))?;
    authorize(&Actor::Anonymous, Action::Read, c, owner.as_deref())?;
    Ok(geojson_headers(json_response(
        StatusCode::OK,
        GEO_JSON,
        body,
    )))
}

/// Validates `v` as a feature of collection `c` as create does, without the
/// database checks (operators, uniqueness); the fuzz harness's entry point.
///
/// # Errors
/// 400 for a body that is not a Feature, 422 for an invalid one.
pub fn parse_feature(c: CollectionId, v: &Value) -> ApiResult<()> {
    Input::parse(c, v, None).map(|_| ())
}

/// A validated feature of any collection.
enum Input {
    Tower(NewTower),
    Fibre(NewFibreRoute),
    DataCentre(NewDataCentre),
    District(NewDistrict),
}

impl Input {
    fn parse(c: CollectionId, v: &Value, key: Option<&Key>) -> ApiResult<Input> {
        let parts = feature_parts(v)?;
        if let (Some(key), Some(id)) = (key, parts.id) {
            let given = match id {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if given != key.as_string() {
                return Err(ApiError::Invalid(crate::domain::Invalid::one(
                    "/id",
                    format!(
                        "id {given} does not match the feature in the URL ({})",
                        key.as_string()
                    ),
                )));
            }
        }
        let g = parts.geometry;
        let p = parts.properties.as_ref();
        Ok(match c {
            CollectionId::Towers => Input::Tower(NewTower::from_feature(g, p)?),
            CollectionId::FibreRoutes => Input::Fibre(NewFibreRoute::from_feature(g, p)?),
            CollectionId::DataCentres => Input::DataCentre(NewDataCentre::from_feature(g, p)?),
            CollectionId::Districts => {
                let hint = match (key, parts.id) {
                    (Some(Key::Code(code)), _) => Some(code.clone()),
                    (_, Some(Value::String(s))) => Some(s.clone()),
                    _ => None,
                };
                let d = NewDistrict::from_feature(g, p, hint.as_deref())?;
                if let Some(Key::Code(code)) = key
                    && &d.code != code
                {
                    return Err(ApiError::Invalid(crate::domain::Invalid::one(
                        "/properties/code",
                        format!(
                            "the code cannot change ({code} in the URL); create a new district instead"
                        ),
                    )));
                }
                Input::District(d)
            }
        })
    }

    fn owner(&self) -> Option<&str> {
        match self {
            Input::Tower(t) => Some(&t.operator),
            Input::Fibre(f) => Some(&f.operator),
            Input::DataCentre(d) => Some(&d.operator),
            Input::District(_) => None,
        }
    }

    async fn insert(&self, conn: &mut PgConnection) -> ApiResult<Key> {
        Ok(match self {
            Input::Tower(t) => Key::Id(db::towers::insert(conn, t).await?),
            Input::Fibre(f) => Key::Id(db::fibre_routes::insert(conn, f).await?),
            Input::DataCentre(d) => Key::Id(db::data_centres::insert(conn, d).await?),
            Input::District(d) => Key::Code(db::districts::insert(conn, d).await?),
        })
    }

    async fn replace(&self, conn: &mut PgConnection, key: &Key) -> ApiResult<bool> {
        Ok(match (self, key) {
            (Input::Tower(t), Key::Id(id)) => db::towers::replace(conn, *id, t).await?,
            (Input::Fibre(f), Key::Id(id)) => db::fibre_routes::replace(conn, *id, f).await?,
            (Input::DataCentre(d), Key::Id(id)) => db::data_centres::replace(conn, *id, d).await?,
            (Input::District(d), Key::Code(code)) => db::districts::replace(conn, code, d).await?,
            _ => false,
        })
    }
}

fn feature_response(status: StatusCode, body: Vec<u8>, location: Option<String>) -> Response {
    let mut res = geojson_headers(json_response(status, GEO_JSON, body));
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    res
}

/// Brings the coverage index up to date after a committed write (the
/// NOTIFY listener would too, later; this makes the write visible at once).
async fn refresh_index(st: &AppState, c: CollectionId, key: &Key) {
    let result = match (c, key) {
        (CollectionId::Towers, Key::Id(id)) => st.coverage.refresh_towers(&st.pool, &[*id]).await,
        (CollectionId::FibreRoutes | CollectionId::DataCentres, _) => {
            st.coverage.reload_layers(&st.pool).await
        }
        (CollectionId::Districts, _) => st.coverage.reload(&st.pool).await,
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "coverage index refresh failed; the change listener will retry");
    }
}

/// `POST /collections/{collectionId}/items`: create a feature (201 + Location).
#[utoipa::path(post, path = "/collections/{collectionId}/items", tag = "Features",
    params(("collectionId" = String, Path, description = "Collection id")),
    request_body(content = serde_json::Value, description = "A GeoJSON Feature in CRS84 (lon/lat); see the README for each collection's properties", content_type = "application/geo+json"),
    responses(
        (status = 201, description = "Created; Location names the new feature, the body is the stored feature", content_type = "application/geo+json"),
        (status = 400, description = "Malformed JSON or not a Feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Duplicate site code, external id or district code", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Unsupported Content-Type", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid geometry or properties; `errors` lists each with a JSON Pointer", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(st): State<AppState>,
    BaseUrl(base): BaseUrl,
    PathParams(cid): PathParams<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let body = body_bytes(body)?;
    let value = json_body(&headers, &body, FEATURE_MEDIA)?;
    let input = Input::parse(c, &value, None)?;
    authorize(&Actor::Anonymous, Action::Create, c, input.owner())?;
    let mut tx = st.pool.begin().await.map_err(db::DbError::from)?;
    let key = input.insert(&mut tx).await?;
    let (body, _) = fetch(&st, &mut tx, c, &key, Some(&base))
        .await?
        .ok_or_else(|| ApiError::internal("created feature vanished"))?;
    tx.commit().await.map_err(db::DbError::from)?;
    refresh_index(&st, c, &key).await;
    tracing::info!(collection = %c, id = %key.as_string(), "feature created");
    let location = format!("{base}/collections/{c}/items/{}", key.as_string());
    Ok(feature_response(StatusCode::CREATED, body, Some(location)))
}

async fn write_replace(
    st: &AppState,
    base: &str,
    c: CollectionId,
    key: &Key,
    value: &Value,
) -> ApiResult<Response> {
    let input = Input::parse(c, value, Some(key))?;
    let mut tx = st.pool.begin().await.map_err(db::DbError::from)?;
    let (_, old_owner) = fetch(st, &mut tx, c, key, None)
        .await?
        .ok_or_else(|| not_found(c, key))?;
    authorize(&Actor::Anonymous, Action::Update, c, old_owner.as_deref())?;
    authorize(&Actor::Anonymous, Action::Update, c, input.owner())?;
    if !input.replace(&mut tx, key).await? {
        return Err(not_found(c, key));
    }
    let (body, _) = fetch(st, &mut tx, c, key, Some(base))
        .await?
        .ok_or_else(|| not_found(c, key))?;
    tx.commit().await.map_err(db::DbError::from)?;
    refresh_index(st, c, key).await;
    tracing::info!(collection = %c, id = %key.as_string(), "feature replaced");
    Ok(feature_response(StatusCode::OK, body, None))
}

/// `PUT /collections/{collectionId}/items/{featureId}`: replace a feature.
/// Tower sectors that carry their `id` are kept (updated in place); sectors
/// without one are added; sectors left out are removed.
#[utoipa::path(put, path = "/collections/{collectionId}/items/{featureId}", tag = "Features",
    params(("collectionId" = String, Path, description = "Collection id"), ("featureId" = String, Path, description = "Feature id")),
    request_body(content = serde_json::Value, description = "The complete new GeoJSON Feature", content_type = "application/geo+json"),
    responses(
        (status = 200, description = "Replaced; the body is the stored feature", content_type = "application/geo+json"),
        (status = 404, description = "No such feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid feature", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn replace(
    State(st): State<AppState>,
    BaseUrl(base): BaseUrl,
    PathParams((cid, fid)): PathParams<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let key = Key::parse(c, &fid)?;
    let body = body_bytes(body)?;
    let value = json_body(&headers, &body, FEATURE_MEDIA)?;
    write_replace(&st, &base, c, &key, &value).await
}

/// `PATCH /collections/{collectionId}/items/{featureId}`: update a feature
/// with a JSON merge patch (RFC 7396) of its GeoJSON; arrays such as
/// `sectors` are replaced whole.
#[utoipa::path(patch, path = "/collections/{collectionId}/items/{featureId}", tag = "Features",
    params(("collectionId" = String, Path, description = "Collection id"), ("featureId" = String, Path, description = "Feature id")),
    request_body(content = serde_json::Value, description = "JSON merge patch of the Feature, e.g. {\"properties\": {\"status\": \"retired\"}}", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Updated; the body is the stored feature", content_type = "application/geo+json"),
        (status = 404, description = "No such feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The patched feature is invalid", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch(
    State(st): State<AppState>,
    BaseUrl(base): BaseUrl,
    PathParams((cid, fid)): PathParams<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let key = Key::parse(c, &fid)?;
    let body = body_bytes(body)?;
    let patch = json_body(&headers, &body, PATCH_MEDIA)?;
    if !patch.is_object() {
        return Err(ApiError::body("", "a merge patch must be a JSON object"));
    }
    let mut conn = st.pool.acquire().await.map_err(db::DbError::from)?;
    let (current, _) = fetch(&st, &mut conn, c, &key, None)
        .await?
        .ok_or_else(|| not_found(c, &key))?;
    drop(conn);
    let mut doc: Value = serde_json::from_slice(&current).map_err(ApiError::internal)?;
    merge_patch(&mut doc, &patch);
    write_replace(&st, &base, c, &key, &doc).await
}

/// `DELETE /collections/{collectionId}/items/{featureId}`: delete a feature
/// (a tower with its sectors).
#[utoipa::path(delete, path = "/collections/{collectionId}/items/{featureId}", tag = "Features",
    params(("collectionId" = String, Path, description = "Collection id"), ("featureId" = String, Path, description = "Feature id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such feature", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(st): State<AppState>,
    PathParams((cid, fid)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let key = Key::parse(c, &fid)?;
    let mut tx = st.pool.begin().await.map_err(db::DbError::from)?;
    let (_, owner) = fetch(&st, &mut tx, c, &key, None)
        .await?
        .ok_or_else(|| not_found(c, &key))?;
    authorize(&Actor::Anonymous, Action::Delete, c, owner.as_deref())?;
    let deleted = match (&key, c) {
        (Key::Id(id), CollectionId::Towers) => db::towers::delete(&mut tx, *id).await?,
        (Key::Id(id), CollectionId::FibreRoutes) => db::fibre_routes::delete(&mut tx, *id).await?,
        (Key::Id(id), CollectionId::DataCentres) => db::data_centres::delete(&mut tx, *id).await?,
        (Key::Code(code), CollectionId::Districts) => db::districts::delete(&mut tx, code).await?,
        _ => false,
    };
    if !deleted {
        return Err(not_found(c, &key));
    }
    tx.commit().await.map_err(db::DbError::from)?;
    refresh_index(&st, c, &key).await;
    tracing::info!(collection = %c, id = %key.as_string(), "feature deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
