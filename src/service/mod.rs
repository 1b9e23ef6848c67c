//! The application layer: every use-case of the service, once.
//!
//! The adapters — the HTTP API ([`crate::http`]), the command line
//! (`src/cli/`) — identify the caller and parse their input, then call a
//! method of [`Service`]. Each use-case owns its transaction, its audit row,
//! the coverage-index refresh after commit, the permission policy
//! ([`policy`]) and what a viewer may see ([`features::Viewer`]), and returns
//! domain results or a typed [`ServiceError`]; nothing here knows about axum
//! or status codes.
//!
//! | module | use-cases |
//! |---|---|
//! | [`features`] | read (now, as of an instant), list, create, replace, patch, delete, restore, history, change feed |
//! | [`export`] | whole-layer exports (CSV, GeoJSON, GeoPackage) |
//! | [`imports`] | bulk imports (dry run or all-or-nothing commit) |
//! | [`analysis`] | the underserved-districts report and the city summary |
//! | [`ducts`] | duct leases (request, decide, activate, release), the route finder and the capacity map |
//! | [`gaps`] | the coverage gap grid |
//! | [`read_model`] | the in-memory read model that answers pages, items and tiles |

pub mod analysis;
pub mod ducts;
pub mod error;
pub mod export;
pub mod features;
pub mod gaps;
pub mod imports;
pub mod policy;
pub mod read_model;
pub mod record;
pub mod render;

use std::sync::Arc;

use sqlx::PgPool;

pub use error::{ServiceError, ServiceResult};
pub use features::{Caller, IfMatch, Page, Update, Viewer, Visible};
pub use record::{Key, Record};

use crate::coverage::listener::CoverageState;
use crate::domain::classify::AnalysisConfig;
use crate::domain::region::ServiceRegion;

/// The service's core: the system of record (PostGIS), the in-memory
/// coverage index kept in step with it, and the analysis defaults. Cheap to
/// clone (shared handles).
#[derive(Clone)]
pub struct Service {
    /// Connection pool to PostGIS.
    pub pool: PgPool,
    /// The in-memory coverage index and its change listener's state.
    pub coverage: Arc<CoverageState>,
    /// Default thresholds of the underserved analysis.
    pub analysis: Arc<AnalysisConfig>,
    /// Where asset geometries may lie; every write and import checks it.
    pub region: Arc<ServiceRegion>,
    /// The duct network's capacity policy and snapshot.
    pub ducts: Arc<ducts::DuctState>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").finish_non_exhaustive()
    }
}
