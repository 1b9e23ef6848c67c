//! The GeoPackage format (OGC 12-128r18), read and written with bundled
//! SQLite (no GDAL): geometry blobs are the GeoPackage header followed by
//! WKB, in EPSG:4326 (lon/lat). Exports write files with [`create`],
//! [`insert_rows`] and [`finish`]; imports find the feature table with
//! [`feature_table`] and decode geometries with [`decode`].

use std::path::Path;

use rusqlite::{Connection, params_from_iter};

use super::{GeometryBudget, GeometryReadError};

/// WKT of EPSG:4326 as GeoPackage's `gpkg_spatial_ref_sys` expects it.
const WGS84_WKT: &str = r#"GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]"#;

/// Errors of GeoPackage input and output.
#[derive(Debug, thiserror::Error)]
pub enum GpkgError {
    /// SQLite failed (not a GeoPackage, locked, disk full…).
    #[error("GeoPackage: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file could not be read or written.
    #[error("GeoPackage file: {0}")]
    Io(#[from] std::io::Error),
    /// The content is not what GeoPackage specifies.
    #[error("GeoPackage: {0}")]
    Format(String),
}

/// The GeoPackage geometry blob of `g` (standard header, no envelope,
/// SRS 4326, little-endian WKB).
///
/// # Errors
/// When the geometry cannot be encoded.
pub fn encode(g: &geo::Geometry<f64>) -> Result<Vec<u8>, GpkgError> {
    use geozero::{CoordDimensions, ToWkb};
    let wkb = g
        .to_wkb(CoordDimensions::xy())
        .map_err(|e| GpkgError::Format(e.to_string()))?;
    let mut blob = Vec::with_capacity(8 + wkb.len());
    blob.extend_from_slice(b"GP");
    blob.push(0); // version 1
    blob.push(0b0000_0001); // standard, not empty, no envelope, little-endian
    blob.extend_from_slice(&4326i32.to_le_bytes());
    blob.extend_from_slice(&wkb);
    Ok(blob)
}

/// Decodes a GeoPackage geometry blob (any envelope, either byte order)
/// whose WKB is within `budget` ([`super::wkb::check`] walks it first).
///
/// # Errors
/// [`GeometryReadError::Invalid`] when the blob is not a GeoPackage
/// geometry, else as [`super::wkb::read`].
pub fn decode(
    blob: &[u8],
    budget: GeometryBudget,
) -> Result<geo::Geometry<f64>, GeometryReadError> {
    let invalid = |m: &str| GeometryReadError::Invalid(m.to_owned());
    if blob.len() < 8 || &blob[..2] != b"GP" {
        return Err(invalid("is not a GeoPackage geometry blob"));
    }
    let flags = blob[3];
    if flags & 0b0010_0000 != 0 {
        return Err(invalid(
            "is an extended GeoPackage geometry (flag X): only standard WKB geometries are supported",
        ));
    }
    if flags & 0b0001_0000 != 0 {
        return Err(invalid("is an empty geometry"));
    }
    let envelope = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        e => {
            return Err(GeometryReadError::Invalid(format!(
                "has an invalid envelope code {e}"
            )));
        }
    };
    let wkb = blob
        .get(8 + envelope..)
        .ok_or_else(|| invalid("is truncated"))?;
    super::wkb::read(wkb, budget)
}

/// Creates a GeoPackage at `path` with one feature table `table` whose
/// geometry column `geom` has type `geometry_type` (`POINT`, `GEOMETRY`…)
/// and the given text/number columns (`(name, sqlite type)`).
///
/// # Errors
/// When SQLite fails.
pub fn create(
    path: &Path,
    table: &str,
    geometry_type: &str,
    columns: &[(&str, &str)],
) -> Result<Connection, GpkgError> {
    let conn = Connection::open(path)?;
    conn.execute_batch(&format!(
        "PRAGMA application_id = 1196444487;
         PRAGMA user_version = 10300;
         CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY,
             organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL,
             description TEXT);
         INSERT INTO gpkg_spatial_ref_sys VALUES
             ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
             ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
             ('WGS 84 geodetic', 4326, 'EPSG', 4326, '{WGS84_WKT}', 'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');
         CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
             identifier TEXT UNIQUE, description TEXT DEFAULT '',
             last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
             min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
             CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
         CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
             geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
             CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
             CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
             CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));"
    ))?;
    let cols: Vec<String> = columns
        .iter()
        .map(|(n, t)| format!("\"{n}\" {t}"))
        .collect();
    conn.execute_batch(&format!(
        "CREATE TABLE \"{table}\" (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom {geometry_type}, {});",
        cols.join(", ")
    ))?;
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES (?1, 'features', ?1, 4326)",
        [table],
    )?;
    conn.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?1, 'geom', ?2, 4326, 0, 0)",
        [table, geometry_type],
    )?;
    Ok(conn)
}

/// Inserts rows (geometry blob first, then the columns' values) into
/// `table` in one SQLite transaction.
///
/// # Errors
/// When SQLite fails.
pub fn insert_rows(
    conn: &mut Connection,
    table: &str,
    columns: &[(&str, &str)],
    rows: &[(Vec<u8>, Vec<rusqlite::types::Value>)],
) -> Result<(), GpkgError> {
    let names: Vec<String> = columns.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let marks: Vec<String> = (0..=columns.len()).map(|i| format!("?{}", i + 1)).collect();
    let sql = format!(
        "INSERT INTO \"{table}\" (geom, {}) VALUES ({})",
        names.join(", "),
        marks.join(", ")
    );
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(&sql)?;
        for (blob, values) in rows {
            let all = std::iter::once(rusqlite::types::Value::Blob(blob.clone()))
                .chain(values.iter().cloned());
            stmt.execute(params_from_iter(all))?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Sets the layer's extent in `gpkg_contents` from its geometries.
///
/// # Errors
/// When SQLite fails.
pub fn finish(conn: &Connection, table: &str, extent: Option<[f64; 4]>) -> Result<(), GpkgError> {
    if let Some([w, s, e, n]) = extent {
        conn.execute(
            "UPDATE gpkg_contents SET min_x = ?1, min_y = ?2, max_x = ?3, max_y = ?4 WHERE table_name = ?5",
            rusqlite::params![w, s, e, n, table],
        )?;
    }
    Ok(())
}

/// Opens a GeoPackage read-only and finds its feature table: the one named
/// `preferred` (or with `-` as `_`) when there are several, else the first by
/// name. Returns the connection, the table and its geometry column.
///
/// # Errors
/// When the file is not a GeoPackage or has no feature table.
pub fn feature_table(
    path: &Path,
    preferred: &str,
) -> Result<(Connection, String, String), GpkgError> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let tables: Vec<(String, String)> = conn
        .prepare(
            "SELECT c.table_name, g.column_name FROM gpkg_contents c
             JOIN gpkg_geometry_columns g ON g.table_name = c.table_name
             WHERE c.data_type = 'features' ORDER BY c.table_name",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let wanted = [preferred.to_owned(), preferred.replace('-', "_")];
    let (table, geom_col) = tables
        .iter()
        .find(|(t, _)| wanted.contains(t))
        .or(tables.first())
        .cloned()
        .ok_or_else(|| GpkgError::Format("the file has no feature table".into()))?;
    Ok((conn, table, geom_col))
}

#[cfg(test)]
mod tests {
    const BUDGET: super::GeometryBudget = super::GeometryBudget {
        max_depth: super::super::MAX_GEOMETRY_DEPTH,
        max_positions: 100,
    };

    #[test]
    fn a_geometry_survives_a_geopackage_blob_round_trip() {
        let g = geo::Geometry::Point(geo::Point::new(108.2208, 16.0471));
        let blob = super::encode(&g).unwrap();
        assert_eq!(&blob[..2], b"GP");
        assert_eq!(super::decode(&blob, BUDGET).unwrap(), g);
    }

    #[test]
    fn a_blob_with_an_xy_envelope_decodes_past_the_envelope() {
        let g = geo::Geometry::Point(geo::Point::new(108.2, 16.05));
        let plain = super::encode(&g).unwrap();
        let mut blob = plain[..8].to_vec();
        blob[3] |= 0b0000_0010; // envelope code 1: minx, maxx, miny, maxy
        for v in [108.2f64, 108.2, 16.05, 16.05] {
            blob.extend_from_slice(&v.to_le_bytes());
        }
        blob.extend_from_slice(&plain[8..]);
        assert_eq!(super::decode(&blob, BUDGET).unwrap(), g);
        assert!(super::decode(b"XX", BUDGET).is_err());
    }
}
