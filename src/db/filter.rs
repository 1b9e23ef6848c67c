//! Spatial and attribute filters for listing features.

use sqlx::{Postgres, QueryBuilder};

/// A lon/lat bounding box in EPSG:4326 degrees: west, south, east, north.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    /// Minimum longitude.
    pub min_lon: f64,
    /// Minimum latitude.
    pub min_lat: f64,
    /// Maximum longitude.
    pub max_lon: f64,
    /// Maximum latitude.
    pub max_lat: f64,
}

/// What to list: an optional bbox (features that intersect it, as
/// `ST_Intersects`), equality filters on whitelisted properties, and a page.
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    /// Spatial filter.
    pub bbox: Option<Bbox>,
    /// `(queryable name, value)` pairs, all of which must hold; names are
    /// validated by the caller against the collection's queryables.
    pub properties: Vec<(String, String)>,
    /// Page size.
    pub limit: i64,
    /// Features to skip (ordered by id).
    pub offset: i64,
}

/// Appends ` and <bbox and property conditions>` for `filter` to `qb`, where
/// `geom` names the geometry column and `column` maps a queryable to a SQL
/// expression prefix and suffix around the bound value.
pub(crate) fn push_conditions<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    filter: &'a ItemFilter,
    geom: &str,
    column: impl Fn(&str) -> Option<(&'static str, &'static str)>,
) {
    if let Some(b) = filter.bbox {
        qb.push(" and ST_Intersects(")
            .push(geom)
            .push(", ST_MakeEnvelope(")
            .push_bind(b.min_lon)
            .push(", ")
            .push_bind(b.min_lat)
            .push(", ")
            .push_bind(b.max_lon)
            .push(", ")
            .push_bind(b.max_lat)
            .push(", 4326))");
    }
    for (name, value) in &filter.properties {
        if let Some((prefix, suffix)) = column(name) {
            qb.push(" and ")
                .push(prefix)
                .push_bind(value.as_str())
                .push(suffix);
        }
    }
}

/// Appends the ordering and page clause.
pub(crate) fn push_page<'a>(qb: &mut QueryBuilder<'a, Postgres>, filter: &'a ItemFilter, id: &str) {
    qb.push(" order by ")
        .push(id)
        .push(" limit ")
        .push_bind(filter.limit)
        .push(" offset ")
        .push_bind(filter.offset);
}
