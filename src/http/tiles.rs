//! Vector tiles (OGC API – Tiles, `WebMercatorQuad`) with TileJSON 3.0.
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

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::access::Actor;
use super::error::{ApiError, ApiResult};
use super::extract::{BaseUrl, PathParams};
use super::params::parse_pairs;
use super::{AppState, json_response};
use crate::db;
use crate::db::tiles::TileTable;
use crate::domain::CollectionId;
use crate::service::policy::{Action, FibreView, authorize};
use crate::service::render::Link;
use crate::spatial::tiles::{
    BUFFER, EXTENT, MAX_ZOOM, SECTORS_MIN_ZOOM, TileCoord, encode, sectors_layer,
};

/// Media type of Mapbox Vector Tiles.
pub const MVT: &str = "application/vnd.mapbox-vector-tile";
/// The only tile matrix set served.
pub const WEB_MERCATOR_QUAD: &str = "WebMercatorQuad";
const TMS_URI: &str = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad";
const JSON: &str = "application/json";
/// Deepest zoom with its own tiles; clients overzoom beyond it.
const DATA_MAX_ZOOM: u8 = 16;

/// A tileset: a stored table, or the sectors of the coverage index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tileset {
    Table(TileTable),
    Sectors,
}

impl Tileset {
    const ALL: [(&'static str, Tileset); 5] = [
        ("towers", Tileset::Table(TileTable::Towers)),
        ("sectors", Tileset::Sectors),
        ("fibre-routes", Tileset::Table(TileTable::FibreRoutes)),
        ("data-centres", Tileset::Table(TileTable::DataCentres)),
        ("districts", Tileset::Table(TileTable::Districts)),
    ];

    fn parse(id: &str) -> ApiResult<Self> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == id)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let ids: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                ApiError::NotFound(format!(
                    "no tileset '{id}'; tilesets are: {}",
                    ids.join(", ")
                ))
            })
    }

    fn id(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("", |(n, _)| n)
    }

    /// The collection whose read permission governs the tileset.
    fn collection(self) -> CollectionId {
        match self {
            Tileset::Sectors | Tileset::Table(TileTable::Towers) => CollectionId::Towers,
            Tileset::Table(TileTable::FibreRoutes) => CollectionId::FibreRoutes,
            Tileset::Table(TileTable::DataCentres) => CollectionId::DataCentres,
            Tileset::Table(TileTable::Districts) => CollectionId::Districts,
        }
    }

    /// The MVT layer name.
    fn layer(self) -> &'static str {
        match self {
            Tileset::Table(TileTable::Towers) => "towers",
            Tileset::Sectors => "sectors",
            Tileset::Table(TileTable::FibreRoutes) => "fibre_routes",
            Tileset::Table(TileTable::DataCentres) => "data_centres",
            Tileset::Table(TileTable::Districts) => "districts",
        }
    }

    fn min_zoom(self) -> u8 {
        match self {
            Tileset::Sectors => SECTORS_MIN_ZOOM,
            Tileset::Table(_) => 0,
        }
    }

    /// The layer's fields and their types, for TileJSON's `vector_layers`.
    fn fields(self) -> Value {
        match self {
            Tileset::Table(TileTable::Towers) => json!({
                "id": "Number", "operator_id": "String", "site_code": "String", "name": "String",
                "structure_type": "String", "status": "String", "height_m": "Number",
                "synthetic": "Boolean", "tenant_count": "Number", "shared": "Boolean",
                "point_count": "Number (towers of this operator this point stands for where a dense tile is thinned; else 1)",
                "tenants": "String (comma-separated operator ids)",
                "technologies": "String (comma-separated, e.g. 4G,5G)", "sector_count": "Number"
            }),
            Tileset::Sectors => json!({
                "id": "Number", "tower_id": "Number", "operator_id": "String",
                "technology": "String", "azimuth_deg": "Number", "beamwidth_deg": "Number",
                "range_m": "Number", "range_source": "String (explicit or model)"
            }),
            Tileset::Table(TileTable::FibreRoutes) => json!({
                "id": "Number", "operator_id": "String", "name": "String", "placement": "String",
                "status": "String", "fibre_count": "Number", "capacity_gbps": "Number",
                "length_m": "Number", "synthetic": "Boolean"
            }),
            Tileset::Table(TileTable::DataCentres) => json!({
                "id": "Number", "operator_id": "String", "name": "String", "tier": "Number",
                "power_mw": "Number", "racks": "Number", "status": "String", "synthetic": "Boolean"
            }),
            Tileset::Table(TileTable::Districts) => json!({
                "code": "String", "name": "String", "name_ascii": "String",
                "population": "Number", "area_km2": "Number"
            }),
        }
    }
}

/// A random number fixed for the life of the process: sector tiles come from
/// this process's index, whose versions restart with the process.
fn boot_id() -> u64 {
    static BOOT: OnceLock<u64> = OnceLock::new();
    *BOOT.get_or_init(rand::random)
}

/// The version token of a tileset: `v` of TileJSON URLs, and the ETag body.
async fn version_token(st: &AppState, t: Tileset) -> ApiResult<String> {
    Ok(match t {
        Tileset::Sectors => format!("s{:x}-{}", boot_id(), st.coverage.snapshot().version),
        Tileset::Table(table) => {
            format!(
                "{}-{}",
                db::tiles::version(&st.pool, table).await?,
                env!("CARGO_PKG_VERSION")
            )
        }
    })
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
    for (k, v) in parse_pairs(raw)? {
        if k == "f" {
            if !formats.contains(&v.as_str()) {
                return Err(ApiError::param(
                    "f",
                    format!("unsupported format '{v}'; use {}", formats.join(" or ")),
                ));
            }
        } else if !allowed.contains(&k.as_str()) {
            return Err(ApiError::param(
                &k,
                format!(
                    "unknown parameter; accepted here: {}",
                    if allowed.is_empty() {
                        "f".to_owned()
                    } else {
                        format!("{}, f", allowed.join(", "))
                    }
                ),
            ));
        }
    }
    Ok(())
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
                "pointOfOrigin": [-crate::spatial::tiles::MERCATOR_HALF_M, crate::spatial::tiles::MERCATOR_HALF_M],
                "tileWidth": 256, "tileHeight": 256,
                "matrixWidth": n, "matrixHeight": n
            })
        })
        .collect();
    json_ok(
        JSON,
        &json!({
            "id": WEB_MERCATOR_QUAD,
            "title": "Google Maps Compatible for the World",
            "uri": TMS_URI,
            "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
            "orderedAxes": ["E", "N"],
            "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
            "tileMatrices": matrices
        }),
    )
}

/// `GET /collections/{collectionId}/tiles`: the collection's tilesets.
#[utoipa::path(get, path = "/collections/{collectionId}/tiles", tag = "Tiles",
    params(("collectionId" = String, Path, description = "towers, sectors, fibre-routes, data-centres or districts")),
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
    doc["layers"] = json!([{ "id": t.layer(), "dataType": "vector", "propertiesSchema": { "type": "object", "properties": t.fields() } }]);
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
    let version = version_token(&st, t).await?;
    let bounds = db::extent(&st.pool, t.collection())
        .await?
        .unwrap_or([107.8, 15.9, 108.4, 16.25]);
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

fn parse_index(name: &str, value: &str) -> ApiResult<u32> {
    value.parse::<u32>().map_err(|_| ApiError::BadRequest {
        detail: format!("tile {name} '{value}' is not a non-negative integer"),
        errors: vec![],
    })
}

fn tile_headers(res: &mut Response, etag: &str) {
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().trim_start_matches("W/"))
        .any(|v| v == etag || v == "*")
}

fn not_modified(etag: &str) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::NOT_MODIFIED;
    tile_headers(&mut res, etag);
    res
}

/// `GET /collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}`:
/// one Mapbox Vector Tile (z/y/x). `204 No Content` when no feature meets the
/// tile; `304` when `If-None-Match` holds the current ETag.
#[utoipa::path(get, path = "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}", tag = "Tiles",
    params(
        ("collectionId" = String, Path, description = "towers, sectors, fibre-routes, data-centres or districts"),
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
    let view = FibreView::of(&actor);
    let mut private = t == Tileset::Table(TileTable::FibreRoutes);

    let (etag, body) = match t {
        Tileset::Sectors => {
            let index = st.coverage.snapshot();
            let etag = format!("\"s{:x}-{}\"", boot_id(), index.version);
            if etag_matches(&headers, &etag) {
                return Ok(not_modified(&etag));
            }
            let layer = sectors_layer(&index, coord);
            (etag, layer.map(|l| encode(vec![l])).unwrap_or_default())
        }
        Tileset::Table(TileTable::FibreRoutes) if view != FibreView::All => {
            // Exact routes for their owner, presence cells for the rest; the
            // ETag names the view so no cache mixes them.
            let pkg = env!("CARGO_PKG_VERSION");
            let (scope, mine) = match &view {
                FibreView::Operator(op) => (format!("op-{op}"), Some(op.as_str())),
                _ => ("public".to_owned(), None),
            };
            if headers.contains_key(header::IF_NONE_MATCH) {
                let v = db::tiles::version(&st.pool, TileTable::FibreRoutes).await?;
                let current = format!("\"{v}-{pkg}-{scope}\"");
                if etag_matches(&headers, &current) {
                    return Ok(not_modified_private(&current));
                }
            }
            let presence = db::tiles::fibre_presence_tile(&st.pool, coord, mine).await?;
            let mut mvt = match mine {
                // Two encoded tiles concatenated are one tile with both
                // layers (MVT layers are a repeated protobuf field).
                Some(op) => {
                    db::tiles::fibre_routes_tile(&st.pool, coord, Some(op))
                        .await?
                        .mvt
                }
                None => Vec::new(),
            };
            mvt.extend_from_slice(&presence.mvt);
            private = true;
            (format!("\"{}-{pkg}-{scope}\"", presence.version), mvt)
        }
        Tileset::Table(table) => {
            let pkg = env!("CARGO_PKG_VERSION");
            if headers.contains_key(header::IF_NONE_MATCH) {
                let current = format!("\"{}-{pkg}\"", db::tiles::version(&st.pool, table).await?);
                if etag_matches(&headers, &current) {
                    return Ok(not_modified(&current));
                }
            }
            let tile = db::tiles::layer_tile(
                &st.pool,
                table,
                coord.bounds_3857(),
                coord.bounds_lonlat(BUFFER),
                EXTENT,
                BUFFER,
            )
            .await?;
            (format!("\"{}-{pkg}\"", tile.version), tile.mvt)
        }
    };
    let mut res = if body.is_empty() {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        r
    } else {
        let mut r = Response::new(Body::from(body));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(MVT));
        r
    };
    tile_headers(&mut res, &etag);
    if private {
        res.headers_mut().insert(
            header::VARY,
            HeaderValue::from_static("Accept-Encoding, Authorization"),
        );
    }
    Ok(res)
}

/// 304 for a tile whose content depends on who asks.
fn not_modified_private(etag: &str) -> Response {
    let mut res = not_modified(etag);
    res.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static("Accept-Encoding, Authorization"),
    );
    res
}
