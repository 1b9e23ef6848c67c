//! Loading what the coverage index holds: operational sectors with their
//! towers' positions, operational fibre routes and data centres, districts.

use geozero::wkb;
use sqlx::{PgConnection, PgPool};

use super::DbResult;
use crate::coverage::index::{Area, FibreInput, SectorInput};
use crate::domain::fibre::Placement;
use crate::domain::tower::Technology;

#[derive(sqlx::FromRow)]
struct SectorRow {
    id: i64,
    tower_id: i64,
    operator_id: String,
    technology: Technology,
    frequency_mhz: f64,
    azimuth_deg: f64,
    beamwidth_deg: f64,
    height_m: f64,
    eirp_dbm: f64,
    range_m: Option<f64>,
    lon: f64,
    lat: f64,
}

const SECTORS: &str = include_str!("sql/coverage_sectors.sql");

fn to_input(rows: Vec<SectorRow>) -> Vec<SectorInput> {
    rows.into_iter()
        .map(|r| SectorInput {
            technology: r.technology,
            sector_id: r.id,
            tower_id: r.tower_id,
            operator: r.operator_id,
            lon: r.lon,
            lat: r.lat,
            azimuth_deg: r.azimuth_deg,
            beamwidth_deg: r.beamwidth_deg,
            height_m: r.height_m,
            eirp_dbm: r.eirp_dbm,
            frequency_mhz: r.frequency_mhz,
            range_m: r.range_m,
        })
        .collect()
}

/// Sectors of every operational tower.
///
/// # Errors
/// On database failure.
pub async fn operational_sectors(pool: &PgPool) -> DbResult<Vec<SectorInput>> {
    let rows: Vec<SectorRow> = sqlx::query_as(&format!("{SECTORS} order by s.id"))
        .fetch_all(pool)
        .await?;
    Ok(to_input(rows))
}

/// Sector `sector_id` of tower `tower_id` whatever the tower's status, with
/// that status (for `/coverage/profile`: a planned site's profile too).
///
/// # Errors
/// On database failure.
pub async fn sector_of_tower(
    pool: &PgPool,
    tower_id: i64,
    sector_id: i64,
) -> DbResult<Option<(SectorInput, String)>> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "select t.status::text, s.id from sectors s join towers t on t.id = s.tower_id \
         where t.id = $1 and s.id = $2",
    )
    .bind(tower_id)
    .bind(sector_id)
    .fetch_optional(pool)
    .await?;
    let Some((status, _)) = row else {
        return Ok(None);
    };
    let sql = SECTORS.replace(
        "where t.status = 'operational'",
        "where t.id = $1 and s.id = $2",
    );
    let rows: Vec<SectorRow> = sqlx::query_as(&sql)
        .bind(tower_id)
        .bind(sector_id)
        .fetch_all(pool)
        .await?;
    Ok(to_input(rows).into_iter().next().map(|s| (s, status)))
}

/// Sectors of the given towers, if operational, with the towers layer's
/// version as the same statement saw it (every change up to it is in the
/// rows; one snapshot).
///
/// # Errors
/// On database failure.
pub async fn tower_sectors_as_of(
    conn: &mut PgConnection,
    tower_ids: &[i64],
) -> DbResult<(i64, Vec<SectorInput>)> {
    let sql = format!(
        "with v as (select coalesce((select version from layer_versions \
                                       where layer = 'towers'), 0) as version) \
         select v.version as layer_version, x.* \
         from v left join ({SECTORS} and t.id = any($1)) x on true \
         order by x.id"
    );
    let rows: Vec<VersionedSectorRow> =
        sqlx::query_as(&sql).bind(tower_ids).fetch_all(conn).await?;
    let version = rows.first().map_or(0, |r| r.layer_version);
    let sectors = rows
        .into_iter()
        .filter_map(VersionedSectorRow::sector)
        .collect();
    Ok((version, to_input(sectors)))
}

/// A row of [`tower_sectors_as_of`]: the layer version, and a sector
/// unless no tower matched (the left join's one empty row).
#[derive(sqlx::FromRow)]
struct VersionedSectorRow {
    layer_version: i64,
    id: Option<i64>,
    tower_id: Option<i64>,
    operator_id: Option<String>,
    technology: Option<Technology>,
    frequency_mhz: Option<f64>,
    azimuth_deg: Option<f64>,
    beamwidth_deg: Option<f64>,
    height_m: Option<f64>,
    eirp_dbm: Option<f64>,
    range_m: Option<f64>,
    lon: Option<f64>,
    lat: Option<f64>,
}

impl VersionedSectorRow {
    fn sector(self) -> Option<SectorRow> {
        Some(SectorRow {
            id: self.id?,
            tower_id: self.tower_id?,
            operator_id: self.operator_id?,
            technology: self.technology?,
            frequency_mhz: self.frequency_mhz?,
            azimuth_deg: self.azimuth_deg?,
            beamwidth_deg: self.beamwidth_deg?,
            height_m: self.height_m?,
            eirp_dbm: self.eirp_dbm?,
            range_m: self.range_m,
            lon: self.lon?,
            lat: self.lat?,
        })
    }
}

/// Every district as an analysis area.
///
/// # Errors
/// On database failure.
pub async fn areas<'e>(pool: impl sqlx::PgExecutor<'e>) -> DbResult<Vec<Area>> {
    let rows: Vec<(String, wkb::Decode<geo::Geometry<f64>>)> =
        sqlx::query_as("select code, geom from districts order by code")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(code, g)| match g.geometry? {
            geo::Geometry::MultiPolygon(geometry) => Some(Area::new(code, geometry)),
            _ => None,
        })
        .collect())
}

/// Operational fibre routes.
///
/// # Errors
/// On database failure.
pub async fn operational_fibre(pool: &PgPool) -> DbResult<Vec<FibreInput>> {
    let rows: Vec<(i64, Placement, wkb::Decode<geo::Geometry<f64>>)> = sqlx::query_as(
        "select id, placement, geom from fibre_routes where status = 'operational' order by id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, placement, g)| {
            Some(FibreInput {
                id,
                placement,
                geometry: g.geometry?,
            })
        })
        .collect())
}

/// Operational data centres: `(id, lon, lat)` of the point, or of a point
/// inside the footprint.
///
/// # Errors
/// On database failure.
pub async fn operational_data_centres(pool: &PgPool) -> DbResult<Vec<(i64, f64, f64)>> {
    Ok(sqlx::query_as(
        "select id, ST_X(p), ST_Y(p) from (select id, ST_PointOnSurface(geom) as p from data_centres
         where status = 'operational') d order by id",
    )
    .fetch_all(pool)
    .await?)
}
