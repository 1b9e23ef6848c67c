//! Digital elevation models (DEM): GeoTIFF and SRTM `.hgt` rasters in
//! EPSG:4326, with a bilinear elevation lookup.
//!
//! A [`Dem`] is a set of rasters read from a folder (or single files). Each
//! raster is a regular lon/lat grid of elevations in metres (above the
//! geoid for SRTM; the service does not convert vertical datums). The
//! lookup [`Dem::elevation_m`] interpolates bilinearly between the four
//! pixel centres around a point, so at a pixel centre it returns that
//! pixel's value exactly; between the outermost pixel centres and the
//! raster's edge (half a pixel) it uses the nearest edge pixels. A point
//! outside every raster, or next to a no-data pixel, has an *unknown*
//! elevation (`None`): answers then say `terrain: "none"` rather than guess.
//!
//! Formats read:
//! * **GeoTIFF** (`.tif`, `.tiff`): one band of Int16, UInt16, Int32,
//!   Float32 or Float64, uncompressed, LZW or Deflate, striped or tiled
//!   (cloud-optimised GeoTIFFs included; only the full-resolution image is
//!   read). Georeferencing from `ModelPixelScaleTag` + `ModelTiepointTag`
//!   (north-up, no rotation) with `GTRasterTypeGeoKey` honoured (PixelIsArea
//!   or PixelIsPoint); the model must be geographic WGS 84 (EPSG:4326).
//!   No-data from `GDAL_NODATA`.
//! * **SRTM `.hgt`** (`N16E108.hgt`): big-endian Int16, 3601² (1″) or
//!   1201² (3″) samples, the first at the tile's north-west corner,
//!   −32768 for voids.
//!
//! Limits: a raster of at most [`MAX_PIXELS`] pixels (a 1° SRTM GL1 tile is
//! 13 M); Int16 rasters are kept as Int16 (2 bytes a pixel), others as
//! Float32 (4 bytes).

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::Tag;

/// Largest raster read, pixels (about 20 1° SRTM GL1 tiles in one file).
pub const MAX_PIXELS: usize = 256 * 1024 * 1024;

/// Errors reading a DEM.
#[derive(Debug, thiserror::Error)]
pub enum DemError {
    /// The file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TIFF could not be decoded.
    #[error("{path}: not a readable TIFF: {source}")]
    Tiff {
        /// The file.
        path: String,
        /// Why.
        source: tiff::TiffError,
    },
    /// The file is readable but not a DEM this service can use.
    #[error("{path}: {reason}")]
    Unsupported {
        /// The file.
        path: String,
        /// What is missing or not supported.
        reason: String,
    },
}

/// Elevation cells of a raster, row-major from the north-west pixel.
#[derive(Debug, Clone)]
enum Cells {
    /// Int16 cells; `i16::MIN` is no-data.
    I16(Vec<i16>),
    /// Float32 cells; NaN is no-data.
    F32(Vec<f32>),
}

/// One north-up raster of elevations on a lon/lat grid.
#[derive(Debug, Clone)]
pub struct DemRaster {
    /// Longitude of the centre of column 0, degrees.
    lon0: f64,
    /// Latitude of the centre of row 0 (the northernmost row), degrees.
    lat0: f64,
    /// Pixel width, degrees (> 0).
    dlon: f64,
    /// Pixel height, degrees (> 0; rows run south).
    dlat: f64,
    width: usize,
    height: usize,
    cells: Cells,
    /// Where it was read from (a file name), for reports.
    pub source: String,
}

impl DemRaster {
    /// A raster from its grid: `values` row-major from the north-west
    /// pixel (NaN for no-data), the centre of that pixel at
    /// (`lon0`, `lat0`) (lon/lat degrees), pixels `dlon` × `dlat` degrees.
    ///
    /// # Errors
    /// [`DemError::Unsupported`] when the sizes do not match or a step is
    /// not positive.
    pub fn from_grid(
        source: &str,
        lon0: f64,
        lat0: f64,
        dlon: f64,
        dlat: f64,
        width: usize,
        values: Vec<f32>,
    ) -> Result<Self, DemError> {
        let bad = |reason: &str| DemError::Unsupported {
            path: source.to_owned(),
            reason: reason.to_owned(),
        };
        if width == 0 || values.is_empty() || !values.len().is_multiple_of(width) {
            return Err(bad("the grid is empty or not rectangular"));
        }
        if !(dlon > 0.0 && dlat > 0.0 && dlon.is_finite() && dlat.is_finite()) {
            return Err(bad("pixel size must be positive"));
        }
        if !(lon0.is_finite() && lat0.is_finite()) {
            return Err(bad("origin must be finite"));
        }
        Ok(Self {
            lon0,
            lat0,
            dlon,
            dlat,
            width,
            height: values.len() / width,
            cells: Cells::F32(values),
            source: source.to_owned(),
        })
    }

    /// Width and height, pixels.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Pixel size (lon, lat), degrees.
    pub fn pixel_deg(&self) -> (f64, f64) {
        (self.dlon, self.dlat)
    }

    /// The raster's extent `[west, south, east, north]`, degrees (pixel
    /// edges, not centres).
    pub fn bounds(&self) -> [f64; 4] {
        [
            self.lon0 - self.dlon / 2.0,
            self.lat0 - (self.height as f64 - 0.5) * self.dlat,
            self.lon0 + (self.width as f64 - 0.5) * self.dlon,
            self.lat0 + self.dlat / 2.0,
        ]
    }

    /// Centre of pixel (`col`, `row`), lon/lat degrees.
    pub fn pixel_centre(&self, col: usize, row: usize) -> (f64, f64) {
        (
            self.lon0 + col as f64 * self.dlon,
            self.lat0 - row as f64 * self.dlat,
        )
    }

    /// The value of pixel (`col`, `row`), metres; `None` for no-data or
    /// outside the raster.
    pub fn pixel(&self, col: usize, row: usize) -> Option<f64> {
        if col >= self.width || row >= self.height {
            return None;
        }
        let i = row * self.width + col;
        match &self.cells {
            Cells::I16(v) => (v[i] != i16::MIN).then(|| f64::from(v[i])),
            Cells::F32(v) => v[i].is_finite().then(|| f64::from(v[i])),
        }
    }

    /// Bilinear elevation at (`lon`, `lat`) degrees, metres; `None` outside
    /// the raster or when a pixel it needs is no-data.
    pub fn elevation_m(&self, lon: f64, lat: f64) -> Option<f64> {
        let fx = (lon - self.lon0) / self.dlon;
        let fy = (self.lat0 - lat) / self.dlat;
        let (w, h) = (self.width as f64, self.height as f64);
        if !(fx >= -0.5 && fx <= w - 0.5 && fy >= -0.5 && fy <= h - 0.5) {
            return None;
        }
        // A position within 1e-9 pixel of a pixel centre is that centre:
        // the division above leaves rounding of ~1e-11 pixel, which would
        // otherwise mix a neighbour in (the lookup is exact at centres).
        let snap = |f: f64| {
            let r = f.round();
            if (f - r).abs() < 1e-9 { r } else { f }
        };
        let fx = snap(fx).clamp(0.0, w - 1.0);
        let fy = snap(fy).clamp(0.0, h - 1.0);
        let (c0, r0) = (fx.floor() as usize, fy.floor() as usize);
        let (tx, ty) = (fx - c0 as f64, fy - r0 as f64);
        let c1 = (c0 + 1).min(self.width - 1);
        let r1 = (r0 + 1).min(self.height - 1);
        let mut sum = 0.0;
        for (c, r, wgt) in [
            (c0, r0, (1.0 - tx) * (1.0 - ty)),
            (c1, r0, tx * (1.0 - ty)),
            (c0, r1, (1.0 - tx) * ty),
            (c1, r1, tx * ty),
        ] {
            if wgt > 0.0 {
                sum += wgt * self.pixel(c, r)?;
            }
        }
        Some(sum)
    }

    /// Reads a GeoTIFF (see the module documentation for what is read).
    ///
    /// # Errors
    /// [`DemError`] when the file cannot be read, is not a TIFF, has more
    /// than one band, an unsupported sample type, no or rotated
    /// georeferencing, a projected CRS, or more than [`MAX_PIXELS`] pixels.
    pub fn read_geotiff(path: &Path) -> Result<Self, DemError> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| DemError::Io {
            path: name.clone(),
            source,
        })?;
        let tiff_err = |source| DemError::Tiff {
            path: name.clone(),
            source,
        };
        let bad = |reason: String| DemError::Unsupported {
            path: name.clone(),
            reason,
        };
        let mut limits = Limits::default();
        limits.decoding_buffer_size = MAX_PIXELS * 8;
        let mut dec = Decoder::new(BufReader::new(file))
            .map_err(tiff_err)?
            .with_limits(limits);
        let (width, height) = dec.dimensions().map_err(tiff_err)?;
        let (width, height) = (width as usize, height as usize);
        if width.saturating_mul(height) > MAX_PIXELS {
            return Err(bad(format!(
                "{width} × {height} pixels is more than the {MAX_PIXELS} a raster may have"
            )));
        }
        let samples = dec
            .find_tag_unsigned::<u16>(Tag::SamplesPerPixel)
            .map_err(tiff_err)?
            .unwrap_or(1);
        if samples != 1 {
            return Err(bad(format!(
                "{samples} bands; a DEM has one band of elevations"
            )));
        }
        if dec
            .find_tag(Tag::Unknown(34264))
            .map_err(tiff_err)?
            .is_some()
        {
            return Err(bad(
                "georeferenced by a transformation matrix (ModelTransformationTag); \
                 only north-up rasters with pixel scale and tiepoint are read"
                    .into(),
            ));
        }
        let scale = dec
            .find_tag(Tag::ModelPixelScaleTag)
            .map_err(tiff_err)?
            .map(tiff::decoder::ifd::Value::into_f64_vec)
            .transpose()
            .map_err(tiff_err)?
            .ok_or_else(|| bad("no georeferencing (ModelPixelScaleTag)".into()))?;
        let tie = dec
            .find_tag(Tag::ModelTiepointTag)
            .map_err(tiff_err)?
            .map(tiff::decoder::ifd::Value::into_f64_vec)
            .transpose()
            .map_err(tiff_err)?
            .ok_or_else(|| bad("no georeferencing (ModelTiepointTag)".into()))?;
        if scale.len() < 2 || tie.len() < 6 {
            return Err(bad("incomplete pixel scale or tiepoint".into()));
        }
        let keys = dec
            .find_tag(Tag::GeoKeyDirectoryTag)
            .map_err(tiff_err)?
            .map(tiff::decoder::ifd::Value::into_u16_vec)
            .transpose()
            .map_err(tiff_err)?
            .unwrap_or_default();
        let key = |id: u16| -> Option<u16> {
            // Header of 4 shorts, then entries (key, location, count, value);
            // location 0 means the value is inline.
            keys.get(4..)?
                .chunks_exact(4)
                .find(|e| e[0] == id && e[1] == 0)
                .map(|e| e[3])
        };
        match key(1024) {
            Some(2) => {}
            Some(1) => {
                return Err(bad(
                    "projected coordinates; a DEM must be in EPSG:4326 (lon/lat degrees) — \
                     reproject it, e.g. `gdalwarp -t_srs EPSG:4326`"
                        .into(),
                ));
            }
            Some(other) => {
                return Err(bad(format!(
                    "GTModelTypeGeoKey {other}: only geographic (EPSG:4326) rasters are read"
                )));
            }
            None => return Err(bad("no GeoKeyDirectory: the CRS is unknown".into())),
        }
        if let Some(gcs) = key(2048)
            && gcs != 4326
            && gcs != 32767
        {
            return Err(bad(format!(
                "geographic CRS EPSG:{gcs}; only EPSG:4326 (WGS 84) is read"
            )));
        }
        let pixel_is_point = key(1025) == Some(2);
        let nodata = match dec.find_tag(Tag::GdalNodata).map_err(tiff_err)? {
            Some(v) => v
                .into_string()
                .ok()
                .and_then(|s| s.trim_matches(char::from(0)).trim().parse::<f64>().ok()),
            None => None,
        };
        let (sx, sy) = (scale[0], scale[1]);
        if !(sx > 0.0 && sy > 0.0) {
            return Err(bad("pixel scale must be positive".into()));
        }
        let (ti, tj, tx, ty) = (tie[0], tie[1], tie[3], tie[4]);
        // Model coordinates of the centre of pixel (0, 0).
        let shift = if pixel_is_point { 0.0 } else { 0.5 };
        let lon0 = tx + (shift - ti) * sx;
        let lat0 = ty - (shift - tj) * sy;
        let image = dec.read_image().map_err(tiff_err)?;
        let is_nodata = |v: f64| nodata.is_some_and(|n| v == n) || !v.is_finite();
        let cells = match image {
            DecodingResult::I16(v) => Cells::I16(
                v.into_iter()
                    .map(|x| if is_nodata(f64::from(x)) { i16::MIN } else { x })
                    .collect(),
            ),
            DecodingResult::U16(v) => Cells::F32(
                v.into_iter()
                    .map(f64::from)
                    .map(|x| if is_nodata(x) { f32::NAN } else { x as f32 })
                    .collect(),
            ),
            DecodingResult::I32(v) => Cells::F32(
                v.into_iter()
                    .map(f64::from)
                    .map(|x| if is_nodata(x) { f32::NAN } else { x as f32 })
                    .collect(),
            ),
            DecodingResult::F32(v) => Cells::F32(
                v.into_iter()
                    .map(|x| if is_nodata(f64::from(x)) { f32::NAN } else { x })
                    .collect(),
            ),
            DecodingResult::F64(v) => Cells::F32(
                v.into_iter()
                    .map(|x| if is_nodata(x) { f32::NAN } else { x as f32 })
                    .collect(),
            ),
            _ => {
                return Err(bad(
                    "sample type not read; use Int16, UInt16, Int32, Float32 or Float64".into(),
                ));
            }
        };
        let len = match &cells {
            Cells::I16(v) => v.len(),
            Cells::F32(v) => v.len(),
        };
        if len != width * height {
            return Err(bad(format!(
                "decoded {len} samples for {width} × {height} pixels"
            )));
        }
        Ok(Self {
            lon0,
            lat0,
            dlon: sx,
            dlat: sy,
            width,
            height,
            cells,
            source: name,
        })
    }

    /// Reads an SRTM `.hgt` tile; its south-west corner comes from the file
    /// name (`N16E108.hgt`: 16° N, 108° E).
    ///
    /// # Errors
    /// [`DemError`] when the name has no corner, or the size is neither
    /// 3601² nor 1201² samples.
    pub fn read_hgt(path: &Path) -> Result<Self, DemError> {
        let name = path.display().to_string();
        let bad = |reason: String| DemError::Unsupported {
            path: name.clone(),
            reason,
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_ascii_uppercase();
        let (lat, lon) = parse_hgt_name(&stem).ok_or_else(|| {
            bad("an .hgt file must be named like N16E108.hgt (its south-west corner)".into())
        })?;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(3601 * 3601 * 2 + 1).read_to_end(&mut bytes))
            .map_err(|source| DemError::Io {
                path: name.clone(),
                source,
            })?;
        let side = match bytes.len() {
            n if n == 3601 * 3601 * 2 => 3601,
            n if n == 1201 * 1201 * 2 => 1201,
            n => {
                return Err(bad(format!(
                    "{n} bytes; an .hgt tile has 3601² (1″) or 1201² (3″) Int16 samples"
                )));
            }
        };
        let cells: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .collect();
        let step = 1.0 / (side - 1) as f64;
        Ok(Self {
            lon0: f64::from(lon),
            lat0: f64::from(lat) + 1.0,
            dlon: step,
            dlat: step,
            width: side,
            height: side,
            cells: Cells::I16(cells),
            source: name,
        })
    }

    /// Feeds the raster's georeferencing and values to `h` (for the
    /// model key of persisted footprints).
    pub fn digest_into(&self, h: &mut sha2::Sha256) {
        use sha2::Digest;
        for v in [self.lon0, self.lat0, self.dlon, self.dlat] {
            h.update(v.to_le_bytes());
        }
        h.update((self.width as u64).to_le_bytes());
        match &self.cells {
            Cells::I16(v) => v.iter().for_each(|x| h.update(x.to_le_bytes())),
            Cells::F32(v) => v.iter().for_each(|x| h.update(x.to_le_bytes())),
        }
    }

    /// Bytes held by the cells.
    pub fn approx_bytes(&self) -> usize {
        match &self.cells {
            Cells::I16(v) => v.len() * 2,
            Cells::F32(v) => v.len() * 4,
        }
    }
}

/// (lat, lon) of the south-west corner named by an `.hgt` stem such as `N16E108`.
fn parse_hgt_name(stem: &str) -> Option<(i32, i32)> {
    if stem.len() != 7 {
        return None;
    }
    let (ns, rest) = stem.split_at(1);
    let (lat, rest) = rest.split_at(2);
    let (ew, lon) = rest.split_at(1);
    let lat: i32 = lat.parse().ok()?;
    let lon: i32 = lon.parse().ok()?;
    let lat = match ns {
        "N" => lat,
        "S" => -lat,
        _ => return None,
    };
    let lon = match ew {
        "E" => lon,
        "W" => -lon,
        _ => return None,
    };
    ((-90..90).contains(&lat) && (-180..180).contains(&lon)).then_some((lat, lon))
}

/// A set of DEM rasters; the finest raster covering a point answers it.
#[derive(Debug, Clone, Default)]
pub struct Dem {
    rasters: Vec<DemRaster>,
}

impl Dem {
    /// A DEM of the given rasters.
    pub fn new(mut rasters: Vec<DemRaster>) -> Self {
        rasters.sort_by(|a, b| (a.dlon * a.dlat).total_cmp(&(b.dlon * b.dlat)));
        Self { rasters }
    }

    /// Reads every `.tif`, `.tiff` and `.hgt` file in `path` (a folder, not
    /// recursive) or the single file `path`.
    ///
    /// # Errors
    /// The first [`DemError`]: a DEM that cannot be read is a configuration
    /// error, not something to skip silently.
    pub fn load(path: &Path) -> Result<Self, DemError> {
        let io = |source| DemError::Io {
            path: path.display().to_string(),
            source,
        };
        let files: Vec<PathBuf> = if path.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| dem_kind(p).is_some())
                .collect();
            v.sort();
            v
        } else {
            vec![path.to_path_buf()]
        };
        let mut rasters = Vec::with_capacity(files.len());
        for f in &files {
            rasters.push(match dem_kind(f) {
                Some(DemKind::Hgt) => DemRaster::read_hgt(f)?,
                Some(DemKind::Tiff) => DemRaster::read_geotiff(f)?,
                None => {
                    return Err(DemError::Unsupported {
                        path: f.display().to_string(),
                        reason: "not a .tif, .tiff or .hgt file".into(),
                    });
                }
            });
        }
        Ok(Self::new(rasters))
    }

    /// True when no raster is loaded.
    pub fn is_empty(&self) -> bool {
        self.rasters.is_empty()
    }

    /// The rasters, finest first.
    pub fn rasters(&self) -> &[DemRaster] {
        &self.rasters
    }

    /// Elevation at (`lon`, `lat`) degrees, metres, from the finest raster
    /// that knows it; `None` where no raster does.
    pub fn elevation_m(&self, lon: f64, lat: f64) -> Option<f64> {
        self.rasters.iter().find_map(|r| r.elevation_m(lon, lat))
    }

    /// The finest pixel size, metres along a meridian (≈ 30.9 m for
    /// 1″ SRTM), or `None` without rasters.
    pub fn resolution_m(&self) -> Option<f64> {
        self.rasters
            .iter()
            .map(|r| r.dlat.min(r.dlon) * 111_320.0)
            .min_by(f64::total_cmp)
    }

    /// Bytes held by the rasters' cells.
    pub fn approx_bytes(&self) -> usize {
        self.rasters.iter().map(DemRaster::approx_bytes).sum()
    }
}

enum DemKind {
    Tiff,
    Hgt,
}

/// Side of a DEM tile, pixels.
pub const DEM_TILE_PX: usize = 256;

/// Web-map zoom levels the DEM tiles are served at (MapLibre over-zooms
/// beyond the last; 1″ ≈ 30 m is about zoom 12).
pub const DEM_TILE_ZOOMS: std::ops::RangeInclusive<u8> = 6..=12;

impl Dem {
    /// The union of the rasters' extents `[west, south, east, north]`,
    /// degrees; `None` without a raster.
    pub fn bounds(&self) -> Option<[f64; 4]> {
        self.rasters.iter().map(DemRaster::bounds).reduce(|a, b| {
            [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ]
        })
    }

    /// Tile `z/x/y` of the web-mercator quad as a Terrarium-encoded RGB
    /// image (`elevation = R·256 + G + B/256 − 32768`, metres; 0 where the
    /// DEM has none), [`DEM_TILE_PX`]² pixels, row-major from the north-west;
    /// `None` when the tile lies outside the DEM or the zoom outside
    /// [`DEM_TILE_ZOOMS`].
    pub fn terrarium_tile(&self, z: u8, x: u32, y: u32) -> Option<Vec<u8>> {
        if !DEM_TILE_ZOOMS.contains(&z) {
            return None;
        }
        let n = f64::from(1u32 << z);
        if f64::from(x) >= n || f64::from(y) >= n {
            return None;
        }
        let lon_of = |fx: f64| fx / n * 360.0 - 180.0;
        let lat_of = |fy: f64| {
            (std::f64::consts::PI * (1.0 - 2.0 * fy / n))
                .sinh()
                .atan()
                .to_degrees()
        };
        let [w, s, e, nb] = self.bounds()?;
        let (tw, te) = (lon_of(f64::from(x)), lon_of(f64::from(x) + 1.0));
        let (tn, ts) = (lat_of(f64::from(y)), lat_of(f64::from(y) + 1.0));
        if te < w || tw > e || tn < s || ts > nb {
            return None;
        }
        let px = DEM_TILE_PX as f64;
        let lons: Vec<f64> = (0..DEM_TILE_PX)
            .map(|i| lon_of(f64::from(x) + (i as f64 + 0.5) / px))
            .collect();
        let mut out = Vec::with_capacity(DEM_TILE_PX * DEM_TILE_PX * 3);
        for j in 0..DEM_TILE_PX {
            let lat = lat_of(f64::from(y) + (j as f64 + 0.5) / px);
            for &lon in &lons {
                let v = (self.elevation_m(lon, lat).unwrap_or(0.0) + 32768.0).clamp(0.0, 65535.99);
                let whole = v.floor();
                out.push((whole / 256.0).floor() as u8);
                out.push((whole as u32 % 256) as u8);
                out.push(((v - whole) * 256.0).floor() as u8);
            }
        }
        Some(out)
    }
}

/// Encodes an RGB image `width` pixels wide as PNG.
///
/// # Errors
/// When the encoder fails (a size mismatch).
pub fn encode_png_rgb(rgb: &[u8], width: u32) -> Result<Vec<u8>, png::EncodingError> {
    let height = (rgb.len() / 3) as u32 / width.max(1);
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header()?;
        w.write_image_data(rgb)?;
    }
    Ok(out)
}

fn dem_kind(p: &Path) -> Option<DemKind> {
    match p
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("tif" | "tiff") => Some(DemKind::Tiff),
        Some("hgt") => Some(DemKind::Hgt),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> DemRaster {
        // 4 × 3 pixels of 0.001°, value = 10·col + 100·row.
        let v: Vec<f32> = (0..3)
            .flat_map(|r| (0..4).map(move |c| (10 * c + 100 * r) as f32))
            .collect();
        DemRaster::from_grid("ramp", 108.0, 16.0, 0.001, 0.001, 4, v).expect("grid")
    }

    #[test]
    fn the_bilinear_lookup_is_exact_at_pixel_centres() {
        let r = ramp();
        for row in 0..3 {
            for col in 0..4 {
                let (lon, lat) = r.pixel_centre(col, row);
                assert_eq!(r.elevation_m(lon, lat), r.pixel(col, row));
            }
        }
    }

    #[test]
    fn the_bilinear_lookup_is_linear_between_centres_and_unknown_outside() {
        let r = ramp();
        let e = r.elevation_m(108.0005, 15.9995).expect("inside");
        assert!((e - 55.0).abs() < 1e-6, "{e}");
        assert_eq!(r.elevation_m(108.0, 16.01), None);
        assert_eq!(r.elevation_m(107.9, 16.0), None);
        // Within half a pixel of the edge: the edge pixel.
        assert_eq!(r.elevation_m(107.9996, 16.0004), Some(0.0));
    }

    #[test]
    fn a_no_data_pixel_makes_its_neighbourhood_unknown() {
        let mut v = vec![1.0f32; 9];
        v[4] = f32::NAN;
        let r = DemRaster::from_grid("hole", 0.0, 0.0, 1.0, 1.0, 3, v).expect("grid");
        assert_eq!(r.elevation_m(1.0, -1.0), None);
        assert_eq!(r.elevation_m(0.5, -0.5), None);
        assert_eq!(r.elevation_m(0.0, 0.0), Some(1.0));
    }

    #[test]
    fn hgt_names_give_the_south_west_corner() {
        assert_eq!(parse_hgt_name("N16E108"), Some((16, 108)));
        assert_eq!(parse_hgt_name("S01W072"), Some((-1, -72)));
        assert_eq!(parse_hgt_name("X16E108"), None);
        assert_eq!(parse_hgt_name("N16E1080"), None);
    }

    #[test]
    fn an_hgt_tile_is_read_with_its_corner_from_the_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("N16E108.hgt");
        let mut bytes = Vec::with_capacity(1201 * 1201 * 2);
        for row in 0..1201i32 {
            for col in 0..1201i32 {
                bytes.extend_from_slice(&((row + col) as i16).to_be_bytes());
            }
        }
        std::fs::write(&path, bytes).expect("write");
        let dem = Dem::load(dir.path()).expect("load");
        // North-west sample (row 0, col 0) at (108 E, 17 N).
        assert_eq!(dem.elevation_m(108.0, 17.0), Some(0.0));
        // Row 600, col 300: 15.5 N... lat = 17 − 600/1200 = 16.5, lon = 108.25.
        assert_eq!(dem.elevation_m(108.25, 16.5), Some(900.0));
        assert_eq!(dem.elevation_m(109.5, 16.5), None);
    }
}
