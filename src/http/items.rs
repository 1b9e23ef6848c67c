//! `/collections/{collectionId}/items`: list, read, create, replace, patch
//! and delete features (OGC API – Features Parts 1 and 4).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use super::access::{
    Action, Actor, authorize, authorize_tower, authorize_tower_stake, request_id, sees_all_fibre,
    sees_exact_fibre, sign_in_required,
};
use super::error::{ApiError, ApiResult};
use super::extract::{BaseUrl, PathParams, body_bytes, feature_parts, json_body, merge_patch};
use super::features::{
    DataCentreFeature, DistrictFeature, FeatureCollection, FibreFeature, GeneralisedFibreFeature,
    Link, TowerFeature, now_stamp,
};
use super::params::{check_format, items_filter, parse_pairs};
use super::record::{Key, Record, etag_of};
use super::{AppState, GEO_JSON, json_response};
use crate::db::history::{Change, Op};
use crate::db::trash::FeatureKey;
use crate::db::{self, ItemFilter};
use crate::domain::CollectionId;
use crate::domain::account::Account;
use crate::domain::data_centre::NewDataCentre;
use crate::domain::district::NewDistrict;
use crate::domain::fibre::{FibreRoute, NewFibreRoute};
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

    fn db(&self) -> FeatureKey<'_> {
        match self {
            Key::Id(i) => FeatureKey::Id(*i),
            Key::Code(c) => FeatureKey::Code(c),
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
        ("as_of" = Option<String>, Query, description = "RFC 3339 time: the features as they were then (from the audit history)"),
        ("f" = Option<String>, Query, description = "json (default: a page of GeoJSON), or an export of every matching feature (limit/offset when given) as geojson, csv or gpkg (GeoPackage), with Content-Disposition: attachment"),
    ),
    responses(
        (status = 200, description = "GeoJSON FeatureCollection with numberMatched, numberReturned and next/prev links; an attachment for f=geojson, f=csv or f=gpkg", content_type = "application/geo+json"),
        (status = 400, description = "Malformed parameter", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such collection", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams(cid): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let mut pairs = parse_pairs(raw.as_deref())?;
    let as_of = take_as_of(&mut pairs)?;
    authorize(&actor, Action::Read, c, None)?;
    let format = pairs.iter().find(|(k, _)| k == "f").map(|(_, v)| v.clone());
    if let Some(format) = format
        .as_deref()
        .filter(|f| matches!(*f, "gpkg" | "csv" | "geojson"))
    {
        if as_of.is_some() {
            return Err(ApiError::param(
                "as_of",
                "exports are of the current network; use f=json with as_of",
            ));
        }
        // An export: every matching feature (or `limit` of them).
        let rest: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "f").collect();
        let filter = items_filter(c, &rest)?;
        let limited = rest.iter().any(|(k, _)| k == "limit");
        let view = super::access::FibreView::of(&actor);
        if c == CollectionId::FibreRoutes && format != "geojson" {
            // CSV and GeoPackage carry exact routes only: the viewer must
            // see every route the export holds.
            super::access::authorize_exact_fibre_export(&actor, &view, &filter)?;
        }
        let mut res = match format {
            "gpkg" => super::export::gpkg_response(st.pool.clone(), c, filter, limited).await?,
            fmt => super::export::stream_response(
                st.pool.clone(),
                st.coverage.snapshot(),
                c,
                filter,
                limited,
                if fmt == "csv" {
                    super::export::ExportFormat::Csv
                } else {
                    super::export::ExportFormat::Geojson
                },
                view,
            )?,
        };
        vary_authorization(&mut res, c);
        return Ok(res);
    }
    let filter: ItemFilter = items_filter(c, &pairs)?;
    let body = if let Some(at) = as_of {
        let docs = documents_as_of(&st, &actor, c, at).await?;
        page_of_documents(&base, c, &pairs, &filter, docs)?
    } else if c == CollectionId::FibreRoutes && !sees_all_fibre(&actor) {
        // Generalised routes are filtered by what the viewer sees (their
        // cells), so a bbox cannot be used to trace an exact route.
        let docs = fibre_documents(&st, &actor, &filter).await?;
        page_of_documents(&base, c, &pairs, &filter, docs)?
    } else {
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
        match c {
            CollectionId::Towers => page!(towers, |t| TowerFeature(t, None, &index)),
            CollectionId::FibreRoutes => page!(fibre_routes, |f| FibreFeature(f, None)),
            CollectionId::DataCentres => page!(data_centres, |d| DataCentreFeature(d, None)),
            CollectionId::Districts => page!(districts, |d| DistrictFeature(d, None)),
        }
    };
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

/// Removes `as_of` from the query and parses it (RFC 3339).
fn take_as_of(pairs: &mut Vec<(String, String)>) -> ApiResult<Option<DateTime<Utc>>> {
    let mut found = None;
    let mut rest = Vec::with_capacity(pairs.len());
    for (k, v) in pairs.drain(..) {
        if k != "as_of" {
            rest.push((k, v));
            continue;
        }
        if found.is_some() {
            return Err(ApiError::param("as_of", "given more than once"));
        }
        let t = DateTime::parse_from_rfc3339(v.trim()).map_err(|e| {
            ApiError::param(
                "as_of",
                format!("'{v}' is not an RFC 3339 time ({e}); e.g. 2026-11-27T10:00:00Z"),
            )
        })?;
        found = Some(t.with_timezone(&Utc));
    }
    *pairs = rest;
    Ok(found)
}

/// A feature document and its sort key (numeric id, else code).
type Doc = (i64, String, Value);

fn sort_key(id: &str) -> i64 {
    id.parse().unwrap_or(i64::MAX)
}

/// Every feature of `c` at instant `at`, as the viewer may see it.
async fn documents_as_of(
    st: &AppState,
    actor: &Actor,
    c: CollectionId,
    at: DateTime<Utc>,
) -> ApiResult<Vec<Doc>> {
    let mut conn = st.pool.acquire().await.map_err(db::DbError::from)?;
    let mut docs: Vec<Doc> = db::history::documents_at(&mut conn, c, at, None)
        .await?
        .into_iter()
        .map(|(id, doc)| (sort_key(&id), id, doc))
        .collect();
    let unaudited = db::history::unaudited_ids(&mut conn, c, at).await?;
    let records = if c == CollectionId::Districts {
        let mut out = Vec::with_capacity(unaudited.len());
        for code in unaudited {
            out.extend(Record::load(&mut conn, c, &Key::Code(code)).await?);
        }
        out
    } else {
        let ids: Vec<i64> = unaudited.iter().filter_map(|id| id.parse().ok()).collect();
        Record::load_many(&mut conn, c, &ids).await?
    };
    for rec in records {
        let id = rec.id();
        docs.push((sort_key(&id), id, rec.document(st)?));
    }
    if c == CollectionId::FibreRoutes && !sees_all_fibre(actor) {
        for (_, _, doc) in &mut docs {
            generalise_document(actor, doc)?;
        }
    }
    docs.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(docs)
}

/// Fibre routes matching `filter` (bbox widened by a cell), each exact or
/// generalised as `actor` may see it, unpaged.
async fn fibre_documents(st: &AppState, actor: &Actor, filter: &ItemFilter) -> ApiResult<Vec<Doc>> {
    const PAD_DEG: f64 = 0.02;
    let wide = ItemFilter {
        bbox: filter.bbox.map(|b| db::Bbox {
            min_lon: b.min_lon - PAD_DEG,
            min_lat: b.min_lat - PAD_DEG,
            max_lon: b.max_lon + PAD_DEG,
            max_lat: b.max_lat + PAD_DEG,
        }),
        properties: filter.properties.clone(),
        limit: i64::MAX,
        offset: 0,
    };
    let rows = db::fibre_routes::list(&st.pool, &wide).await?;
    rows.iter()
        .map(|f| {
            let doc = if sees_exact_fibre(actor, &f.operator) {
                serde_json::to_value(FibreFeature(f, None))
            } else {
                serde_json::to_value(GeneralisedFibreFeature(f, None))
            }
            .map_err(ApiError::internal)?;
            Ok((f.id, f.id.to_string(), doc))
        })
        .collect()
}

/// Replaces a fibre route's document by its generalised form unless
/// `actor` may see the route exactly.
fn generalise_document(actor: &Actor, doc: &mut Value) -> ApiResult<()> {
    let owner = doc["properties"]["operator"].as_str().unwrap_or_default();
    if !sees_exact_fibre(actor, owner)
        && let Some(f) = fibre_from_document(doc)
    {
        *doc =
            serde_json::to_value(GeneralisedFibreFeature(&f, None)).map_err(ApiError::internal)?;
    }
    Ok(())
}

/// A fibre route rebuilt from its stored GeoJSON (for generalising history).
fn fibre_from_document(doc: &Value) -> Option<FibreRoute> {
    let p = &doc["properties"];
    let s = |k: &str| p[k].as_str().map(str::to_owned);
    let t = |k: &str| {
        p[k].as_str()
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .map(|v| v.with_timezone(&Utc))
    };
    let geometry: geojson::Geometry = serde_json::from_value(doc["geometry"].clone()).ok()?;
    Some(FibreRoute {
        id: doc["id"].as_i64()?,
        operator: s("operator")?,
        name: s("name"),
        placement: s("placement")?,
        fibre_count: p["fibre_count"].as_i64().unwrap_or(0) as i32,
        capacity_gbps: p["capacity_gbps"].as_f64(),
        status: s("status")?,
        external_id: s("external_id"),
        synthetic: p["synthetic"].as_bool().unwrap_or(false),
        length_m: p["length_m"].as_f64().unwrap_or(0.0),
        geometry: geo::Geometry::try_from(geometry).ok()?,
        created_at: t("created_at")?,
        updated_at: t("updated_at")?,
    })
}

/// True when a feature document passes the bbox and property filters.
fn document_matches(doc: &Value, filter: &ItemFilter) -> bool {
    use geo::Intersects;
    if let Some(b) = filter.bbox {
        let rect = geo::Rect::new(
            geo::coord! { x: b.min_lon, y: b.min_lat },
            geo::coord! { x: b.max_lon, y: b.max_lat },
        );
        let hit = serde_json::from_value::<geojson::Geometry>(doc["geometry"].clone())
            .ok()
            .and_then(|g| geo::Geometry::<f64>::try_from(g).ok())
            .is_some_and(|g| g.intersects(&rect));
        if !hit {
            return false;
        }
    }
    let p = &doc["properties"];
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    filter
        .properties
        .iter()
        .all(|(name, value)| match name.as_str() {
            "tenant" => p["tenants"]
                .as_array()
                .is_some_and(|a| a.iter().any(|t| t.as_str() == Some(value))),
            "technology" => p["sectors"]
                .as_array()
                .is_some_and(|a| a.iter().any(|s| s["technology"].as_str() == Some(value))),
            other => text(&p[other]).as_deref() == Some(value.as_str()),
        })
}

/// Filters, counts and pages documents into a FeatureCollection.
fn page_of_documents(
    base: &str,
    c: CollectionId,
    pairs: &[(String, String)],
    filter: &ItemFilter,
    docs: Vec<Doc>,
) -> ApiResult<Vec<u8>> {
    let matched: Vec<Value> = docs
        .into_iter()
        .filter(|(_, _, d)| document_matches(d, filter))
        .map(|(_, _, d)| d)
        .collect();
    let n = matched.len() as i64;
    let page: Vec<Value> = matched
        .into_iter()
        .skip(usize::try_from(filter.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(filter.limit).unwrap_or(usize::MAX))
        .collect();
    rows_to_fc(base, c, pairs, filter, n, page)
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

/// Checks `If-Match` against the current ETag: 428 without it, 412 when it
/// names another version.
fn check_if_match(headers: &HeaderMap, current: &str) -> ApiResult<()> {
    let values: Vec<&str> = headers
        .get_all(header::IF_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        return Err(ApiError::PreconditionRequired(
            "send If-Match with the feature's ETag (from GET) so that changes made meanwhile \
             are not overwritten"
                .into(),
        ));
    }
    // Strong comparison (RFC 9110 §13.1.1): weak tags never match.
    if values.iter().any(|v| *v == "*" || *v == current) {
        return Ok(());
    }
    Err(ApiError::PreconditionFailed {
        detail: format!(
            "the feature has changed since it was read (its ETag is now {current}); GET it \
             again and reapply the change"
        ),
        current_etag: Some(current.to_owned()),
    })
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

/// 404 for a feature that is not live, saying when it was deleted if it was.
async fn not_live(conn: &mut PgConnection, c: CollectionId, key: &Key) -> ApiError {
    let id = key.as_string();
    match db::history::last(conn, c, &id).await {
        Ok(Some(e)) if e.op == "delete" => ApiError::NotFound(format!(
            "feature '{id}' of collection '{c}' was deleted at {} by {}; an administrator may \
             restore it (POST .../items/{id}/restore)",
            stamp(&e.at),
            e.actor
        )),
        _ => not_found(c, key),
    }
}

fn not_found(c: CollectionId, key: &Key) -> ApiError {
    ApiError::NotFound(format!(
        "no feature '{}' in collection '{c}'",
        key.as_string()
    ))
}

fn stamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn with_etag(mut res: Response, etag: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
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
        (status = 404, description = "No such feature", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_one(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams((cid, fid)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let mut pairs = parse_pairs(raw.as_deref())?;
    let as_of = take_as_of(&mut pairs)?;
    for (k, v) in pairs {
        match k.as_str() {
            "f" => check_format(&v)?,
            "crs" if crate::domain::geometry::is_accepted_crs(&v) && !v.contains("EPSG") => {}
            other => {
                return Err(ApiError::param(
                    other,
                    "unknown parameter; a single feature accepts only f, crs and as_of",
                ));
            }
        }
    }
    let key = Key::parse(c, &fid)?;
    authorize(&actor, Action::Read, c, None)?;
    let links = links_of(&base, c, &key);
    let mut conn = st.pool.acquire().await.map_err(db::DbError::from)?;
    if let Some(at) = as_of {
        let id = key.as_string();
        let mut doc =
            match db::history::documents_at(&mut conn, c, at, Some(std::slice::from_ref(&id)))
                .await?
                .pop()
            {
                Some((_, doc)) => Some(doc),
                None if db::history::last(&mut conn, c, &id).await?.is_none() => {
                    match Record::load(&mut conn, c, &key).await? {
                        Some(rec) if rec_created_at(&rec) <= at => Some(rec.document(&st)?),
                        _ => None,
                    }
                }
                None => None,
            }
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "feature '{id}' of collection '{c}' did not exist at {}",
                    stamp(&at)
                ))
            })?;
        if c == CollectionId::FibreRoutes {
            generalise_document(&actor, &mut doc)?;
        }
        doc["links"] = serde_json::to_value(&links).map_err(ApiError::internal)?;
        let mut res = geojson_headers(json_response(StatusCode::OK, GEO_JSON, to_json(&doc)?));
        vary_authorization(&mut res, c);
        return Ok(res);
    }
    let rec = match Record::load(&mut conn, c, &key).await? {
        Some(rec) => rec,
        None => return Err(not_live(&mut conn, c, &key).await),
    };
    let etag = etag_of(&rec.serialise(&st, Some(&actor), None)?);
    let body = rec.serialise(&st, Some(&actor), Some(&links))?;
    let mut res = with_etag(
        geojson_headers(json_response(StatusCode::OK, GEO_JSON, body)),
        &etag,
    );
    vary_authorization(&mut res, c);
    Ok(res)
}

fn rec_created_at(rec: &Record) -> DateTime<Utc> {
    match rec {
        Record::Tower(t) => t.created_at,
        Record::Fibre(f) => f.created_at,
        Record::DataCentre(d) => d.created_at,
        Record::District(d) => d.created_at,
    }
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

    /// The permission check for writing `self` over `before` (None: create).
    fn authorize(&self, actor: &Actor, before: Option<&Record>, c: CollectionId) -> ApiResult<()> {
        let action = if before.is_some() {
            Action::Update
        } else {
            Action::Create
        };
        match (self, before) {
            (Input::Tower(new), Some(Record::Tower(old))) => {
                authorize_tower(actor, action, Some(old), Some(new))
            }
            (Input::Tower(new), None) => authorize_tower(actor, action, None, Some(new)),
            (_, before) => {
                if let Some(old) = before {
                    authorize(actor, action, c, old.owner())?;
                }
                authorize(actor, action, c, self.owner())
            }
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

/// The signed-in account, or 401 for an anonymous write.
fn account<'a>(actor: &'a Actor, what: &str) -> ApiResult<&'a Account> {
    match actor {
        Actor::Account(a) => Ok(a),
        Actor::Anonymous => Err(sign_in_required(what)),
    }
}

/// A write's response: the stored feature with links and its ETag.
fn written(
    st: &AppState,
    status: StatusCode,
    rec: &Record,
    links: &[Link],
    location: Option<String>,
) -> ApiResult<Response> {
    let etag = etag_of(&rec.serialise(st, None, None)?);
    let body = rec.serialise(st, None, Some(links))?;
    let mut res = with_etag(
        geojson_headers(json_response(status, GEO_JSON, body)),
        &etag,
    );
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// Who writes, in which request: records each change in the audit history
/// in the write's transaction, commits, and brings the index up to date.
struct Writer<'a> {
    st: &'a AppState,
    collection: CollectionId,
    who: &'a Account,
    request_id: Option<String>,
}

impl<'a> Writer<'a> {
    fn new(st: &'a AppState, c: CollectionId, who: &'a Account, headers: &HeaderMap) -> Self {
        Writer {
            st,
            collection: c,
            who,
            request_id: request_id(headers),
        }
    }

    /// Records the change of `key` from `before` to `after`, commits `tx`,
    /// and refreshes the coverage index.
    async fn commit(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        key: &Key,
        op: Op,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> ApiResult<()> {
        let c = self.collection;
        let id = key.as_string();
        let change = Change {
            collection: c,
            feature_id: &id,
            op,
            actor: self.who,
            request_id: self.request_id.as_deref(),
            before,
            after,
        };
        db::history::record(&mut tx, &change).await?;
        tx.commit().await.map_err(db::DbError::from)?;
        refresh_index(self.st, c, key).await;
        tracing::info!(collection = %c, %id, actor = self.who.name, op = op.as_str(), "feature written");
        Ok(())
    }
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
        (status = 201, description = "Created; Location names the new feature, the body is the stored feature, ETag its version", content_type = "application/geo+json"),
        (status = 400, description = "Malformed JSON or not a Feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API token", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not create this feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Duplicate site code, external id or district code", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Unsupported Content-Type", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid geometry or properties; `errors` lists each with a JSON Pointer", body = super::error::Problem, content_type = "application/problem+json"),
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
    let who = account(&actor, &format!("creating a feature of {c}"))?;
    authorize(&actor, Action::Create, c, actor.carrier_operator())?;
    let body = body_bytes(body)?;
    let value = json_body(&headers, &body, FEATURE_MEDIA)?;
    let input = Input::parse(c, &value, None)?;
    input.authorize(&actor, None, c)?;
    let mut tx = st.pool.begin().await.map_err(db::DbError::from)?;
    let key = input.insert(&mut tx).await?;
    let rec = Record::load(&mut tx, c, &key)
        .await?
        .ok_or_else(|| ApiError::internal("created feature vanished"))?;
    let after = rec.document(&st)?;
    Writer::new(&st, c, who, &headers)
        .commit(tx, &key, Op::Create, None, Some(&after))
        .await?;
    let location = format!("{base}/collections/{c}/items/{}", key.as_string());
    written(
        &st,
        StatusCode::CREATED,
        &rec,
        &links_of(&base, c, &key),
        Some(location),
    )
}

/// What a replace or patch sends: a whole feature, or a merge patch of it.
enum Update {
    Replace(Value),
    MergePatch(Value),
}

/// Replace or patch inside one transaction: lock, check permission and
/// `If-Match`, write, record history.
async fn write_update(
    st: &AppState,
    actor: &Actor,
    headers: &HeaderMap,
    base: &str,
    c: CollectionId,
    key: &Key,
    update: Update,
) -> ApiResult<Response> {
    let who = account(actor, &format!("changing a feature of {c}"))?;
    let mut tx = st.pool.begin().await.map_err(db::DbError::from)?;
    if !db::trash::lock(&mut tx, c, key.db()).await? {
        return Err(not_live(&mut tx, c, key).await);
    }
    let old = Record::load(&mut tx, c, key)
        .await?
        .ok_or_else(|| not_found(c, key))?;
    match &old {
        Record::Tower(t) => authorize_tower_stake(actor, Action::Update, t)?,
        other => authorize(actor, Action::Update, c, other.owner())?,
    }
    let before_bytes = old.serialise(st, None, None)?;
    check_if_match(headers, &etag_of(&before_bytes))?;
    let before: Value = serde_json::from_slice(&before_bytes).map_err(ApiError::internal)?;
    let doc = match update {
        Update::Replace(v) => v,
        Update::MergePatch(patch) => {
            let mut doc = before.clone();
            merge_patch(&mut doc, &patch);
            doc
        }
    };
    let input = Input::parse(c, &doc, Some(key))?;
    input.authorize(actor, Some(&old), c)?;
    if !input.replace(&mut tx, key).await? {
        return Err(not_found(c, key));
    }
    let rec = Record::load(&mut tx, c, key)
        .await?
        .ok_or_else(|| not_found(c, key))?;
    let after = rec.document(st)?;
    Writer::new(st, c, who, headers)
        .commit(tx, key, Op::Update, Some(&before), Some(&after))
        .await?;
    written(st, StatusCode::OK, &rec, &links_of(base, c, key), None)
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
        (status = 401, description = "No or bad API token", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not change this feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names an older version", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = super::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn replace(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams((cid, fid)): PathParams<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let key = Key::parse(c, &fid)?;
    account(&actor, &format!("changing a feature of {c}"))?;
    let body = body_bytes(body)?;
    let value = json_body(&headers, &body, FEATURE_MEDIA)?;
    write_update(
        &st,
        &actor,
        &headers,
        &base,
        c,
        &key,
        Update::Replace(value),
    )
    .await
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
        (status = 401, description = "No or bad API token", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not change this feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names an older version", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The patched feature is invalid", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = super::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn patch(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams((cid, fid)): PathParams<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let key = Key::parse(c, &fid)?;
    account(&actor, &format!("changing a feature of {c}"))?;
    let body = body_bytes(body)?;
    let patch = json_body(&headers, &body, PATCH_MEDIA)?;
    if !patch.is_object() {
        return Err(ApiError::body("", "a merge patch must be a JSON object"));
    }
    write_update(
        &st,
        &actor,
        &headers,
        &base,
        c,
        &key,
        Update::MergePatch(patch),
    )
    .await
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
        (status = 401, description = "No or bad API token", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not delete this feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names an older version", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = super::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(st): State<AppState>,
    actor: Actor,
    PathParams((cid, fid)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let key = Key::parse(c, &fid)?;
    let who = account(&actor, &format!("deleting a feature of {c}"))?;
    let mut tx = st.pool.begin().await.map_err(db::DbError::from)?;
    if !db::trash::lock(&mut tx, c, key.db()).await? {
        return Err(not_live(&mut tx, c, &key).await);
    }
    let old = Record::load(&mut tx, c, &key)
        .await?
        .ok_or_else(|| not_found(c, &key))?;
    match &old {
        Record::Tower(t) => authorize_tower(&actor, Action::Delete, Some(t), None)?,
        other => authorize(&actor, Action::Delete, c, other.owner())?,
    }
    let before_bytes = old.serialise(&st, None, None)?;
    check_if_match(&headers, &etag_of(&before_bytes))?;
    let before: Value = serde_json::from_slice(&before_bytes).map_err(ApiError::internal)?;
    if !db::trash::soft_delete(&mut tx, c, key.db()).await? {
        return Err(not_found(c, &key));
    }
    Writer::new(&st, c, who, &headers)
        .commit(tx, &key, Op::Delete, Some(&before), None)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /collections/{collectionId}/items/{featureId}/restore`: bring a
/// deleted feature back exactly as it was (administrators only).
#[utoipa::path(post, path = "/collections/{collectionId}/items/{featureId}/restore", tag = "Features",
    params(("collectionId" = String, Path, description = "Collection id"), ("featureId" = String, Path, description = "Feature id")),
    responses(
        (status = 200, description = "Restored; the body is the feature, identical to before its deletion", content_type = "application/geo+json"),
        (status = 401, description = "No or bad API token", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deleted feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The feature is not deleted, or a live feature now holds its site code, external id or code", body = super::error::Problem, content_type = "application/problem+json"),
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
    let key = Key::parse(c, &fid)?;
    let who = account(&actor, "restoring a feature")?;
    authorize(&actor, Action::Restore, c, None)?;
    let mut tx = st.pool.begin().await.map_err(db::DbError::from)?;
    if db::trash::lock(&mut tx, c, key.db()).await? {
        return Err(ApiError::Conflict {
            pointer: String::new(),
            detail: format!(
                "feature '{}' of collection '{c}' is not deleted",
                key.as_string()
            ),
        });
    }
    if !db::trash::restore(&mut tx, c, key.db()).await? {
        return Err(not_found(c, &key));
    }
    let rec = Record::load(&mut tx, c, &key)
        .await?
        .ok_or_else(|| ApiError::internal("restored feature vanished"))?;
    let after = rec.document(&st)?;
    Writer::new(&st, c, who, &headers)
        .commit(tx, &key, Op::Restore, None, Some(&after))
        .await?;
    written(&st, StatusCode::OK, &rec, &links_of(&base, c, &key), None)
}

/// One history entry as served.
fn entry_json(e: &db::history::Entry) -> Value {
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
        (status = 401, description = "No or bad API token", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "A carrier reading another operator's feature", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such feature, now or ever", body = super::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn history(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams((cid, fid)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    let c = collection(&cid)?;
    let key = Key::parse(c, &fid)?;
    if actor == Actor::Anonymous {
        return Err(sign_in_required("the audit history"));
    }
    let id = key.as_string();
    let entries = db::history::of_feature(&st.pool, c, &id).await?;
    let mut conn = st.pool.acquire().await.map_err(db::DbError::from)?;
    let live = Record::load(&mut conn, c, &key).await?;
    let (owner, involved) = match (&live, entries.last()) {
        (Some(rec), _) => (rec.owner().map(str::to_owned), rec.involved()),
        (None, Some(e)) => {
            let doc = e.after.as_ref().or(e.before.as_ref());
            let owner = doc.and_then(|d| d["properties"]["operator"].as_str().map(str::to_owned));
            (owner, e.operators.clone())
        }
        (None, None) => return Err(not_found(c, &key)),
    };
    super::access::authorize_history(&actor, c, owner.as_deref(), &involved)?;
    let body = serde_json::json!({
        "collection": c.as_str(),
        "featureId": id,
        "deleted": live.is_none(),
        "entries": entries.iter().map(entry_json).collect::<Vec<_>>(),
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
        (status = 400, description = "Malformed parameter", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad API token", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "A carrier asking for another operator's changes", body = super::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn changes(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    if actor == Actor::Anonymous {
        return Err(sign_in_required("the change feed"));
    }
    let pairs = parse_pairs(raw.as_deref())?;
    let mut f = db::history::FeedFilter {
        limit: 100,
        ..Default::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in &pairs {
        if seen.contains(&k.as_str()) {
            return Err(ApiError::param(k, "given more than once"));
        }
        seen.push(k);
        match k.as_str() {
            "since" => {
                let t = DateTime::parse_from_rfc3339(v.trim()).map_err(|e| {
                    ApiError::param(
                        "since",
                        format!("'{v}' is not an RFC 3339 time ({e}); e.g. 2026-11-27T10:00:00Z"),
                    )
                })?;
                f.since = Some(t.with_timezone(&Utc));
            }
            "operator" => {
                if !crate::domain::operator::is_valid_slug(v) {
                    return Err(ApiError::param(
                        "operator",
                        "not an operator id (GET /operators)",
                    ));
                }
                f.operator = Some(v.clone());
            }
            "collection" => {
                f.collection = Some(collection(v).map_err(|_| {
                    ApiError::param(
                        "collection",
                        "one of towers, fibre-routes, data-centres, districts",
                    )
                })?)
            }
            "after" => {
                f.after_id =
                    Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                        ApiError::param("after", "must be a non-negative entry id")
                    })?);
            }
            "limit" => {
                f.limit = v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| ApiError::param("limit", "must be an integer 1…1000"))?;
            }
            "f" => check_format(v)?,
            other => {
                return Err(ApiError::param(
                    other,
                    "unknown parameter; /changes accepts since, operator, collection, after, limit",
                ));
            }
        }
    }
    if let Some(mine) = actor.carrier_operator() {
        match f.operator.as_deref() {
            None => f.operator = Some(mine.to_owned()),
            Some(o) if o == mine => {}
            Some(o) => {
                return Err(ApiError::Forbidden(format!(
                    "the token '{}' acts for {mine}: it may not read the changes of {o}",
                    actor.name()
                )));
            }
        }
    }
    let entries = db::history::feed(&st.pool, &f).await?;
    let mut links = vec![Link::new(
        format!(
            "{base}/changes{}",
            raw.as_deref().map(|q| format!("?{q}")).unwrap_or_default()
        ),
        "self",
        "application/json",
    )];
    if let Some(last) = entries.last().filter(|_| entries.len() as i64 == f.limit) {
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
