//! A stored feature of any collection, as read inside a request: its
//! GeoJSON (as the viewer may see it), the exact document the audit history
//! records, and its ETag.

use serde_json::Value;
use sqlx::PgConnection;

use super::AppState;
use super::access::{Action, Actor, authorize, authorize_tower, sees_exact_fibre};
use super::error::{ApiError, ApiResult};
use super::features::{
    DataCentreFeature, DistrictFeature, FibreFeature, GeneralisedFibreFeature, Link, TowerFeature,
};
use crate::db::{self, DbError, DbResult};
use crate::domain::CollectionId;
use crate::domain::account::Account;
use crate::domain::data_centre::DataCentre;
use crate::domain::district::District;
use crate::domain::fibre::FibreRoute;
use crate::domain::tower::{NewTower, Tower};

/// A feature key: a numeric id, or a district code.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// Towers, fibre routes, data centres.
    Id(i64),
    /// Districts.
    Code(String),
}

/// A stored feature of any collection.
pub enum Record {
    /// A tower with its sectors.
    Tower(Tower),
    /// A fibre route.
    Fibre(FibreRoute),
    /// A data centre.
    DataCentre(DataCentre),
    /// A district.
    District(District),
}

impl Record {
    /// Reads a live feature (on the caller's connection or transaction).
    pub async fn load(
        conn: &mut PgConnection,
        c: CollectionId,
        key: &Key,
    ) -> DbResult<Option<Record>> {
        Ok(match (c, key) {
            (CollectionId::Towers, Key::Id(id)) => {
                db::towers::get(conn, *id).await?.map(Record::Tower)
            }
            (CollectionId::FibreRoutes, Key::Id(id)) => {
                db::fibre_routes::get(conn, *id).await?.map(Record::Fibre)
            }
            (CollectionId::DataCentres, Key::Id(id)) => db::data_centres::get(conn, *id)
                .await?
                .map(Record::DataCentre),
            (CollectionId::Districts, Key::Code(code)) => {
                db::districts::get(conn, code).await?.map(Record::District)
            }
            _ => None,
        })
    }

    /// Reads the live features of a numbered collection (not districts)
    /// with these ids, in id order for towers (one query), else in `ids`
    /// order; missing ones are left out.
    pub async fn load_many(
        conn: &mut PgConnection,
        c: CollectionId,
        ids: &[i64],
    ) -> DbResult<Vec<Record>> {
        if c == CollectionId::Towers {
            return Ok(db::towers::get_many(conn, ids)
                .await?
                .into_iter()
                .map(Record::Tower)
                .collect());
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(Record::load(conn, c, &Key::Id(*id)).await?);
        }
        Ok(out)
    }

    /// The feature id as in URLs.
    pub fn id(&self) -> String {
        match self {
            Record::Tower(t) => t.id.to_string(),
            Record::Fibre(f) => f.id.to_string(),
            Record::DataCentre(d) => d.id.to_string(),
            Record::District(d) => d.code.clone(),
        }
    }

    /// The owning operator (none for districts).
    pub fn owner(&self) -> Option<&str> {
        match self {
            Record::Tower(t) => Some(&t.operator),
            Record::Fibre(f) => Some(&f.operator),
            Record::DataCentre(d) => Some(&d.operator),
            Record::District(_) => None,
        }
    }

    /// Operators with a stake in the feature: the owner and a tower's tenants.
    pub fn involved(&self) -> Vec<String> {
        let mut v: Vec<String> = self.owner().map(str::to_owned).into_iter().collect();
        if let Record::Tower(t) = self {
            v.extend(t.tenants.iter().cloned());
        }
        v
    }

    /// The GeoJSON as `actor` may see it, with `links` when given.
    pub fn serialise(
        &self,
        st: &AppState,
        actor: Option<&Actor>,
        links: Option<&[Link]>,
    ) -> ApiResult<Vec<u8>> {
        match self {
            Record::Tower(t) => to_json(&TowerFeature(t, links, &st.coverage.snapshot())),
            Record::Fibre(f) => match actor {
                Some(a) if !sees_exact_fibre(a, &f.operator) => {
                    to_json(&GeneralisedFibreFeature(f, links))
                }
                _ => to_json(&FibreFeature(f, links)),
            },
            Record::DataCentre(d) => to_json(&DataCentreFeature(d, links)),
            Record::District(d) => to_json(&DistrictFeature(d, links)),
        }
    }

    /// The exact GeoJSON without links: what the history records and the
    /// ETag is computed from.
    pub fn document(&self, st: &AppState) -> ApiResult<Value> {
        serde_json::from_slice(&self.serialise(st, None, None)?).map_err(ApiError::internal)
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(ApiError::internal)
}

/// The strong ETag of a feature document (a hash of its exact bytes).
pub fn etag_of(doc: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(doc);
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Records the audit history of bulk imports: renders the documents of the
/// features an import touches, as the items API serves them.
pub struct ImportAudit<'a> {
    /// Service state (coverage index for sector ranges).
    pub state: &'a AppState,
    /// Who imports.
    pub account: Account,
    /// The request's id.
    pub request_id: Option<String>,
}

impl crate::import::Audit for ImportAudit<'_> {
    fn documents<'c>(
        &'c self,
        conn: &'c mut PgConnection,
        layer: CollectionId,
        ids: &'c [i64],
    ) -> crate::import::Documents<'c> {
        Box::pin(async move {
            // Rendering a stored feature as JSON does not fail in practice;
            // the trait speaks DbError, so carry the message.
            let unrenderable = |e: ApiError| DbError::Sqlx(sqlx::Error::Protocol(e.to_string()));
            Record::load_many(conn, layer, ids)
                .await?
                .into_iter()
                .map(|rec| {
                    let id = rec.id().parse().unwrap_or_default();
                    Ok((id, rec.document(self.state).map_err(unrenderable)?))
                })
                .collect()
        })
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    fn authorize_tower(&self, before: Option<&Tower>, after: &NewTower) -> Result<(), String> {
        let action = if before.is_some() {
            Action::Update
        } else {
            Action::Create
        };
        authorize_tower(&self.actor(), action, before, Some(after)).map_err(|e| e.problem().detail)
    }

    fn authorize_owner(&self, layer: CollectionId, owner: &str) -> Result<(), String> {
        authorize(&self.actor(), Action::Create, layer, Some(owner)).map_err(|e| e.problem().detail)
    }
}

impl ImportAudit<'_> {
    fn actor(&self) -> Actor {
        Actor::Account(self.account.clone())
    }
}
