//! Layer versions (migrations 0003 and 0005): the version every layer's
//! data is at, read in one statement, and the versions a write spans.

use sqlx::{PgConnection, PgExecutor};

use super::DbResult;
use crate::domain::CollectionId;

/// The version of every stored layer (`layer_versions.version`; 0 for a
/// layer not read yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Versions {
    /// `towers` (towers, their sectors and tenants).
    pub towers: i64,
    /// `fibre_routes`.
    pub fibre_routes: i64,
    /// `data_centres`.
    pub data_centres: i64,
    /// `districts`.
    pub districts: i64,
}

impl Versions {
    /// The version of collection `c`'s layer.
    pub fn get(&self, c: CollectionId) -> i64 {
        match c {
            CollectionId::Towers => self.towers,
            CollectionId::FibreRoutes => self.fibre_routes,
            CollectionId::DataCentres => self.data_centres,
            CollectionId::Districts => self.districts,
        }
    }

    /// Sets the version of collection `c`'s layer.
    pub fn set(&mut self, c: CollectionId, v: i64) {
        match c {
            CollectionId::Towers => self.towers = v,
            CollectionId::FibreRoutes => self.fibre_routes = v,
            CollectionId::DataCentres => self.data_centres = v,
            CollectionId::Districts => self.districts = v,
        }
    }
}

/// The layer name of collection `c` in `layer_versions`.
pub fn layer_name(c: CollectionId) -> &'static str {
    match c {
        CollectionId::Towers => "towers",
        CollectionId::FibreRoutes => "fibre_routes",
        CollectionId::DataCentres => "data_centres",
        CollectionId::Districts => "districts",
    }
}

/// The collection of layer `name` (`None` for another name).
pub fn layer_collection(name: &str) -> Option<CollectionId> {
    Some(match name {
        "towers" => CollectionId::Towers,
        "fibre_routes" => CollectionId::FibreRoutes,
        "data_centres" => CollectionId::DataCentres,
        "districts" => CollectionId::Districts,
        _ => return None,
    })
}

/// Every layer's version, in one statement (one snapshot).
///
/// # Errors
/// On database failure.
pub async fn versions<'e>(ex: impl PgExecutor<'e>) -> DbResult<Versions> {
    let rows: Vec<(String, i64)> = sqlx::query_as("select layer, version from layer_versions")
        .fetch_all(ex)
        .await?;
    let mut v = Versions::default();
    for (layer, version) in rows {
        if let Some(c) = layer_collection(&layer) {
            v.set(c, version);
        }
    }
    Ok(v)
}

/// The versions the current transaction's changes to `c`'s layer span:
/// `(base, now)`, where `base` is the version before its first change and
/// `now` the version it will commit (its row lock holds it until then).
/// `None` when the transaction has not changed the layer.
///
/// # Errors
/// On database failure.
pub async fn write_span(conn: &mut PgConnection, c: CollectionId) -> DbResult<Option<(i64, i64)>> {
    let layer = layer_name(c);
    let (now, base): (i64, Option<String>) = sqlx::query_as(
        "select version, current_setting('telecom_gis.base_' || layer, true)
         from layer_versions where layer = $1",
    )
    .bind(layer)
    .fetch_one(&mut *conn)
    .await?;
    Ok(base
        .filter(|b| !b.is_empty())
        .and_then(|b| b.parse().ok())
        .map(|b| (b, now)))
}
