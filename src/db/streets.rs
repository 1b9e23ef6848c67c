//! Main streets (reference data, migration 0010): stored with the sample,
//! read by the undergrounding programme per street segment.

use geozero::wkb;
use sqlx::PgConnection;

use super::DbResult;

/// A main street to store: its source id (`source_gid` of the transport
/// file), name, class and level, and its lines (lon/lat).
#[derive(Debug, Clone, PartialEq)]
pub struct NewStreet {
    /// Id of the line in its source file (the key of a reload).
    pub source_gid: i32,
    /// Street name.
    pub name: String,
    /// Road class (e.g. `national road`).
    pub class: Option<String>,
    /// Road level (e.g. `national`).
    pub level: Option<String>,
    /// Lines, lon/lat.
    pub geometry: geo::MultiLineString<f64>,
}

/// Stores `s`, or replaces the street of the same `source_gid`.
///
/// # Errors
/// On database failure (an invalid geometry breaks `streets_geom_valid`).
pub async fn upsert(conn: &mut PgConnection, s: &NewStreet) -> DbResult<()> {
    sqlx::query(
        "insert into streets (source_gid, name, class, level, geom)
         values ($1, $2, $3, $4, ST_SetSRID($5::geometry, 4326))
         on conflict on constraint streets_source_gid_unique
         do update set name = excluded.name, class = excluded.class, level = excluded.level,
                       geom = excluded.geom",
    )
    .bind(s.source_gid)
    .bind(&s.name)
    .bind(&s.class)
    .bind(&s.level)
    .bind(wkb::Encode(geo::Geometry::MultiLineString(
        s.geometry.clone(),
    )))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
