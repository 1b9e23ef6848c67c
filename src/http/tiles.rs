//! Vector tiles (OGC API – Tiles, `WebMercatorQuad`) with TileJSON 3.0: the
//! HTTP adapter of [`crate::tiles`], which cuts the tiles and versions them.
//! Here: parsing paths and parameters, telling who asks, and building
//! documents and responses.
//!
//! Tilesets: `towers`, `sectors` (wedges of operational sectors, from the
//! coverage index), `fibre-routes`, `data-centres`, `districts`. Tiles are
//! Mapbox Vector Tiles, one layer each, named after the table (`towers`,
//! `sectors`, `fibre_routes`, `data_centres`, `districts`).
//!
//! Freshness: every tile carries an `ETag` derived from its layer's version
//! (migration 0003 moves it forward on every committed change) and
//! `Cache-Control: no-cache`, so clients revalidate and get `304` until the
//! layer changes; TileJSON's tile URL carries `?v=<version>` so a map that
//! re-reads TileJSON after an edit requests new URLs at once.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::access::Actor;
use super::conditional::Conditional;
use super::error::{ApiError, ApiResult};
use super::extract::{BaseUrl, PathParams};
use super::query::Query;
use super::{AppState, json_response};
use crate::db;
use crate::domain::region::CITY_BBOX;
use crate::service::policy::{Action, FibreView, authorize};
use crate::service::render::Link;
use crate::tiles::{
    DATA_MAX_ZOOM, FibreScope, MAX_ZOOM, MERCATOR_HALF_M, Reply, TileCoord, TileError, Tileset,
    Tilesets,
};

/// Media type of Mapbox Vector Tiles.
pub const MVT: &str = "application/vnd.mapbox-vector-tile";
/// The only tile matrix set served.
pub const WEB_MERCATOR_QUAD: &str = "WebMercatorQuad";
const TMS_URI: &str = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad";
const JSON: &str = "application/json";

impl From<TileError> for ApiError {
    fn from(e: TileError) -> Self {
        match e {
            TileError::UnknownTileset(_) | TileError::Address(_) => {
                ApiError::NotFound(e.to_string())
            }
            TileError::Db(e) => e.into(),
            TileError::Cpu(e) => ApiError::internal(e),
        }
    }
}

/// What of the fibre network `actor` may see exactly.
fn fibre_scope(actor: &Actor) -> FibreScope {
    match FibreView::of(actor) {
        FibreView::All => FibreScope::All,
        FibreView::Operator(op) => FibreScope::Operator(op),
        FibreView::Generalised => FibreScope::Public,
    }
}

fn check_tms(tms: &str) -> ApiResult<()> {
    if tms == WEB_MERCATOR_QUAD {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "no tile matrix set '{tms}'; the service tiles in {WEB_MERCATOR_QUAD} only"
        )))
    }
}

/// Accepts only the named query parameters (and `f` with one of `formats`).
fn check_params(raw: Option<&str>, allowed: &[&str], formats: &[&str]) -> ApiResult<()> {
    let mut q = Query::parse(raw)?;
    for name in allowed {
        q.string(name);
    }
    let choices: Vec<(&str, ())> = formats.iter().map(|f| (*f, ())).collect();
    q.format(&choices)?;
    q.finish()
}

fn json_ok(media: &'static str, v: &Value) -> ApiResult<Response> {
    Ok(json_response(
        StatusCode::OK,
        media,
        serde_json::to_vec(v).map_err(ApiError::internal)?,
    ))
}

fn template(base: &str, t: Tileset) -> String {
    format!(
        "{base}/collections/{}/tiles/{WEB_MERCATOR_QUAD}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}",
        t.id()
    )
}

/// `GET /tileMatrixSets`: the tile matrix sets used.
#[utoipa::path(get, path = "/tileMatrixSets", tag = "Tiles", responses((status = 200, description = "The tile matrix sets (WebMercatorQuad only)")))]
pub async fn tile_matrix_sets(
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    check_params(raw.as_deref(), &[], &["json"])?;
    json_ok(
        JSON,
        &json!({
            "tileMatrixSets": [{
                "id": WEB_MERCATOR_QUAD,
                "title": "Google Maps Compatible for the World",
                "uri": TMS_URI,
                "links": [Link::new(format!("{base}/tileMatrixSets/{WEB_MERCATOR_QUAD}"), "self", JSON)]
            }]
        }),
    )
}

/// `GET /tileMatrixSets/WebMercatorQuad`: its definition (OGC 2D Tile Matrix
/// Set 2.0 JSON), zoom 0–24.
#[utoipa::path(get, path = "/tileMatrixSets/{tileMatrixSetId}", tag = "Tiles",
    params(("tileMatrixSetId" = String, Path, description = "WebMercatorQuad")),
    responses((status = 200, description = "The tile matrix set definition"), (status = 404, description = "Unknown tile matrix set", body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn tile_matrix_set(
    PathParams(tms): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    check_tms(&tms)?;
    check_params(raw.as_deref(), &[], &["json"])?;
    // Scale denominator at zoom 0 for 256-pixel tiles of 0.28 mm pixels.
    let scale0 = 559_082_264.028_717_2;
    let cell0 = 156_543.033_928_041;
    let matrices: Vec<Value> = (0..=MAX_ZOOM)
        .map(|z| {
            let n = 1u64 << z;
            let f = n as f64;
            json!({
                "id": z.to_string(),
                "scaleDenominator": scale0 / f,
                "cellSize": cell0 / f,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-MERCATOR_HALF_M, MERCATOR_HALF_M],
                "tileWidth": 256, "tileHeight": 256,
                "matrixWidth": n, "matrixHeight": n
            })
        })
        .collect();
    // The same matrices in the encoding of OGC 17-083r2 (TMS 1.0), which
    // GDAL before 3.8 reads (it recognises `type: TileMatrixSetType`).
    let legacy: Vec<Value> = (0..=MAX_ZOOM)
        .map(|z| {
            let n = 1u64 << z;
            json!({
                "type": "TileMatrixType",
                "identifier": z.to_string(),
                "scaleDenominator": scale0 / n as f64,
                "topLeftCorner": [-MERCATOR_HALF_M, MERCATOR_HALF_M],
                "tileWidth": 256, "tileHeight": 256,
                "matrixWidth": n, "matrixHeight": n
            })
        })
        .collect();
    let crs = "http://www.opengis.net/def/crs/EPSG/0/3857";
    json_ok(
        JSON,
        &json!({
            "id": WEB_MERCATOR_QUAD,
            "title": "Google Maps Compatible for the World",
            "uri": TMS_URI,
            "crs": crs,
            "orderedAxes": ["E", "N"],
            "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
            "tileMatrices": matrices,
            "type": "TileMatrixSetType",
            "identifier": WEB_MERCATOR_QUAD,
            "supportedCRS": crs,
            "boundingBox": {
                "type": "BoundingBoxType",
                "crs": crs,
                "lowerCorner": [-MERCATOR_HALF_M, -MERCATOR_HALF_M],
                "upperCorner": [MERCATOR_HALF_M, MERCATOR_HALF_M]
            },
            "tileMatrix": legacy
        }),
    )
}

/// `GET /collections/{collectionId}/tiles`: the collection's tilesets.
#[utoipa::path(get, path = "/collections/{collectionId}/tiles", tag = "Tiles",
    params(("collectionId" = String, Path, description = "towers, sectors, fibre-routes, data-centres, districts, structures or duct-banks")),
    responses((status = 200, description = "The vector tilesets of the collection"), (status = 404, description = "No such tileset", body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn tilesets(
    BaseUrl(base): BaseUrl,
    PathParams(cid): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let t = Tileset::parse(&cid)?;
    check_params(raw.as_deref(), &[], &["json"])?;
    json_ok(
        JSON,
        &json!({
            "links": [Link::new(format!("{base}/collections/{cid}/tiles"), "self", JSON)],
            "tilesets": [tileset_summary(&base, t)]
        }),
    )
}

fn tileset_summary(base: &str, t: Tileset) -> Value {
    let id = t.id();
    json!({
        "title": format!("{id} (vector tiles, {WEB_MERCATOR_QUAD})"),
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": TMS_URI,
        "links": [
            Link::new(format!("{base}/collections/{id}/tiles/{WEB_MERCATOR_QUAD}"), "self", JSON).titled("Tileset metadata"),
            Link::new(format!("{base}/collections/{id}/tiles/{WEB_MERCATOR_QUAD}"), "http://www.opengis.net/def/rel/ogc/1.0/tileset", JSON).titled("Tileset metadata"),
            Link::new(format!("{base}/tileMatrixSets/{WEB_MERCATOR_QUAD}"), "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", JSON).titled("Tile matrix set"),
            Link::new(format!("{base}/collections/{id}/tiles/{WEB_MERCATOR_QUAD}/tilejson.json"), "describedby", JSON).titled("TileJSON 3.0"),
            Link::new(template(base, t), "item", MVT).titled("Tiles (Mapbox Vector Tile)").templated(),
        ]
    })
}

/// `GET /collections/{collectionId}/tiles/{tileMatrixSetId}`: tileset metadata
/// (OGC API – Tiles).
#[utoipa::path(get, path = "/collections/{collectionId}/tiles/{tileMatrixSetId}", tag = "Tiles",
    params(("collectionId" = String, Path, description = "Tileset id"), ("tileMatrixSetId" = String, Path, description = "WebMercatorQuad")),
    responses((status = 200, description = "Tileset metadata"), (status = 404, description = "No such tileset", body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn tileset(
    BaseUrl(base): BaseUrl,
    PathParams((cid, tms)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let t = Tileset::parse(&cid)?;
    check_tms(&tms)?;
    check_params(raw.as_deref(), &[], &["json"])?;
    let mut doc = tileset_summary(&base, t);
    doc["tileMatrixSetLimits"] = (t.min_zoom()..=DATA_MAX_ZOOM)
        .map(|z| {
            let max = (1u64 << z) - 1;
            json!({"tileMatrix": z.to_string(), "minTileRow": 0, "maxTileRow": max, "minTileCol": 0, "maxTileCol": max})
        })
        .collect::<Vec<_>>()
        .into();
    // OGC API - Tiles: each layer's properties as a JSON Schema (GDAL reads
    // the field types from it).
    let properties: serde_json::Map<String, Value> = t
        .fields()
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .map(|(name, kind)| {
                    let text = kind.as_str().unwrap_or("");
                    let ty = if text.starts_with("Number") {
                        if matches!(
                            name.as_str(),
                            "id" | "tower_id"
                                | "tenant_count"
                                | "sector_count"
                                | "point_count"
                                | "tier"
                                | "racks"
                                | "fibre_count"
                                | "population"
                        ) {
                            "integer"
                        } else {
                            "number"
                        }
                    } else if text.starts_with("Boolean") {
                        "boolean"
                    } else {
                        "string"
                    };
                    (name.clone(), json!({ "type": ty, "description": text }))
                })
                .collect()
        })
        .unwrap_or_default();
    doc["layers"] = json!([{ "id": t.layer(), "dataType": "vector", "propertiesSchema": { "type": "object", "properties": properties } }]);
    json_ok(JSON, &doc)
}

/// `GET /collections/{collectionId}/tiles/{tileMatrixSetId}/tilejson.json`:
/// TileJSON 3.0.0 for MapLibre and QGIS; its tile URL carries the layer's
/// current version (`?v=`).
#[utoipa::path(get, path = "/collections/{collectionId}/tiles/{tileMatrixSetId}/tilejson.json", tag = "Tiles",
    params(("collectionId" = String, Path, description = "Tileset id"), ("tileMatrixSetId" = String, Path, description = "WebMercatorQuad")),
    responses((status = 200, description = "TileJSON 3.0.0"), (status = 404, description = "No such tileset", body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn tilejson(
    State(st): State<AppState>,
    actor: Actor,
    BaseUrl(base): BaseUrl,
    PathParams((cid, tms)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let t = Tileset::parse(&cid)?;
    check_tms(&tms)?;
    check_params(raw.as_deref(), &[], &["json"])?;
    authorize(&actor, Action::Read, t.collection(), None)?;
    let version = Tilesets::new(&st.pool, &st.coverage)
        .version(t)
        .await?
        .token();
    let bounds = db::extent(&st.pool, t.collection())
        .await?
        .unwrap_or(CITY_BBOX);
    let center = [
        (bounds[0] + bounds[2]) / 2.0,
        (bounds[1] + bounds[3]) / 2.0,
        12.0,
    ];
    let mut res = json_ok(
        JSON,
        &json!({
            "tilejson": "3.0.0",
            "name": t.id(),
            "description": format!("telecom-gis {} (Mapbox Vector Tiles, layer '{}')", t.id(), t.layer()),
            "version": "1.0.0",
            "scheme": "xyz",
            "tiles": [format!("{base}/collections/{}/tiles/{WEB_MERCATOR_QUAD}/{{z}}/{{y}}/{{x}}?v={version}", t.id())],
            "minzoom": t.min_zoom(),
            "maxzoom": DATA_MAX_ZOOM,
            "bounds": bounds,
            "center": center,
            "vector_layers": [{
                "id": t.layer(),
                "fields": t.fields(),
                "minzoom": t.min_zoom(),
                "maxzoom": DATA_MAX_ZOOM
            }]
        }),
    )?;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(res)
}

/// True when `Accept-Encoding` lists `gzip` (or `*`) with a weight above 0.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(str::trim))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0
        })
}

/// `GET /styles/default.json`: a MapLibre style (v8) of the whole map over
/// this service's tilesets (TileJSON URLs, so clients follow versions):
/// districts, fibre routes (and the presence cells of routes the viewer
/// may not see exactly), duct banks by free-capacity class from zoom 13
/// (planned ones dashed), structures from zoom 15, data centres, sectors
/// from zoom 13 and towers,
/// sized by `point_count` where a tile is thinned. QGIS (Vector Tiles →
/// style URL), MapLibre and Maputnik read it.
#[utoipa::path(get, path = "/styles/default.json", tag = "Tiles",
    responses((status = 200, description = "MapLibre style JSON (version 8)")))]
pub async fn style(BaseUrl(base): BaseUrl, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    check_params(raw.as_deref(), &[], &["json"])?;
    let source = |t: Tileset| {
        json!({
            "type": "vector",
            "url": format!("{base}/collections/{}/tiles/{WEB_MERCATOR_QUAD}/tilejson.json", t.id())
        })
    };
    let doc = json!({
        "version": 8,
        "name": "telecom-gis",
        "metadata": { "telecom-gis:coordinates": "lon/lat (EPSG:4326) in center; tiles in EPSG:3857" },
        "center": [108.2, 16.05],
        "zoom": 11,
        "sources": {
            "districts": source(Tileset::Districts),
            "fibre-routes": source(Tileset::FibreRoutes),
            "data-centres": source(Tileset::DataCentres),
            "sectors": source(Tileset::Sectors),
            "towers": source(Tileset::Towers),
            "duct-banks": source(Tileset::DuctBanks),
            "structures": source(Tileset::Structures)
        },
        "layers": [
            { "id": "background", "type": "background", "paint": { "background-color": "#f4f1ea" } },
            { "id": "districts-fill", "type": "fill", "source": "districts", "source-layer": "districts",
              "paint": { "fill-color": "#d9e4ec", "fill-opacity": 0.5 } },
            { "id": "districts-line", "type": "line", "source": "districts", "source-layer": "districts",
              "paint": { "line-color": "#5b7083", "line-width": 1.2 } },
            { "id": "fibre-presence", "type": "fill", "source": "fibre-routes", "source-layer": "fibre_presence",
              "paint": { "fill-color": "#8e44ad", "fill-opacity": 0.25 } },
            { "id": "fibre-routes", "type": "line", "source": "fibre-routes", "source-layer": "fibre_routes",
              "paint": { "line-color": ["match", ["get", "placement"], "underground", "#8e44ad", "aerial", "#e67e22", "#2c7fb8"],
                         "line-width": 2 } },
            { "id": "duct-banks", "type": "line", "source": "duct-banks", "source-layer": "duct_banks", "minzoom": 13,
              "filter": ["==", ["get", "status"], "active"],
              "paint": { "line-color": ["match", ["get", "capacity_class"],
                                        "ample", "#1a9850", "low", "#fdae61", "none", "#d73027", "#969696"],
                         "line-width": 3 } },
            { "id": "duct-banks-not-active", "type": "line", "source": "duct-banks", "source-layer": "duct_banks", "minzoom": 13,
              "filter": ["!=", ["get", "status"], "active"],
              "paint": { "line-color": "#969696", "line-width": 2, "line-dasharray": [2, 1] } },
            { "id": "structures", "type": "circle", "source": "structures", "source-layer": "structures", "minzoom": 15,
              "paint": { "circle-color": "#4d4d4d", "circle-radius": 2.5, "circle-stroke-color": "#ffffff", "circle-stroke-width": 0.8 } },
            { "id": "sectors", "type": "fill", "source": "sectors", "source-layer": "sectors", "minzoom": 13,
              "paint": { "fill-color": ["match", ["get", "technology"], "5G", "#c0392b", "4G", "#e67e22", "3G", "#f1c40f", "#95a5a6"],
                         "fill-opacity": 0.18 } },
            { "id": "data-centres", "type": "circle", "source": "data-centres", "source-layer": "data_centres",
              "paint": { "circle-color": "#2c3e50", "circle-radius": 6, "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5 } },
            { "id": "towers", "type": "circle", "source": "towers", "source-layer": "towers",
              "paint": { "circle-color": ["case", ["get", "shared"], "#27ae60", "#c0392b"],
                         "circle-radius": ["interpolate", ["linear"], ["get", "point_count"], 1, 3, 50, 9],
                         "circle-stroke-color": "#ffffff", "circle-stroke-width": 0.8 } }
        ]
    });
    json_ok(JSON, &doc)
}

pub(super) fn parse_index(name: &str, value: &str) -> ApiResult<u32> {
    value.parse::<u32>().map_err(|_| ApiError::BadRequest {
        detail: format!("tile {name} '{value}' is not a non-negative integer"),
        errors: vec![],
    })
}

/// `GET /collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}`:
/// one Mapbox Vector Tile (z/y/x). `204 No Content` when no feature meets the
/// tile; `304` when `If-None-Match` holds the current ETag.
#[utoipa::path(get, path = "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}", tag = "Tiles",
    params(
        ("collectionId" = String, Path, description = "towers, sectors, fibre-routes, data-centres, districts, structures or duct-banks"),
        ("tileMatrixSetId" = String, Path, description = "WebMercatorQuad"),
        ("tileMatrix" = u32, Path, description = "Zoom level, 0–24"),
        ("tileRow" = u32, Path, description = "Row (y), 0 at the north"),
        ("tileCol" = u32, Path, description = "Column (x), 0 at the antimeridian"),
        ("v" = Option<String>, Query, description = "Layer version from TileJSON (cache key only)")),
    responses(
        (status = 200, description = "The tile", content_type = "application/vnd.mapbox-vector-tile"),
        (status = 204, description = "No feature in this tile"),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 404, description = "No such tileset or tile", body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn tile(
    State(st): State<AppState>,
    actor: Actor,
    PathParams((cid, tms, z, y, x)): PathParams<(String, String, String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let t = Tileset::parse(&cid)?;
    check_tms(&tms)?;
    let coord = TileCoord::new(
        parse_index("matrix (zoom)", &z)?,
        parse_index("column", &x)?,
        parse_index("row", &y)?,
    )
    .map_err(|e| ApiError::NotFound(e.to_string()))?;
    check_params(raw.as_deref(), &["v"], &["mvt"])?;
    authorize(&actor, Action::Read, t.collection(), None)?;
    let conditional = Conditional::from_headers(&headers);
    let cached = |etag: &str| conditional.if_none_match_hits(etag);
    let reply = Tilesets::new(&st.pool, &st.coverage)
        .with_duct_policy(st.ducts.policy)
        .reply(
            t,
            coord,
            &fibre_scope(&actor),
            conditional.has_if_none_match().then_some(&cached),
        )
        .await?;
    Ok(tile_response(reply, accepts_gzip(&headers)))
}

/// The response to a tile request: `304`, `204` (no feature) or `200` with
/// the tile, each with its ETag, `Cache-Control: no-cache` (revalidate every
/// time) and `Vary` (`Authorization` too when the content depends on who
/// asks).
fn tile_response(reply: Reply, gzip: bool) -> Response {
    let (status, etag, body, per_viewer) = match reply {
        Reply::NotModified { etag, per_viewer } => {
            (StatusCode::NOT_MODIFIED, etag, None, per_viewer)
        }
        Reply::Tile {
            etag,
            tile,
            per_viewer,
        } => {
            if tile.mvt.is_empty() {
                (StatusCode::NO_CONTENT, etag, None, per_viewer)
            } else {
                (StatusCode::OK, etag, Some(tile), per_viewer)
            }
        }
    };
    let mut res = match body {
        Some(tile) => {
            // Gzip made once per cached tile; the compression layer leaves
            // a response that has a Content-Encoding alone.
            let mut r = if gzip {
                let mut r = Response::new(Body::from(tile.gzip().clone()));
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            } else {
                Response::new(Body::from(tile.mvt.clone()))
            };
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(MVT));
            r
        }
        None => Response::new(Body::empty()),
    };
    *res.status_mut() = status;
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::VARY,
        HeaderValue::from_static(if per_viewer {
            "Accept-Encoding, Authorization"
        } else {
            "Accept-Encoding"
        }),
    );
    res
}
