//! The terrain the coverage model sees: what is loaded (`GET /terrain`) and
//! the DEM as Terrarium-encoded PNG tiles for the map's hillshade
//! (`GET /terrain/tiles/{z}/{x}/{y}.png`, a MapLibre `raster-dem` source).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::access::Actor;
use super::error::{ApiError, ApiResult};
use super::extract::PathParams;
use super::json_response;
use super::tiles::parse_index;
use crate::coverage::terrain::{DEM_TILE_PX, DEM_TILE_ZOOMS, encode_png_rgb};
use crate::service::policy::authorize_public;

/// One DEM raster loaded.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DemRasterInfo {
    /// File it was read from.
    pub source: String,
    /// `[west, south, east, north]`, degrees (pixel edges).
    pub bounds: [f64; 4],
    /// Pixel size `[lon, lat]`, degrees.
    pub pixel_deg: [f64; 2],
    /// Width and height, pixels.
    pub size: [usize; 2],
}

/// Answer of `GET /terrain`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TerrainInfo {
    /// `terrain` (DEM and land use enter the coverage) or `flat`.
    pub coverage_model: String,
    /// Effective earth-radius factor.
    pub k_factor: Option<f64>,
    /// DEM rasters (empty: no DEM; coverage is flat everywhere).
    pub dem: Vec<DemRasterInfo>,
    /// Union of the rasters' bounds, `[west, south, east, north]`.
    pub dem_bounds: Option<[f64; 4]>,
    /// Land-use polygons with a mapped class.
    pub landuse_polygons: usize,
    /// Tile URL template of the DEM (Terrarium PNG), relative to the service.
    pub tiles: Option<String>,
    /// Zoom levels served.
    pub minzoom: u8,
    /// Last zoom level served (the map over-zooms beyond).
    pub maxzoom: u8,
}

/// `GET /terrain`: what the coverage model sees of the terrain: the DEM's
/// rasters and extent (coverage is terrain-aware only inside it), the land
/// use, the tile template of the hillshade source.
#[utoipa::path(get, path = "/terrain", tag = "Coverage",
    responses((status = 200, description = "The terrain loaded", body = TerrainInfo)))]
pub async fn info(State(st): State<AppState>, actor: Actor) -> ApiResult<Response> {
    authorize_public(&actor)?;
    let index = st.coverage.snapshot();
    let t = index.terrain.as_ref();
    let dem: Vec<DemRasterInfo> = t
        .map(|t| {
            t.dem
                .rasters()
                .iter()
                .map(|r| {
                    let (dx, dy) = r.pixel_deg();
                    let (w, h) = r.size();
                    DemRasterInfo {
                        source: r.source.clone(),
                        bounds: r.bounds(),
                        pixel_deg: [dx, dy],
                        size: [w, h],
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let body = serde_json::to_vec(&TerrainInfo {
        coverage_model: if t.is_some() { "terrain" } else { "flat" }.into(),
        k_factor: t.map(|t| t.k_factor),
        dem_bounds: t.and_then(|t| t.dem.bounds()),
        tiles: (!dem.is_empty()).then(|| "terrain/tiles/{z}/{x}/{y}.png".to_owned()),
        dem,
        landuse_polygons: t.map_or(0, |t| t.landuse_polygons),
        minzoom: *DEM_TILE_ZOOMS.start(),
        maxzoom: *DEM_TILE_ZOOMS.end(),
    })
    .map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, "application/json", body))
}

/// `GET /terrain/tiles/{z}/{x}/{y}.png`: the DEM over web-mercator tile
/// z/x/y as a 256 × 256 Terrarium PNG (`elevation = R·256 + G + B/256 −
/// 32768`, metres; 0 where the DEM has none). 404 outside the DEM or zooms
/// 6–12, or with the terrain off.
#[utoipa::path(get, path = "/terrain/tiles/{z}/{x}/{y}.png", tag = "Coverage",
    params(
        ("z" = u32, Path, description = "Zoom, 6–12"),
        ("x" = u32, Path, description = "Column"),
        ("y" = u32, Path, description = "Row (0 at the north), with the .png suffix"),
    ),
    responses(
        (status = 200, description = "Terrarium PNG", content_type = "image/png"),
        (status = 404, description = "Outside the DEM", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn tile(
    State(st): State<AppState>,
    actor: Actor,
    PathParams((z, x, y)): PathParams<(String, String, String)>,
) -> ApiResult<Response> {
    authorize_public(&actor)?;
    let y = y.strip_suffix(".png").ok_or_else(|| {
        ApiError::NotFound("DEM tiles are .png: /terrain/tiles/{z}/{x}/{y}.png".into())
    })?;
    let (z, x, y) = (
        parse_index("zoom", &z)?,
        parse_index("column", &x)?,
        parse_index("row", y)?,
    );
    let z = u8::try_from(z).map_err(|_| ApiError::NotFound(format!("no DEM tile at zoom {z}")))?;
    let index = st.coverage.snapshot();
    let Some(terrain) = index.terrain.clone() else {
        return Err(ApiError::NotFound(
            "the coverage model is flat: no DEM is loaded".into(),
        ));
    };
    // 65,536 bilinear lookups and a PNG encoding: off the runtime.
    let png = tokio::task::spawn_blocking(move || {
        terrain
            .dem
            .terrarium_tile(z, x, y)
            .map(|rgb| encode_png_rgb(&rgb, DEM_TILE_PX as u32))
    })
    .await
    .map_err(ApiError::internal)?;
    match png {
        None => Err(ApiError::NotFound(format!(
            "no DEM tile {z}/{x}/{y}: outside the DEM or zooms {}–{}",
            DEM_TILE_ZOOMS.start(),
            DEM_TILE_ZOOMS.end()
        ))),
        Some(Err(e)) => Err(ApiError::internal(e)),
        Some(Ok(bytes)) => {
            let mut r = (StatusCode::OK, bytes).into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            Ok(r)
        }
    }
}
