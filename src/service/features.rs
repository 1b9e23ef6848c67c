//! The feature use-cases of every collection: read (now or as of a past
//! instant), create, replace, patch, delete, restore, a feature's history
//! and the change feed.
//!
//! Each write runs in one transaction that locks the feature, checks the
//! permission policy and the caller's `If-Match` version, validates, writes,
//! and records the audit row (the stored forms before and after); after the
//! commit the coverage index is patched. Each read applies what the caller
//! may see ([`Viewer`]) before filtering, so a filter never tells a caller
//! more than the features it is shown.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::PgConnection;
use tracing::Instrument;

use super::Service;
use super::error::{ServiceError, ServiceResult};
use super::policy::{
    Action, Actor, Denied, FibreView, authorize, authorize_history, authorize_tower,
    authorize_tower_stake, sign_in_required,
};
use super::read_model::{Entry as ModelEntry, ReadModel, Rendered};
use super::record::{Key, Record};
use super::render::{GeneralisedWith, Link, Ranges};
use crate::coverage::index::CoverageIndex;
use crate::db::history::{Change, Entry, FeedFilter, Op};
use crate::db::{self, Bbox, ItemFilter};
use crate::domain::account::Account;
use crate::domain::data_centre::NewDataCentre;
use crate::domain::district::NewDistrict;
use crate::domain::duct_bank::NewDuctBank;
use crate::domain::fibre::NewFibreRoute;
use crate::domain::region::ServiceRegion;
use crate::domain::structure::NewStructure;
use crate::domain::tower::NewTower;
use crate::domain::{CollectionId, DataCentreId, DistrictCode, FibreRouteId, Invalid, TowerId};
use crate::spatial::generalise::{Generalised, generalise};

/// Who reads, and what of the network they may see: exact fibre routes of
/// every operator, of one operator, or none (the rest generalised to H3
/// cells). Built once per request; every read use-case applies it.
#[derive(Debug, Clone)]
pub struct Viewer {
    actor: Actor,
    fibre: FibreView,
}

impl Viewer {
    /// The view of `actor`.
    pub fn new(actor: Actor) -> Self {
        let fibre = FibreView::of(&actor);
        Viewer { actor, fibre }
    }

    /// Who is reading.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Which fibre routes the viewer sees exactly.
    pub fn fibre(&self) -> &FibreView {
        &self.fibre
    }

    /// True when the viewer sees `rec` exactly (every feature but another
    /// operator's fibre route, for most viewers).
    pub fn sees_exactly(&self, rec: &Record) -> bool {
        match rec {
            Record::Fibre(f) => self.fibre.exact(&f.operator),
            _ => true,
        }
    }

    /// True when every feature of `c` is seen exactly, so listing it needs
    /// no per-feature visibility.
    pub fn sees_all_exactly(&self, c: CollectionId) -> bool {
        c != CollectionId::FibreRoutes || self.fibre == FibreView::All
    }

    /// A live record as this viewer may see it.
    pub fn visible(&self, record: Record, index: &Arc<CoverageIndex>) -> Visible {
        let exact = self.sees_exactly(&record);
        Visible {
            record: Arc::new(record),
            exact,
            past: false,
            index: index.clone(),
            generalised: None,
            rendered: None,
        }
    }

    /// A record as it was at a past instant, as this viewer may see it (its
    /// modelled ranges computed from its own sectors, not the indexed ones).
    fn visible_past(&self, record: Record, index: &Arc<CoverageIndex>) -> Visible {
        Visible {
            past: true,
            ..self.visible(record, index)
        }
    }

    /// True when the viewer may read the audit history of `rec`'s feature.
    fn may_read_history(&self, c: CollectionId, owner: Option<&str>, involved: &[String]) -> bool {
        authorize_history(&self.actor, c, owner, involved).is_ok()
    }
}

/// A feature as one viewer may see it: render it with [`Visible::to_json`];
/// its version is [`Visible::etag`].
#[derive(Debug, Clone)]
pub struct Visible {
    record: Arc<Record>,
    exact: bool,
    /// True for a record as it was (from the history), false for a live one.
    past: bool,
    index: Arc<CoverageIndex>,
    /// The generalised form of a fibre route not seen exactly, once
    /// computed on the CPU pool ([`Visible::generalise`]).
    generalised: Option<Arc<Generalised>>,
    /// The served form rendered once by the read model (without links).
    rendered: Option<Rendered>,
}

impl Visible {
    /// A feature of the read model, seen exactly (`exact`) or generalised.
    fn from_entry(e: &ModelEntry, exact: bool, index: &Arc<CoverageIndex>) -> Self {
        let public = e.public.as_ref().filter(|_| !exact);
        Visible {
            record: e.record.clone(),
            exact,
            past: false,
            index: index.clone(),
            generalised: public.map(|p| p.generalised.clone()),
            rendered: Some(public.map_or_else(|| e.exact.clone(), |p| p.rendered.clone())),
        }
    }

    /// The stored feature behind the view.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The feature's key.
    pub fn key(&self) -> Key {
        self.record.key()
    }

    /// True when the feature is shown exactly (false: a generalised fibre route).
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// The served GeoJSON (derived values included), with `links` when given.
    ///
    /// # Errors
    /// [`ServiceError::Output`] if serialisation fails.
    pub fn to_json(&self, links: Option<&[Link]>) -> ServiceResult<Vec<u8>> {
        if let Some(r) = &self.rendered {
            return with_links(r.json.get(), links);
        }
        match (&*self.record, &self.generalised) {
            (Record::Fibre(f), Some(g)) if !self.exact => {
                serde_json::to_vec(&GeneralisedWith(f, links, g))
                    .map_err(|e| ServiceError::output("rendering a feature as GeoJSON", e))
            }
            _ => self.record.to_json(self.exact, Some(self.ranges()), links),
        }
    }

    /// Computes the generalised form of a fibre route not seen exactly
    /// (capped per route: [`crate::spatial::generalise::MAX_ROUTE_SAMPLES`]),
    /// so that rendering does no geometry work. Call it on the CPU pool.
    fn generalise(&mut self) {
        if let (Record::Fibre(f), false, None) = (&*self.record, self.exact, &self.generalised) {
            self.generalised = Some(generalise(&f.geometry));
        }
    }

    /// True when rendering would generalise a route.
    fn needs_generalising(&self) -> bool {
        matches!(*self.record, Record::Fibre(_)) && !self.exact && self.generalised.is_none()
    }

    /// Where the served form's modelled ranges come from.
    fn ranges(&self) -> Ranges<'_> {
        if self.past {
            Ranges::Past(&self.index)
        } else {
            Ranges::Current(&self.index)
        }
    }

    /// The strong ETag of this view: a hash of its stored form (independent
    /// of the coverage configuration and of links).
    ///
    /// # Errors
    /// As [`Visible::to_json`].
    pub fn etag(&self) -> ServiceResult<String> {
        if let Some(r) = &self.rendered {
            return Ok(r.etag.to_string());
        }
        match (&*self.record, &self.generalised) {
            (Record::Fibre(f), Some(g)) if !self.exact => {
                let bytes = serde_json::to_vec(&GeneralisedWith(f, None, g))
                    .map_err(|e| ServiceError::output("rendering a feature as GeoJSON", e))?;
                Ok(super::record::etag_of(&bytes))
            }
            _ => self.record.etag(self.exact),
        }
    }

    /// The served document without links, as a JSON value.
    fn document(&self) -> ServiceResult<Value> {
        serde_json::from_slice(&self.to_json(None)?)
            .map_err(|e| ServiceError::output("reading back a served document", e))
    }

    /// True when the feature, as seen, passes the bbox and property filters.
    fn matches(&self, filter: &ItemFilter) -> ServiceResult<bool> {
        Ok(document_matches(&self.document()?, filter))
    }
}

impl Serialize for Visible {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use crate::service::render::{
            DataCentreFeature, DistrictFeature, DuctBankFeature, FibreFeature,
            GeneralisedFibreFeature, StructureFeature, TowerFeature,
        };
        if let Some(r) = &self.rendered {
            return r.json.serialize(s);
        }
        match &*self.record {
            Record::Tower(t) => TowerFeature(t, None, Some(self.ranges())).serialize(s),
            Record::Fibre(f) if !self.exact => match &self.generalised {
                Some(g) => GeneralisedWith(f, None, g).serialize(s),
                None => GeneralisedFibreFeature(f, None).serialize(s),
            },
            Record::Fibre(f) => FibreFeature(f, None).serialize(s),
            Record::DataCentre(d) => DataCentreFeature(d, None).serialize(s),
            Record::District(d) => DistrictFeature(d, None).serialize(s),
            Record::Structure(x) => StructureFeature(x, None).serialize(s),
            Record::DuctBank(b) => DuctBankFeature(b, None).serialize(s),
        }
    }
}

/// One page of features and how many match over all pages.
#[derive(Debug)]
pub struct Page {
    /// The features of the page, in id order.
    pub features: Vec<Visible>,
    /// Features matching the filter (as the viewer sees them) over all pages.
    pub matched: i64,
}

/// The caller of a write: who, and the request it came in (for the audit
/// history).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who writes.
    pub actor: Actor,
    /// The request id (`X-Request-Id`), recorded with each change.
    pub request_id: Option<String>,
}

impl Caller {
    /// The caller's account.
    ///
    /// # Errors
    /// [`Denied::SignInRequired`] for the public, naming `what` needs an account.
    pub fn account(&self, what: &str) -> Result<&Account, Denied> {
        match &self.actor {
            Actor::Account(a) => Ok(a),
            Actor::Anonymous => Err(sign_in_required(what)),
        }
    }
}

/// The version a change is based on (`If-Match`): the adapter parses the
/// condition (RFC 9110 §13.1.1, strong comparison) and the use-case checks
/// it against the current ETag inside its transaction, after locking.
#[derive(Clone, Default)]
pub struct IfMatch(Option<EtagMatcher>);

/// True when a condition holds for the current ETag.
type EtagMatcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

impl std::fmt::Debug for IfMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "IfMatch(given)"
        } else {
            "IfMatch(absent)"
        })
    }
}

impl IfMatch {
    /// No condition given: changes are refused (lost-update protection).
    pub fn absent() -> Self {
        IfMatch(None)
    }

    /// A condition that holds when `matches(current_etag)`.
    pub fn matching(matches: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        IfMatch(Some(Arc::new(matches)))
    }

    /// Checks the condition against the current ETag.
    ///
    /// # Errors
    /// [`ServiceError::PreconditionRequired`] when absent,
    /// [`ServiceError::PreconditionFailed`] when it does not match.
    pub fn check(&self, current: &str) -> ServiceResult<()> {
        match &self.0 {
            Some(matches) if matches(current) => Ok(()),
            None => Err(ServiceError::PreconditionRequired(
                "send If-Match with the feature's ETag (from GET) so that changes made meanwhile \
                 are not overwritten"
                    .into(),
            )),
            Some(_) => Err(ServiceError::PreconditionFailed {
                detail: format!(
                    "the feature has changed since it was read (its ETag is now {current}); GET \
                     it again and reapply the change"
                ),
                current_etag: current.to_owned(),
            }),
        }
    }
}

/// The audit history of one feature, as its reader may see it.
#[derive(Debug)]
pub struct History {
    /// Every change, oldest first.
    pub entries: Vec<Entry>,
    /// True when the feature is deleted now.
    pub deleted: bool,
}

/// A feature body split into its GeoJSON Feature parts.
struct FeatureParts<'a> {
    geometry: Option<&'a Value>,
    properties: std::borrow::Cow<'a, Map<String, Value>>,
    id: Option<&'a Value>,
}

fn malformed(pointer: &str, detail: impl Into<String>) -> ServiceError {
    ServiceError::Malformed {
        pointer: pointer.to_owned(),
        detail: detail.into(),
    }
}

/// Checks that `v` is a GeoJSON Feature and splits it.
fn feature_parts(v: &Value) -> ServiceResult<FeatureParts<'_>> {
    let Some(obj) = v.as_object() else {
        return Err(malformed("", "the body must be a GeoJSON Feature object"));
    };
    match obj.get("type").and_then(Value::as_str) {
        Some("Feature") => {}
        Some("FeatureCollection") => {
            return Err(malformed(
                "/type",
                "send one Feature per request (bulk: POST /imports)",
            ));
        }
        Some(other) => {
            return Err(malformed(
                "/type",
                format!("must be \"Feature\", got \"{other}\""),
            ));
        }
        None => return Err(malformed("/type", "is required and must be \"Feature\"")),
    }
    let mut crs_errors = Invalid::default();
    crate::domain::geometry::check_crs_member(obj, "", &mut crs_errors);
    if !crs_errors.is_empty() {
        return Err(ServiceError::Invalid(crs_errors));
    }
    let properties = match obj.get("properties") {
        None | Some(Value::Null) => std::borrow::Cow::Owned(Map::new()),
        Some(Value::Object(m)) => std::borrow::Cow::Borrowed(m),
        Some(_) => return Err(malformed("/properties", "must be an object (or null)")),
    };
    Ok(FeatureParts {
        geometry: obj.get("geometry"),
        properties,
        id: obj.get("id"),
    })
}

/// Validates `v` as a feature of collection `c` as create does, without the
/// database checks (operators, uniqueness); the fuzz harness's entry point.
///
/// # Errors
/// [`ServiceError::Malformed`] for a body that is not a Feature,
/// [`ServiceError::Invalid`] for an invalid one.
pub fn parse_feature(c: CollectionId, v: &Value) -> ServiceResult<()> {
    Input::parse(c, v, None).map(|_| ())
}

/// Positions in a feature's geometry from which it is validated on the CPU
/// pool ([`crate::cpu`]) rather than on the async runtime: below, the
/// checks take well under a millisecond.
pub const POOL_VALIDATION_POSITIONS: usize = 2_000;

/// True when `v`'s `geometry.coordinates` hold at least `at_least`
/// positions (counted up to that many).
fn has_positions(v: &Value, at_least: usize) -> bool {
    fn count(v: &Value, left: &mut usize) {
        let Value::Array(items) = v else { return };
        if items.first().is_some_and(Value::is_number) {
            *left = left.saturating_sub(1);
            return;
        }
        for item in items {
            if *left == 0 {
                return;
            }
            count(item, left);
        }
    }
    let mut left = at_least;
    if let Some(c) = v.get("geometry").and_then(|g| g.get("coordinates")) {
        count(c, &mut left);
    }
    left == 0
}

/// [`Input::parse`], on the CPU pool for geometries of
/// [`POOL_VALIDATION_POSITIONS`] positions or more.
async fn parse_input(c: CollectionId, doc: &Value, key: Option<&Key>) -> ServiceResult<Input> {
    if !has_positions(doc, POOL_VALIDATION_POSITIONS) {
        return Input::parse(c, doc, key);
    }
    let (doc, key) = (doc.clone(), key.cloned());
    crate::cpu::run(move |_| Input::parse(c, &doc, key.as_ref())).await?
}

/// A validated feature of any collection.
enum Input {
    Tower(NewTower),
    Fibre(NewFibreRoute),
    DataCentre(NewDataCentre),
    District(NewDistrict),
    Structure(NewStructure),
    DuctBank(NewDuctBank),
}

impl Input {
    fn parse(c: CollectionId, v: &Value, key: Option<&Key>) -> ServiceResult<Input> {
        let parts = feature_parts(v)?;
        if let (Some(key), Some(id)) = (key, parts.id) {
            let given = match id {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if given != key.as_string() {
                return Err(ServiceError::Invalid(Invalid::one(
                    "/id",
                    format!(
                        "id {given} does not match the feature in the URL ({})",
                        key.as_string()
                    ),
                )));
            }
        }
        let g = parts.geometry;
        let p = parts.properties.as_ref();
        Ok(match c {
            CollectionId::Towers => Input::Tower(NewTower::from_feature(g, p)?),
            CollectionId::FibreRoutes => Input::Fibre(NewFibreRoute::from_feature(g, p)?),
            CollectionId::DataCentres => Input::DataCentre(NewDataCentre::from_feature(g, p)?),
            CollectionId::Structures => Input::Structure(NewStructure::from_feature(g, p)?),
            CollectionId::DuctBanks => Input::DuctBank(NewDuctBank::from_feature(g, p)?),
            CollectionId::Districts => {
                let hint = match (key, parts.id) {
                    (Some(Key::Code(code)), _) => Some(code.clone()),
                    (_, Some(Value::String(s))) => Some(s.clone()),
                    _ => None,
                };
                let d = NewDistrict::from_feature(g, p, hint.as_deref())?;
                if let Some(Key::Code(code)) = key
                    && d.code.as_str() != code
                {
                    return Err(ServiceError::Invalid(Invalid::one(
                        "/properties/code",
                        format!(
                            "the code cannot change ({code} in the URL); create a new district instead"
                        ),
                    )));
                }
                Input::District(d)
            }
        })
    }

    /// Checks the geometry against the service region (where assets may
    /// lie, how long a route may be).
    fn check_region(&self, region: &ServiceRegion) -> ServiceResult<()> {
        let point = |lon, lat| geo::Geometry::Point(geo::Point::new(lon, lat));
        match self {
            Input::Tower(t) => region.check(&point(t.lon, t.lat), None),
            Input::Fibre(f) => region.check(&f.geometry, Some(f.route())),
            Input::DataCentre(d) => region.check(&d.geometry, None),
            Input::District(d) => {
                region.check(&geo::Geometry::MultiPolygon(d.geometry.clone()), None)
            }
            Input::Structure(s) => region.check(&point(s.lon, s.lat), None),
            Input::DuctBank(b) => {
                region.check(&geo::Geometry::LineString(b.geometry.clone()), None)
            }
        }
        .map_err(ServiceError::Invalid)
    }

    fn owner(&self) -> Option<&str> {
        match self {
            Input::Tower(t) => Some(&t.operator),
            Input::Fibre(f) => Some(&f.operator),
            Input::DataCentre(d) => Some(&d.operator),
            Input::District(_) => None,
            Input::Structure(s) => s.owner.column(),
            Input::DuctBank(b) => b.owner.column(),
        }
    }

    /// The permission check for writing `self` over `before` (None: create).
    fn authorize(
        &self,
        actor: &Actor,
        before: Option<&Record>,
        c: CollectionId,
    ) -> Result<(), Denied> {
        let action = if before.is_some() {
            Action::Update
        } else {
            Action::Create
        };
        match (self, before) {
            (Input::Tower(new), Some(Record::Tower(old))) => {
                authorize_tower(actor, action, Some(old), Some(new))
            }
            (Input::Tower(new), None) => authorize_tower(actor, action, None, Some(new)),
            (_, before) => {
                if let Some(old) = before {
                    authorize(actor, action, c, old.owner())?;
                }
                authorize(actor, action, c, self.owner())
            }
        }
    }

    async fn insert(&self, conn: &mut PgConnection) -> ServiceResult<Key> {
        Ok(match self {
            Input::Tower(t) => Key::Id(db::towers::insert(conn, t).await?.get()),
            Input::Fibre(f) => Key::Id(db::fibre_routes::insert(conn, f).await?.get()),
            Input::DataCentre(d) => Key::Id(db::data_centres::insert(conn, d).await?.get()),
            Input::District(d) => Key::Code(db::districts::insert(conn, d).await?.into()),
            Input::Structure(s) => Key::Id(db::structures::insert(conn, s).await?),
            Input::DuctBank(b) => Key::Id(db::duct_banks::insert(conn, b).await?),
        })
    }

    async fn replace(&self, conn: &mut PgConnection, key: &Key) -> ServiceResult<bool> {
        Ok(match (self, key) {
            (Input::Tower(t), Key::Id(id)) => db::towers::replace(conn, TowerId(*id), t).await?,
            (Input::Fibre(f), Key::Id(id)) => {
                db::fibre_routes::replace(conn, FibreRouteId(*id), f).await?
            }
            (Input::DataCentre(d), Key::Id(id)) => {
                db::data_centres::replace(conn, DataCentreId(*id), d).await?
            }
            (Input::District(d), Key::Code(code)) => {
                db::districts::replace(conn, &DistrictCode(code.clone()), d).await?
            }
            (Input::Structure(s), Key::Id(id)) => db::structures::replace(conn, *id, s).await?,
            (Input::DuctBank(b), Key::Id(id)) => db::duct_banks::replace(conn, *id, b).await?,
            _ => false,
        })
    }
}

/// The duct banks that end at structure `id`, with their stored forms: what
/// follows the structure when it moves (their changes go to the history).
///
/// # Errors
/// [`ServiceError::Db`].
pub(crate) async fn banks_following(
    conn: &mut PgConnection,
    id: i64,
) -> ServiceResult<Vec<(i64, Value)>> {
    let mut docs = Vec::new();
    for bank in db::structures::banks_at(conn, id).await? {
        if let Some(b) = Record::load(conn, CollectionId::DuctBanks, &Key::Id(bank)).await? {
            docs.push((bank, b.stored_document()?));
        }
    }
    Ok(docs)
}

/// What a replace or patch sends: a whole feature, or a merge patch of its
/// stored form.
#[derive(Debug, Clone)]
pub enum Update {
    /// The complete new feature.
    Replace(Value),
    /// A JSON merge patch (RFC 7396) of the feature's stored GeoJSON.
    MergePatch(Value),
}

fn not_found(c: CollectionId, key: &Key) -> ServiceError {
    ServiceError::NotFound(format!(
        "no feature '{}' in collection '{c}'",
        key.as_string()
    ))
}

/// A rendered Feature object (`{…}` without links) with `links` appended as
/// its last member, as serialising the feature with them would write it.
fn with_links(json: &str, links: Option<&[Link]>) -> ServiceResult<Vec<u8>> {
    let Some(links) = links else {
        return Ok(json.as_bytes().to_vec());
    };
    let links = serde_json::to_vec(links)
        .map_err(|e| ServiceError::output("rendering a feature's links", e))?;
    let body = json.trim_end().strip_suffix('}').unwrap_or(json);
    let mut out = Vec::with_capacity(body.len() + links.len() + 12);
    out.extend_from_slice(body.as_bytes());
    out.extend_from_slice(b",\"links\":");
    out.extend_from_slice(&links);
    out.push(b'}');
    Ok(out)
}

/// The layers a read of collection `c` depends on: its own, and for towers
/// the districts (the modelled ranges depend on their clutter classes).
fn read_layers(c: CollectionId) -> &'static [CollectionId] {
    match c {
        CollectionId::Towers => &[CollectionId::Towers, CollectionId::Districts],
        CollectionId::FibreRoutes => &[CollectionId::FibreRoutes],
        CollectionId::DataCentres => &[CollectionId::DataCentres],
        CollectionId::Districts => &[CollectionId::Districts],
        CollectionId::Structures => &[CollectionId::Structures],
        CollectionId::DuctBanks => &[CollectionId::DuctBanks],
    }
}

fn stamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A feature document and its sort key (numeric id, else code).
fn sort_key(v: &Visible) -> (i64, String) {
    let id = v.record.id();
    (id.parse().unwrap_or(i64::MAX), id)
}

/// True when a served feature document passes the bbox and property filters.
fn document_matches(doc: &Value, filter: &ItemFilter) -> bool {
    use geo::Intersects;
    if let Some(b) = filter.bbox {
        let rect = geo::Rect::new(
            geo::coord! { x: b.min_lon, y: b.min_lat },
            geo::coord! { x: b.max_lon, y: b.max_lat },
        );
        let hit = serde_json::from_value::<geojson::Geometry>(doc["geometry"].clone())
            .ok()
            .and_then(|g| geo::Geometry::<f64>::try_from(g).ok())
            .is_some_and(|g| g.intersects(&rect));
        if !hit {
            return false;
        }
    }
    let p = &doc["properties"];
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    filter
        .properties
        .iter()
        .all(|(name, value)| match name.as_str() {
            "tenant" => p["tenants"]
                .as_array()
                .is_some_and(|a| a.iter().any(|t| t.as_str() == Some(value))),
            "technology" => p["sectors"]
                .as_array()
                .is_some_and(|a| a.iter().any(|s| s["technology"].as_str() == Some(value))),
            other => text(&p[other]).as_deref() == Some(value.as_str()),
        })
}

/// Filters, counts and pages features in memory.
/// Features between two cancellation checks of [`page_in_memory`].
const CHECK_EVERY: usize = 64;

/// [`page_in_memory`] on the CPU pool: the generalisation of the routes the
/// viewer may not see exactly, and the filters applied to what they see.
async fn page_on_pool(all: Vec<Visible>, filter: &ItemFilter) -> ServiceResult<Page> {
    let filter = filter.clone();
    crate::cpu::run(move |cancel| page_in_memory(all, &filter, cancel)).await?
}

/// `v` with its generalised form computed on the CPU pool, when it has one.
async fn generalised(mut v: Visible) -> ServiceResult<Visible> {
    if !v.needs_generalising() {
        return Ok(v);
    }
    Ok(crate::cpu::run(move |_| {
        v.generalise();
        v
    })
    .await?)
}

fn page_in_memory(
    mut all: Vec<Visible>,
    filter: &ItemFilter,
    cancel: &crate::cpu::Cancel,
) -> ServiceResult<Page> {
    all.sort_by_key(sort_key);
    let mut matched = Vec::new();
    for (k, mut v) in all.into_iter().enumerate() {
        if k % CHECK_EVERY == 0 {
            cancel.check()?;
        }
        v.generalise();
        if v.matches(filter)? {
            matched.push(v);
        }
    }
    let n = i64::try_from(matched.len()).unwrap_or(i64::MAX);
    let features = matched
        .into_iter()
        .skip(usize::try_from(filter.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(filter.limit).unwrap_or(usize::MAX))
        .collect();
    Ok(Page {
        features,
        matched: n,
    })
}

/// How far a generalised route's cells reach beyond its line, degrees: the
/// database pre-selects routes in the bbox widened by this much, then the
/// bbox is applied to what the viewer sees.
const GENERALISED_PAD_DEG: f64 = 0.02;

impl Service {
    /// Records a change: the audit row in `tx` (the stored documents before
    /// and after it), the commit, then the refresh of the coverage index
    /// and the read model with the record as `tx` left it (`after`'s).
    async fn commit_change(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        caller: &Caller,
        c: CollectionId,
        key: &Key,
        op: Op,
        (before, after): (Option<&Value>, Option<(&Record, &Value)>),
    ) -> ServiceResult<()> {
        let (written, after) = (after.map(|a| a.0), after.map(|a| a.1));
        let who = caller.account("writing")?;
        let id = key.as_string();
        let change = Change {
            collection: c,
            feature_id: &id,
            op,
            actor: who,
            request_id: caller.request_id.as_deref(),
            before,
            after,
        };
        db::history::record(&mut tx, &change).await?;
        let span = db::layers::commit_with_span(tx, c).await?;
        self.after_commit(c, key, span, written).await;
        tracing::info!(collection = %c, %id, actor = who.name, op = op.as_str(), "feature written");
        Ok(())
    }

    /// Brings the coverage index and the read model up to date after a
    /// committed write of `key` that moved its layer's version by `span`
    /// (the NOTIFY listener would too, later; this makes the write visible
    /// to the next request at once). Both are patched together, in a task
    /// of their own: a client that hangs up does not cancel a patch that
    /// other writers' requests were combined into. Failures are logged; the
    /// listener retries.
    async fn after_commit(
        &self,
        c: CollectionId,
        key: &Key,
        span: Option<(i64, i64)>,
        written: Option<&Record>,
    ) {
        let (pool, coverage, key) = (self.pool.clone(), self.coverage.clone(), key.clone());
        let written = match written {
            Some(Record::Tower(t)) => Some(t.clone()),
            _ => None,
        };
        let sectors = written
            .as_ref()
            .map(crate::coverage::index::indexed_sectors)
            .unwrap_or_default();
        let refresh = async move {
            let index = async {
                match (c, &key, span) {
                    // As the transaction left it: nothing to read again.
                    (CollectionId::Towers, Key::Id(id), Some((_, now))) => {
                        coverage.patch_written(&pool, *id, now, sectors).await
                    }
                    (CollectionId::Towers, Key::Id(id), None) => {
                        coverage.refresh_towers(&pool, &[*id]).await
                    }
                    (CollectionId::FibreRoutes | CollectionId::DataCentres, _, _) => {
                        coverage.reload_layers(&pool).await
                    }
                    (CollectionId::Districts, _, _) => coverage.reload(&pool).await,
                    _ => Ok(()),
                }
            };
            let model = async {
                match (c, &key, ReadModel::of(&coverage)) {
                    (CollectionId::Towers, Key::Id(id), Some(model)) => {
                        model.after_tower_write(&pool, *id, written, span).await
                    }
                    _ => Ok(()),
                }
            };
            let (index, model) = tokio::join!(index, model);
            if let Err(e) = index {
                tracing::warn!(error = %e, "coverage index refresh failed; the change listener will retry");
            }
            if let Err(e) = model {
                tracing::warn!(error = %e, "read model refresh failed; the change listener will retry");
            }
        };
        let task = tokio::spawn(refresh.instrument(tracing::Span::current()));
        if let Err(e) = task.await {
            tracing::warn!(error = %e, "index refresh task failed; the change listener will retry");
        }
    }

    /// The 404 for a feature that is not live: when it was deleted, says so
    /// (and when, and by whom, to those who may read its history).
    async fn not_live(
        &self,
        conn: &mut PgConnection,
        viewer: &Viewer,
        c: CollectionId,
        key: &Key,
    ) -> ServiceError {
        let id = key.as_string();
        match db::history::last(conn, c, &id).await {
            Ok(Some(e)) if e.op == "delete" => {
                let owner = e
                    .before
                    .as_ref()
                    .and_then(|d| d["properties"]["operator"].as_str());
                let detail = if viewer.may_read_history(c, owner, &e.operators) {
                    format!(
                        "feature '{id}' of collection '{c}' was deleted at {} by {}; an \
                         administrator may restore it (POST .../items/{id}/restore)",
                        stamp(&e.at),
                        e.actor
                    )
                } else {
                    format!("feature '{id}' of collection '{c}' was deleted")
                };
                ServiceError::NotFound(detail)
            }
            _ => not_found(c, key),
        }
    }

    /// The lon/lat extent `[west, south, east, north]` of collection `c` as
    /// `viewer` sees it (`None` when it is empty). Fibre routes the viewer
    /// may not see exactly count with their generalised cells, so the extent
    /// tells no more than the generalised layer does.
    ///
    /// # Errors
    /// [`ServiceError::Db`]; [`ServiceError::Task`] when generalising failed.
    pub async fn extent(
        &self,
        viewer: &Viewer,
        c: CollectionId,
    ) -> ServiceResult<Option<[f64; 4]>> {
        if c != CollectionId::FibreRoutes || viewer.fibre() == &FibreView::All {
            return Ok(db::extent(&self.pool, c).await?);
        }
        let routes = db::fibre_routes::geometries(&self.pool).await?;
        let view = viewer.fibre().clone();
        // Generalising is CPU work (memoised per route): off the runtime.
        let rect =
            tokio::task::spawn_blocking(move || {
                use geo::BoundingRect;
                routes
                .iter()
                .filter_map(|(operator, g)| {
                    if view.exact(operator) {
                        g.bounding_rect()
                    } else {
                        crate::spatial::generalise::generalise(g).outline.bounding_rect()
                    }
                })
                .reduce(|a, b| {
                    geo::Rect::new(
                        geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                        geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
                    )
                })
            })
            .await
            .map_err(|source| ServiceError::Task {
                context: "generalising the fibre routes' extent",
                source,
            })?;
        Ok(rect.map(|r| [r.min().x, r.min().y, r.max().x, r.max().y]))
    }

    /// One live feature as `viewer` may see it.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] (saying when it was deleted, if it was);
    /// [`ServiceError::Db`].
    pub async fn get(&self, viewer: &Viewer, c: CollectionId, key: &Key) -> ServiceResult<Visible> {
        authorize(viewer.actor(), Action::Read, c, None)?;
        if c.in_read_model()
            && let Some(model) = ReadModel::of(&self.coverage)
            && let Some(inv) = model
                .fresh(&self.pool, &self.coverage, read_layers(c))
                .await?
            && let Some(e) = inv.get(c, key)
        {
            let exact = match &*e.record {
                Record::Fibre(f) => viewer.fibre().exact(&f.operator),
                _ => true,
            };
            return Ok(Visible::from_entry(e, exact, &self.coverage.snapshot()));
        }
        let mut conn = self.pool.acquire().await?;
        match Record::load(&mut conn, c, key).await? {
            Some(rec) => generalised(viewer.visible(rec, &self.coverage.snapshot())).await,
            None => Err(self.not_live(&mut conn, viewer, c, key).await),
        }
    }

    /// One feature as it was at instant `at`, as `viewer` may see it, from
    /// the audit history (features without history count as unchanged since
    /// they were created).
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] when it did not exist then; [`ServiceError::Db`].
    pub async fn get_as_of(
        &self,
        viewer: &Viewer,
        c: CollectionId,
        key: &Key,
        at: DateTime<Utc>,
    ) -> ServiceResult<Visible> {
        authorize(viewer.actor(), Action::Read, c, None)?;
        let id = key.as_string();
        let mut conn = self.pool.acquire().await?;
        let history = db::history::documents_at(&mut conn, c, at, Some(std::slice::from_ref(&id)))
            .await?
            .pop();
        let rec = match history {
            Some((_, doc)) => record_from_history(c, &doc),
            None if db::history::last(&mut conn, c, &id).await?.is_none() => {
                Record::load(&mut conn, c, key)
                    .await?
                    .filter(|rec| rec.created_at() <= at)
            }
            None => None,
        };
        let rec = rec.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "feature '{id}' of collection '{c}' did not exist at {}",
                stamp(&at)
            ))
        })?;
        generalised(viewer.visible_past(rec, &self.coverage.snapshot())).await
    }

    /// A page of the live features of `c` matching `filter`, as `viewer` may
    /// see them; the filter applies to what the viewer sees (a generalised
    /// route matches a bbox by its cells, and never by an attribute the
    /// viewer is not shown).
    ///
    /// # Errors
    /// [`ServiceError::Db`].
    pub async fn list(
        &self,
        viewer: &Viewer,
        c: CollectionId,
        filter: &ItemFilter,
    ) -> ServiceResult<Page> {
        authorize(viewer.actor(), Action::Read, c, None)?;
        if let Some(page) = self.list_from_memory(viewer, c, filter).await? {
            return Ok(page);
        }
        let index = self.coverage.snapshot();
        if !viewer.sees_all_exactly(c) {
            let all = self.visible_fibre(viewer, filter, &index).await?;
            return page_on_pool(all, filter).await;
        }
        let pool = &self.pool;
        // Count and page run concurrently on two connections.
        macro_rules! page {
            ($layer:ident, $record:expr) => {{
                let (n, rows) = tokio::try_join!(
                    db::$layer::count(pool, filter),
                    db::$layer::list(pool, filter)
                )?;
                Page {
                    matched: n,
                    features: rows
                        .into_iter()
                        .map(|r| viewer.visible($record(r), &index))
                        .collect(),
                }
            }};
        }
        Ok(match c {
            CollectionId::Towers => page!(towers, Record::Tower),
            CollectionId::FibreRoutes => page!(fibre_routes, Record::Fibre),
            CollectionId::DataCentres => page!(data_centres, Record::DataCentre),
            CollectionId::Districts => page!(districts, Record::District),
            CollectionId::Structures => page!(structures, Record::Structure),
            CollectionId::DuctBanks => page!(duct_banks, Record::DuctBank),
        })
    }

    /// [`Service::list`] answered by the read model, when it has caught up
    /// with the database (`None`: read PostGIS).
    async fn list_from_memory(
        &self,
        viewer: &Viewer,
        c: CollectionId,
        filter: &ItemFilter,
    ) -> ServiceResult<Option<Page>> {
        if !c.in_read_model() {
            return Ok(None);
        }
        let Some(model) = ReadModel::of(&self.coverage) else {
            return Ok(None);
        };
        let Some(inv) = model
            .fresh(&self.pool, &self.coverage, read_layers(c))
            .await?
        else {
            return Ok(None);
        };
        let index = self.coverage.snapshot();
        let view = viewer.fibre().clone();
        let filter = filter.clone();
        let page = crate::cpu::run(move |cancel| {
            let exact = |r: &Record| match r {
                Record::Fibre(f) => view.exact(&f.operator),
                _ => true,
            };
            inv.page(c, &filter, &exact, cancel).map(|p| Page {
                matched: p.matched,
                features: p
                    .features
                    .iter()
                    .map(|(e, exact)| Visible::from_entry(e, *exact, &index))
                    .collect(),
            })
        })
        .await??;
        Ok(Some(page))
    }

    /// Every fibre route that may match `filter` once seen by `viewer` (the
    /// bbox widened by a cell, the property filters left to the caller),
    /// unpaged and unsorted.
    async fn visible_fibre(
        &self,
        viewer: &Viewer,
        filter: &ItemFilter,
        index: &Arc<CoverageIndex>,
    ) -> ServiceResult<Vec<Visible>> {
        let wide = ItemFilter {
            bbox: filter.bbox.map(|b| Bbox {
                min_lon: b.min_lon - GENERALISED_PAD_DEG,
                min_lat: b.min_lat - GENERALISED_PAD_DEG,
                max_lon: b.max_lon + GENERALISED_PAD_DEG,
                max_lat: b.max_lat + GENERALISED_PAD_DEG,
            }),
            // Only filters on what every viewer sees go to the database.
            properties: filter
                .properties
                .iter()
                .filter(|(k, _)| matches!(k.as_str(), "operator" | "status" | "placement"))
                .cloned()
                .collect(),
            limit: i64::MAX,
            offset: 0,
        };
        let rows = db::fibre_routes::list(&self.pool, &wide).await?;
        Ok(rows
            .into_iter()
            .map(|f| viewer.visible(Record::Fibre(f), index))
            .collect())
    }

    /// The features of `c` matching `filter` as they were at `at`, as
    /// `viewer` may see them (from the audit history).
    ///
    /// # Errors
    /// [`ServiceError::Db`].
    pub async fn list_as_of(
        &self,
        viewer: &Viewer,
        c: CollectionId,
        at: DateTime<Utc>,
        filter: &ItemFilter,
    ) -> ServiceResult<Page> {
        authorize(viewer.actor(), Action::Read, c, None)?;
        let index = self.coverage.snapshot();
        let mut conn = self.pool.acquire().await?;
        let mut records: Vec<Record> = db::history::documents_at(&mut conn, c, at, None)
            .await?
            .iter()
            .filter_map(|(_, doc)| record_from_history(c, doc))
            .collect();
        let unaudited = db::history::unaudited_ids(&mut conn, c, at).await?;
        if c == CollectionId::Districts {
            for code in unaudited {
                records.extend(Record::load(&mut conn, c, &Key::Code(code)).await?);
            }
        } else {
            let ids: Vec<i64> = unaudited.iter().filter_map(|id| id.parse().ok()).collect();
            records.extend(Record::load_many(&mut conn, c, &ids).await?);
        }
        let all = records
            .into_iter()
            .map(|r| viewer.visible_past(r, &index))
            .collect();
        page_on_pool(all, filter).await
    }

    /// Every live feature of an exportable layer matching `filter` as
    /// `viewer` may see it, when the viewer does not see the whole layer
    /// exactly (exports of such layers use this; the others stream from the
    /// database in pages).
    pub(crate) async fn visible_matching(
        &self,
        viewer: &Viewer,
        c: CollectionId,
        filter: &ItemFilter,
    ) -> ServiceResult<Page> {
        debug_assert!(!viewer.sees_all_exactly(c));
        let index = self.coverage.snapshot();
        let all = self.visible_fibre(viewer, filter, &index).await?;
        page_on_pool(all, filter).await
    }

    /// Checks, before a body is read, that `actor` may create features of
    /// `c` at all.
    ///
    /// # Errors
    /// [`ServiceError::Denied`].
    pub fn check_create(&self, actor: &Actor, c: CollectionId) -> ServiceResult<()> {
        if *actor == Actor::Anonymous {
            return Err(sign_in_required(&format!("creating a feature of {c}")).into());
        }
        Ok(authorize(
            actor,
            Action::Create,
            c,
            actor.carrier_operator(),
        )?)
    }

    /// Creates a feature of `c` from its GeoJSON, records it and refreshes
    /// the index; returns the stored feature (seen exactly).
    ///
    /// # Errors
    /// [`ServiceError::Denied`], [`ServiceError::Malformed`],
    /// [`ServiceError::Invalid`], [`ServiceError::Conflict`] (duplicate site
    /// code, external id or district code), [`ServiceError::Db`].
    pub async fn create(
        &self,
        caller: &Caller,
        c: CollectionId,
        feature: &Value,
    ) -> ServiceResult<Visible> {
        self.check_create(&caller.actor, c)?;
        caller.account("creating a feature")?;
        let input = parse_input(c, feature, None).await?;
        input.check_region(&self.region)?;
        input.authorize(&caller.actor, None, c)?;
        let mut tx = self.pool.begin().await?;
        let key = input.insert(&mut tx).await?;
        let rec = Record::load(&mut tx, c, &key)
            .await?
            .ok_or_else(|| not_found(c, &key))?;
        let after = rec.stored_document()?;
        self.commit_change(
            tx,
            caller,
            c,
            &key,
            Op::Create,
            (None, Some((&rec, &after))),
        )
        .await?;
        Ok(Visible {
            rendered: None,
            record: Arc::new(rec),
            exact: true,
            past: false,
            index: self.coverage.snapshot(),
            generalised: None,
        })
    }

    /// Locks a live feature for a change in `tx` (`FOR UPDATE`: concurrent
    /// writers take turns) and reads it; the 404 of a feature that is not
    /// live says when it was deleted, as [`Service::get`] does.
    async fn lock_live(
        &self,
        tx: &mut PgConnection,
        caller: &Caller,
        c: CollectionId,
        key: &Key,
    ) -> ServiceResult<Record> {
        if !db::trash::lock(tx, c, key.db()).await? {
            let viewer = Viewer::new(caller.actor.clone());
            return Err(self.not_live(tx, &viewer, c, key).await);
        }
        Record::load(tx, c, key)
            .await?
            .ok_or_else(|| not_found(c, key))
    }

    /// Replaces a feature or applies a merge patch to its stored form, in
    /// one transaction: lock, permission, `If-Match`, validation, write,
    /// history. Tower sectors that carry their `id` are kept (updated in
    /// place); sectors without one are added; sectors left out are removed.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`], [`ServiceError::Denied`],
    /// [`ServiceError::PreconditionRequired`], [`ServiceError::PreconditionFailed`],
    /// [`ServiceError::Malformed`], [`ServiceError::Invalid`],
    /// [`ServiceError::Conflict`], [`ServiceError::Db`].
    pub async fn update(
        &self,
        caller: &Caller,
        c: CollectionId,
        key: &Key,
        update: Update,
        if_match: &IfMatch,
    ) -> ServiceResult<Visible> {
        caller.account(&format!("changing a feature of {c}"))?;
        let mut tx = self.pool.begin().await?;
        let old = self.lock_live(&mut tx, caller, c, key).await?;
        match &old {
            Record::Tower(t) => authorize_tower_stake(&caller.actor, Action::Update, t)?,
            other => authorize(&caller.actor, Action::Update, c, other.owner())?,
        }
        if_match.check(&old.etag(true)?)?;
        let before = old.stored_document()?;
        let doc = match update {
            Update::Replace(v) => v,
            Update::MergePatch(patch) => {
                if !patch.is_object() {
                    return Err(malformed("", "a merge patch must be a JSON object"));
                }
                let mut doc = before.clone();
                json_patch::merge(&mut doc, &patch);
                doc
            }
        };
        let input = parse_input(c, &doc, Some(key)).await?;
        input.check_region(&self.region)?;
        input.authorize(&caller.actor, Some(&old), c)?;
        // The duct banks that end at a structure follow it when it moves.
        let followers = match (c, key) {
            (CollectionId::Structures, Key::Id(id)) => banks_following(&mut tx, *id).await?,
            _ => Vec::new(),
        };
        if !input.replace(&mut tx, key).await? {
            return Err(not_found(c, key));
        }
        for (bank, before) in followers {
            let bank = Key::Id(bank);
            let Some(now) = Record::load(&mut tx, CollectionId::DuctBanks, &bank).await? else {
                continue;
            };
            let after = now.stored_document()?;
            if after != before {
                let id = bank.as_string();
                let change = Change {
                    collection: CollectionId::DuctBanks,
                    feature_id: &id,
                    op: Op::Update,
                    actor: caller.account("writing")?,
                    request_id: caller.request_id.as_deref(),
                    before: Some(&before),
                    after: Some(&after),
                };
                db::history::record(&mut tx, &change).await?;
            }
        }
        let rec = Record::load(&mut tx, c, key)
            .await?
            .ok_or_else(|| not_found(c, key))?;
        let after = rec.stored_document()?;
        self.commit_change(
            tx,
            caller,
            c,
            key,
            Op::Update,
            (Some(&before), Some((&rec, &after))),
        )
        .await?;
        Ok(Visible {
            rendered: None,
            record: Arc::new(rec),
            exact: true,
            past: false,
            index: self.coverage.snapshot(),
            generalised: None,
        })
    }

    /// Deletes a feature (a tower with its sectors); deletion is soft and an
    /// administrator can restore it.
    ///
    /// # Errors
    /// As [`Service::update`].
    pub async fn delete(
        &self,
        caller: &Caller,
        c: CollectionId,
        key: &Key,
        if_match: &IfMatch,
    ) -> ServiceResult<()> {
        caller.account(&format!("deleting a feature of {c}"))?;
        let mut tx = self.pool.begin().await?;
        let old = self.lock_live(&mut tx, caller, c, key).await?;
        match &old {
            Record::Tower(t) => authorize_tower(&caller.actor, Action::Delete, Some(t), None)?,
            other => authorize(&caller.actor, Action::Delete, c, other.owner())?,
        }
        if_match.check(&old.etag(true)?)?;
        let before = old.stored_document()?;
        if let (CollectionId::DuctBanks, Key::Id(id)) = (c, key) {
            let held = db::duct_banks::holding_leases(&mut tx, *id).await?;
            if let Some((lease, _, _)) = held.first() {
                return Err(ServiceError::Conflict {
                    pointer: String::new(),
                    detail: format!(
                        "lease {lease} holds room in this duct bank ({} lease(s) in all): release \
                         or reject them before deleting the bank",
                        held.iter()
                            .map(|h| h.0)
                            .collect::<std::collections::BTreeSet<_>>()
                            .len()
                    ),
                });
            }
        }
        if !db::trash::soft_delete(&mut tx, c, key.db()).await? {
            return Err(not_found(c, key));
        }
        self.commit_change(tx, caller, c, key, Op::Delete, (Some(&before), None))
            .await
    }

    /// Brings a deleted feature back exactly as it was (administrators only).
    ///
    /// # Errors
    /// [`ServiceError::Denied`]; [`ServiceError::Conflict`] when it is not
    /// deleted, or a live feature now holds its site code, external id or
    /// code; [`ServiceError::NotFound`]; [`ServiceError::Db`].
    pub async fn restore(
        &self,
        caller: &Caller,
        c: CollectionId,
        key: &Key,
    ) -> ServiceResult<Visible> {
        caller.account("restoring a feature")?;
        authorize(&caller.actor, Action::Restore, c, None)?;
        let mut tx = self.pool.begin().await?;
        if db::trash::lock(&mut tx, c, key.db()).await? {
            return Err(ServiceError::Conflict {
                pointer: String::new(),
                detail: format!(
                    "feature '{}' of collection '{c}' is not deleted",
                    key.as_string()
                ),
            });
        }
        if !db::trash::restore(&mut tx, c, key.db()).await? {
            return Err(not_found(c, key));
        }
        let rec = Record::load(&mut tx, c, key)
            .await?
            .ok_or_else(|| not_found(c, key))?;
        let after = rec.stored_document()?;
        self.commit_change(
            tx,
            caller,
            c,
            key,
            Op::Restore,
            (None, Some((&rec, &after))),
        )
        .await?;
        Ok(Visible {
            rendered: None,
            record: Arc::new(rec),
            exact: true,
            past: false,
            index: self.coverage.snapshot(),
            generalised: None,
        })
    }

    /// Every change of a feature, oldest first (deleted features too): to
    /// analysts and administrators for any feature, to a carrier for those
    /// its operator owns or shares.
    ///
    /// # Errors
    /// [`ServiceError::Denied`] (401 for the public, 403 for another
    /// carrier's feature); [`ServiceError::NotFound`]; [`ServiceError::Db`].
    pub async fn history(
        &self,
        viewer: &Viewer,
        c: CollectionId,
        key: &Key,
    ) -> ServiceResult<History> {
        if *viewer.actor() == Actor::Anonymous {
            return Err(sign_in_required("the audit history").into());
        }
        let id = key.as_string();
        let mut entries = db::history::of_feature(&self.pool, c, &id).await?;
        let mut conn = self.pool.acquire().await?;
        let live = Record::load(&mut conn, c, key).await?;
        let (owner, involved) = match (&live, entries.last()) {
            (Some(rec), _) => (rec.owner().map(str::to_owned), rec.involved()),
            (None, Some(e)) => {
                let doc = e.after.as_ref().or(e.before.as_ref());
                let owner =
                    doc.and_then(|d| d["properties"]["operator"].as_str().map(str::to_owned));
                (owner, e.operators.clone())
            }
            (None, None) => return Err(not_found(c, key)),
        };
        authorize_history(viewer.actor(), c, owner.as_deref(), &involved)?;
        for e in &mut entries {
            apply_to_entry(viewer, e);
        }
        Ok(History {
            entries,
            deleted: live.is_none(),
        })
    }

    /// The change feed, oldest first: to analysts and administrators every
    /// change (or those of `filter.operator`), to a carrier those that
    /// concern its own operator.
    ///
    /// # Errors
    /// [`ServiceError::Denied`] (401 for the public, 403 for a carrier asking
    /// for another operator's changes); [`ServiceError::Db`].
    pub async fn changes(
        &self,
        viewer: &Viewer,
        mut filter: FeedFilter,
    ) -> ServiceResult<Vec<Entry>> {
        let actor = viewer.actor();
        if *actor == Actor::Anonymous {
            return Err(sign_in_required("the change feed").into());
        }
        if let Some(mine) = actor.carrier_operator() {
            match filter.operator.as_deref() {
                None => filter.operator = Some(mine.to_owned()),
                Some(o) if o == mine => {}
                Some(o) => {
                    return Err(Denied::Forbidden(format!(
                        "the token '{}' acts for {mine}: it may not read the changes of {o}",
                        actor.name()
                    ))
                    .into());
                }
            }
        }
        let mut entries = db::history::feed(&self.pool, &filter).await?;
        for e in &mut entries {
            apply_to_entry(viewer, e);
        }
        Ok(entries)
    }
}

/// A record from a history document; `None` (logged) for a document that
/// is not a feature of `c`, which is then left out rather than shown unchecked.
fn record_from_history(c: CollectionId, doc: &Value) -> Option<Record> {
    let rec = Record::from_document(c, doc);
    if rec.is_none() {
        tracing::warn!(collection = %c, id = %doc["id"], "history document is not a feature; left out");
    }
    rec
}

/// Generalises the fibre documents of a history entry the viewer may not
/// see exactly (the policy lets only those who do read such entries; this
/// keeps it so if the policy changes).
fn apply_to_entry(viewer: &Viewer, e: &mut Entry) {
    if e.collection != CollectionId::FibreRoutes.as_str() || viewer.fibre() == &FibreView::All {
        return;
    }
    for doc in [&mut e.before, &mut e.after].into_iter().flatten() {
        let exact = doc["properties"]["operator"]
            .as_str()
            .is_some_and(|o| viewer.fibre().exact(o));
        if exact {
            continue;
        }
        *doc = match Record::from_document(CollectionId::FibreRoutes, doc)
            .and_then(|r| r.to_json(false, None, None).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(generalised) => generalised,
            None => Value::Null,
        };
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396_examples() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        json_patch::merge(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"a": [1, 2]});
        json_patch::merge(&mut t, &json!({"a": [3]}));
        assert_eq!(t, json!({"a": [3]}));
    }
}
