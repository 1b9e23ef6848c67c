//! The in-memory read model of the inventory: every tower (with its sectors
//! and tenants), fibre route, data centre and district, each with its served
//! GeoJSON rendered once (and, for fibre routes, the generalised form the
//! public sees), in R-trees by lon/lat bounding box.
//!
//! PostGIS stays the system of record. The model is an immutable snapshot
//! ([`Inventory`]) swapped whole ([`ArcSwap`]), built at start-up and
//! patched by the change path of the coverage index (it is the index's
//! [`Follower`]): API writes after their commit, NOTIFY for everything else.
//!
//! **Versions.** Each layer of a snapshot has a *label*: every change up to
//! that `layer_versions.version` is in the snapshot. Notifications carry the
//! version they leave (migration 0005) and arrive in version order (the
//! version row's lock serialises a layer's writers), so after a batch the
//! label is the highest version notified; a write of this service knows the
//! versions its transaction spans and patches the tower as its transaction
//! left it, and the label follows the chain of such spans from where it is
//! (see `Spans`), whatever order the writers' patches finish in.
//! Concurrent patches are combined into one new snapshot
//! ([`crate::combine`]). Each layer also has a *horizon*: the newest version any of
//! its data was read at. A layer is served from memory when its label has
//! reached both the horizon (no later change is half-applied: a transaction
//! whose notification has not arrived yet may have been read for one
//! feature and not for another) and the version the database had when the
//! request began (nothing committed before the request is missing). Else a
//! reader waits up to [`CATCH_UP`] for the listener, then reads PostGIS.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use geo::{BoundingRect, Intersects};
use rstar::{AABB, Envelope, RTree, RTreeObject};
use serde_json::value::RawValue;
use sqlx::PgPool;

use super::record::{Record, etag_of};
use super::render::{GeneralisedWith, Ranges};
use crate::coverage::index::Area;
use crate::coverage::listener::{
    ChangeBatch, CoverageState, FollowFuture, Follower, ListenerState, SyncError,
};
use crate::coverage::model::CoverageConfig;
use crate::db::layers::Versions;
use crate::db::{self, Bbox, DbError, ItemFilter};
use crate::domain::CollectionId;
use crate::domain::tower::Tower;
use crate::spatial::generalise::{Generalised, generalise};

/// How long a reader waits for the listener to bring a stale layer up to
/// date before it reads PostGIS instead.
pub const CATCH_UP: Duration = Duration::from_millis(250);

/// A feature's order in its collection: numeric id, else code (districts).
pub type SortKey = (i64, String);

/// A served GeoJSON form rendered once: its bytes (a JSON object without
/// `links`) and its strong ETag.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The Feature object.
    pub json: Arc<RawValue>,
    /// Its strong ETag (quoted).
    pub etag: Arc<str>,
}

impl Rendered {
    fn new(bytes: Vec<u8>, etag: String) -> Result<Self, serde_json::Error> {
        let text = String::from_utf8(bytes).map_err(serde::ser::Error::custom)?;
        let raw: Box<RawValue> = RawValue::from_string(text)?;
        Ok(Self {
            json: Arc::from(raw),
            etag: etag.into(),
        })
    }
}

/// The generalised form of a fibre route (what viewers who may not see it
/// exactly get).
#[derive(Debug, Clone)]
pub struct PublicForm {
    /// The route's cells and their outline.
    pub generalised: Arc<Generalised>,
    /// The rendered generalised Feature.
    pub rendered: Rendered,
}

/// One feature of the read model.
#[derive(Debug)]
pub struct Entry {
    /// Its order in the collection.
    pub key: SortKey,
    /// The stored feature.
    pub record: Arc<Record>,
    /// The served form, exact (towers with their modelled ranges).
    pub exact: Rendered,
    /// Fibre routes: the generalised form.
    pub public: Option<PublicForm>,
    /// Lon/lat envelope of everything any viewer may be shown of it.
    envelope: AABB<[f64; 2]>,
    /// Towers: tenants and distinct technologies, comma-separated and
    /// sorted, as the towers tiles carry them.
    tower_text: Option<(String, String)>,
    /// Towers: the position in EPSG:3857 metres (x, y).
    pub mercator: (f64, f64),
}

impl Entry {
    /// A tower's `tenants` and `technologies` tile attributes (empty for
    /// other features).
    pub fn tower_tile_text(&self) -> (&str, &str) {
        self.tower_text
            .as_ref()
            .map_or(("", ""), |(a, b)| (a.as_str(), b.as_str()))
    }

    /// Renders `record` (towers with the ranges of `config` over `areas`).
    fn new(record: Record, config: &CoverageConfig, areas: &[Area]) -> Result<Self, SyncError> {
        let out = |e: serde_json::Error| {
            SyncError::Db(DbError::Sqlx(sqlx::Error::Protocol(format!(
                "rendering a feature: {e}"
            ))))
        };
        let ranges = Ranges::Model(config, areas);
        let bytes = record
            .to_json(true, Some(ranges), None)
            .map_err(|e| SyncError::Db(DbError::Sqlx(sqlx::Error::Protocol(e.to_string()))))?;
        let etag = record
            .etag(true)
            .map_err(|e| SyncError::Db(DbError::Sqlx(sqlx::Error::Protocol(e.to_string()))))?;
        let exact = Rendered::new(bytes, etag).map_err(out)?;
        let mut rect = record_rect(&record);
        let public = match &record {
            Record::Fibre(f) => {
                let g = generalise(&f.geometry);
                let bytes = serde_json::to_vec(&GeneralisedWith(f, None, &g)).map_err(out)?;
                let etag = etag_of(&bytes);
                if let Some(r) = g.outline.bounding_rect() {
                    rect = union(rect, r);
                }
                Some(PublicForm {
                    generalised: g,
                    rendered: Rendered::new(bytes, etag).map_err(out)?,
                })
            }
            _ => None,
        };
        let envelope = rect.map_or(AABB::from_point([f64::NAN, f64::NAN]), |r| {
            AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y])
        });
        let tower_text = match &record {
            Record::Tower(t) => {
                let mut techs: Vec<&str> =
                    t.sectors.iter().map(|s| s.technology.as_str()).collect();
                techs.sort_unstable();
                techs.dedup();
                Some((t.tenants.join(","), techs.join(",")))
            }
            _ => None,
        };
        let mercator = match &record {
            Record::Tower(t) => crate::tiles::to_3857(t.lon, t.lat),
            _ => (f64::NAN, f64::NAN),
        };
        Ok(Self {
            mercator,
            tower_text,
            key: sort_key(&record),
            record: Arc::new(record),
            exact,
            public,
            envelope,
        })
    }

    /// True when the feature, exact (`exact`) or generalised, passes the
    /// bbox and property filters as PostGIS applies them (`ST_Intersects`
    /// with the envelope; equality of the queryable).
    pub fn matches(&self, exact: bool, filter: &ItemFilter) -> bool {
        if let Some(b) = filter.bbox {
            let rect = bbox_rect(b);
            let hit = match (&*self.record, exact, &self.public) {
                (Record::Fibre(_), false, Some(p)) => p.generalised.outline.intersects(&rect),
                (r, _, _) => record_intersects(r, &rect),
            };
            if !hit {
                return false;
            }
        }
        filter
            .properties
            .iter()
            .all(|(name, value)| property_matches(&self.record, exact, name, value))
    }

    /// Approximate heap bytes held by the entry (its rendered forms and its
    /// record), for the memory report.
    fn approx_bytes(&self) -> usize {
        let json = self.exact.json.get().len()
            + self.public.as_ref().map_or(0, |p| {
                p.rendered.json.get().len() + p.generalised.cells.len() * 8
            });
        let record = match &*self.record {
            Record::Tower(t) => 200 + t.sectors.len() * 120 + t.tenants.len() * 32,
            Record::Fibre(f) => 200 + geo::CoordsIter::coords_count(&f.geometry) * 16,
            Record::DataCentre(d) => 200 + geo::CoordsIter::coords_count(&d.geometry) * 16,
            Record::District(d) => 200 + geo::CoordsIter::coords_count(&d.geometry) * 16,
            Record::Structure(_) => 200,
            Record::DuctBank(b) => 200 + b.geometry.0.len() * 16 + b.ducts.len() * 120,
        };
        json + record + 160
    }
}

fn union(a: Option<geo::Rect<f64>>, b: geo::Rect<f64>) -> Option<geo::Rect<f64>> {
    Some(match a {
        None => b,
        Some(a) => geo::Rect::new(
            geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
            geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
        ),
    })
}

fn record_rect(r: &Record) -> Option<geo::Rect<f64>> {
    match r {
        Record::Tower(t) => Some(geo::Rect::new(
            geo::coord! { x: t.lon, y: t.lat },
            geo::coord! { x: t.lon, y: t.lat },
        )),
        Record::Fibre(f) => f.geometry.bounding_rect(),
        Record::DataCentre(d) => d.geometry.bounding_rect(),
        Record::District(d) => d.geometry.bounding_rect(),
        Record::Structure(s) => Some(geo::Rect::new(
            geo::coord! { x: s.lon, y: s.lat },
            geo::coord! { x: s.lon, y: s.lat },
        )),
        Record::DuctBank(b) => b.geometry.bounding_rect(),
    }
}

fn bbox_rect(b: Bbox) -> geo::Rect<f64> {
    geo::Rect::new(
        geo::coord! { x: b.min_lon, y: b.min_lat },
        geo::coord! { x: b.max_lon, y: b.max_lat },
    )
}

fn record_intersects(r: &Record, rect: &geo::Rect<f64>) -> bool {
    match r {
        Record::Tower(t) => geo::Point::new(t.lon, t.lat).intersects(rect),
        Record::Fibre(f) => f.geometry.intersects(rect),
        Record::DataCentre(d) => d.geometry.intersects(rect),
        Record::District(d) => d.geometry.intersects(rect),
        Record::Structure(s) => geo::Point::new(s.lon, s.lat).intersects(rect),
        Record::DuctBank(b) => b.geometry.intersects(rect),
    }
}

/// The queryable `name` of `r` equals `value`, as the SQL of `db::<layer>`
/// tests it (a name without a column is no condition there, so none here);
/// a generalised route has only `operator`, `status` and `placement`.
fn property_matches(r: &Record, exact: bool, name: &str, value: &str) -> bool {
    let opt = |v: &Option<String>| v.as_deref() == Some(value);
    match r {
        Record::Tower(t) => match name {
            "operator" => t.operator == value,
            "status" => t.status.as_str() == value,
            "structure_type" => t.structure_type.as_str() == value,
            "site_code" => t.site_code == value,
            "external_id" => opt(&t.external_id),
            "tenant" => t.tenants.iter().any(|x| x == value),
            "technology" => t.sectors.iter().any(|s| s.technology.as_str() == value),
            _ => true,
        },
        Record::Fibre(f) => match name {
            "operator" => f.operator == value,
            "status" => f.status.as_str() == value,
            "placement" => f.placement.as_str() == value,
            "external_id" => exact && opt(&f.external_id),
            _ => true,
        },
        Record::DataCentre(d) => match name {
            "operator" => d.operator == value,
            "status" => d.status.as_str() == value,
            "tier" => value
                .trim()
                .parse::<i16>()
                .ok()
                .is_some_and(|v| d.tier == Some(v)),
            "external_id" => opt(&d.external_id),
            _ => true,
        },
        Record::District(d) => match name {
            "code" => d.code.as_str() == value,
            "name" => d.name == value,
            _ => true,
        },
        Record::Structure(s) => match name {
            "owner" => s.owner.as_str() == value,
            "kind" => s.kind.as_str() == value,
            "status" => s.status.as_str() == value,
            "external_id" => opt(&s.external_id),
            _ => true,
        },
        Record::DuctBank(b) => match name {
            "owner" => b.owner.as_str() == value,
            "status" => b.status.as_str() == value,
            "encasement" => b.encasement.is_some_and(|e| e.as_str() == value),
            "structure_id" => [b.from_structure_id, b.to_structure_id]
                .iter()
                .any(|id| id.to_string() == value),
            "external_id" => opt(&b.external_id),
            _ => true,
        },
    }
}

fn sort_key(r: &Record) -> SortKey {
    match r {
        Record::District(d) => (i64::MAX, d.code.to_string()),
        other => (other.id().parse().unwrap_or(i64::MAX), String::new()),
    }
}

/// An entry in a layer's R-tree.
#[derive(Debug, Clone)]
struct Indexed(Arc<Entry>);

impl PartialEq for Indexed {
    fn eq(&self, other: &Self) -> bool {
        self.0.key == other.0.key
    }
}

impl RTreeObject for Indexed {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.0.envelope
    }
}

/// One collection of the read model.
///
/// Persistent, so that patching a snapshot costs the change, not the layer:
/// the key map is an [`imbl::OrdMap`] (a patched layer shares all but
/// O(log n) of its nodes with the layer it came from) and the R-tree is
/// shared whole. Features put in since the R-tree was built are kept in
/// `since` and scanned linearly by [`Layer::in_box`]; past
/// [`rebuild_after`] of them the R-tree is built afresh (bulk load,
/// O(n log n), once every that many changes). A feature met in the tree or
/// in `since` counts only when the key map still holds that very entry, so
/// a removed or replaced feature's stale entry is never served.
///
/// A layer also keeps where its features changed: the envelopes of the
/// features each patch took out, replaced or put in, numbered by patch
/// (the newest [`DIRTY_LOG`]), so a tile cut from an earlier patch of the
/// same lineage can be shown to be unchanged ([`Layer::untouched_since`]).
#[derive(Debug, Default, Clone)]
pub struct Layer {
    by_key: imbl::OrdMap<SortKey, Arc<Entry>>,
    tree: Arc<RTree<Indexed>>,
    since: imbl::Vector<Arc<Entry>>,
    /// A fresh id per build; kept by patches.
    lineage: u64,
    /// Patches since the build.
    seq: u64,
    /// (patch, envelope) of every feature change, oldest first.
    dirty: imbl::Vector<(u64, AABB<[f64; 2]>)>,
    /// `dirty` holds every change of the patches after this one.
    dirty_from: u64,
    /// Towers: the layer laid out for cutting tiles (built on first use;
    /// a patched layer starts without it).
    tower_points: std::sync::OnceLock<Arc<crate::tiles::towers::TowerPoints>>,
}

/// Feature changes a layer remembers the place of (see [`Layer`]): a tile
/// cut more than this many changes ago is cut again.
pub const DIRTY_LOG: usize = 4096;

/// The lineage of the next layer built.
static LINEAGE: AtomicU64 = AtomicU64::new(1);

/// What a layer's features were at one patch: (lineage, patch).
pub type Stamp = (u64, u64);

/// Features put in since a layer's R-tree was built past which the tree is
/// built afresh: a sixteenth of the layer, at least 64 (a bounding-box
/// query scans at most this many entries besides the tree's).
pub fn rebuild_after(features: usize) -> usize {
    (features / 16).max(64)
}

fn tree_of<'e>(entries: impl Iterator<Item = &'e Arc<Entry>>) -> RTree<Indexed> {
    RTree::bulk_load(
        entries
            .filter(|e| e.envelope.lower()[0].is_finite())
            .cloned()
            .map(Indexed)
            .collect(),
    )
}

impl Layer {
    fn build(entries: Vec<Entry>) -> Self {
        let by_key: imbl::OrdMap<SortKey, Arc<Entry>> = entries
            .into_iter()
            .map(|e| (e.key.clone(), Arc::new(e)))
            .collect();
        Self {
            tree: Arc::new(tree_of(by_key.values())),
            by_key,
            since: imbl::Vector::new(),
            lineage: LINEAGE.fetch_add(1, Ordering::Relaxed),
            seq: 0,
            dirty: imbl::Vector::new(),
            dirty_from: 0,
            tower_points: std::sync::OnceLock::new(),
        }
    }

    /// This layer with the features of `removed` taken out and `added` put
    /// in (a changed feature is in both). O(changes × log n), plus an
    /// R-tree bulk load once [`rebuild_after`] features were put in since
    /// the last.
    ///
    /// When this layer's towers store for tiles was built, the next one is
    /// patched from it here (see [`crate::tiles::towers::TowerPoints`]):
    /// the first tile of the new version does not rebuild it.
    fn patched(&self, removed: &[SortKey], added: Vec<Entry>) -> Self {
        let mut next = self.clone();
        next.seq += 1;
        next.tower_points = std::sync::OnceLock::new();
        for k in removed {
            if let Some(old) = next.by_key.remove(k) {
                next.mark(old.envelope);
            }
        }
        let mut fresh = Vec::with_capacity(added.len());
        for e in added {
            let e = Arc::new(e);
            if let Some(old) = next.by_key.insert(e.key.clone(), e.clone()) {
                next.mark(old.envelope);
            }
            if e.envelope.lower()[0].is_finite() {
                next.mark(e.envelope);
                next.since.push_back(e.clone());
            }
            fresh.push(e);
        }
        if next.since.len() > rebuild_after(next.by_key.len()) {
            next.tree = Arc::new(tree_of(next.by_key.values()));
            next.since = imbl::Vector::new();
        }
        if let Some(points) = self.tower_points.get() {
            let removed: Vec<i64> = removed.iter().map(|k| k.0).collect();
            let added: Vec<&Arc<Entry>> = fresh.iter().collect();
            let store = points.patched(&removed, &added, next.by_key.values());
            let _ = next.tower_points.set(Arc::new(store));
        }
        next
    }

    /// Notes that a feature changed within `envelope` in this patch.
    fn mark(&mut self, envelope: AABB<[f64; 2]>) {
        if !envelope.lower()[0].is_finite() {
            return;
        }
        self.dirty.push_back((self.seq, envelope));
        while self.dirty.len() > DIRTY_LOG {
            if let Some((patch, _)) = self.dirty.pop_front() {
                self.dirty_from = patch;
            }
        }
    }

    /// The layer's features as of now, for [`Layer::untouched_since`].
    pub fn stamp(&self) -> Stamp {
        (self.lineage, self.seq)
    }

    /// True when no feature changed within the lon/lat box `b` (`[w, s, e,
    /// n]`) between the layer of `stamp` and this one: whatever depends
    /// only on the features meeting `b` (a tile cut from them) is the same
    /// for both. False when it cannot tell (another lineage: the layer was
    /// loaded again; or older than [`DIRTY_LOG`] changes).
    pub fn untouched_since(&self, stamp: Stamp, b: [f64; 4]) -> bool {
        if stamp.0 != self.lineage || stamp.1 < self.dirty_from || stamp.1 > self.seq {
            return false;
        }
        let env = AABB::from_corners([b[0], b[1]], [b[2], b[3]]);
        self.dirty
            .iter()
            .rev()
            .take_while(|(patch, _)| *patch > stamp.1)
            .all(|(_, e)| !e.intersects(&env))
    }

    /// True when `e` is the entry the layer holds for its key (not a
    /// removed or replaced one left in the tree or in `since`).
    fn holds(&self, e: &Arc<Entry>) -> bool {
        self.by_key.get(&e.key).is_some_and(|x| Arc::ptr_eq(x, e))
    }

    /// The towers of the layer laid out for cutting tiles, built on the
    /// first call (O(features); call it off the async runtime).
    pub fn tower_points(&self) -> &crate::tiles::towers::TowerPoints {
        self.tower_points
            .get_or_init(|| Arc::new(crate::tiles::towers::TowerPoints::build(self.iter())))
    }

    /// Features in the layer.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when the layer has no feature.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The feature of `key`.
    pub fn get(&self, key: &SortKey) -> Option<&Arc<Entry>> {
        self.by_key.get(key)
    }

    /// Every feature, in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.by_key.values()
    }

    /// Features whose envelope meets the lon/lat box `[w, s, e, n]`, in no
    /// particular order.
    pub fn in_box(&self, b: [f64; 4]) -> impl Iterator<Item = &Arc<Entry>> {
        let env = AABB::from_corners([b[0], b[1]], [b[2], b[3]]);
        let since = self
            .since
            .iter()
            .filter(move |e| e.envelope.intersects(&env));
        self.tree
            .locate_in_envelope_intersecting(env)
            .map(|i| &i.0)
            .chain(since)
            .filter(move |e| self.holds(e))
    }
}

/// One snapshot of the read model.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Per layer: every change up to this version is in the snapshot.
    pub labels: Versions,
    /// Per layer: the newest version any of its data was read at.
    pub horizon: Versions,
    /// False until the first full load.
    pub loaded: bool,
    towers: Arc<Layer>,
    fibre: Arc<Layer>,
    data_centres: Arc<Layer>,
    districts: Arc<Layer>,
    /// Always empty: the layers the model does not hold
    /// ([`CollectionId::in_read_model`]).
    absent: Arc<Layer>,
    /// The districts as clutter areas (the towers' modelled ranges).
    areas: Arc<Vec<Area>>,
}

impl Inventory {
    /// The layer of collection `c`.
    pub fn layer(&self, c: CollectionId) -> &Layer {
        match c {
            CollectionId::Towers => &self.towers,
            CollectionId::FibreRoutes => &self.fibre,
            CollectionId::DataCentres => &self.data_centres,
            CollectionId::Districts => &self.districts,
            CollectionId::Structures | CollectionId::DuctBanks => &self.absent,
        }
    }

    /// True when layer `c` may answer a request that began when the
    /// database was at `db` (see the module documentation).
    pub fn servable(&self, c: CollectionId, db: &Versions) -> bool {
        let label = self.labels.get(c);
        c.in_read_model() && self.loaded && label >= self.horizon.get(c) && label >= db.get(c)
    }

    /// Approximate heap bytes of the snapshot (rendered forms, records,
    /// index entries and the towers' tile store once built).
    pub fn approx_bytes(&self) -> usize {
        let layers = [
            &self.towers,
            &self.fibre,
            &self.data_centres,
            &self.districts,
        ];
        let entries: usize = layers
            .iter()
            .flat_map(|l| l.iter())
            .map(|e| e.approx_bytes() + 64)
            .sum();
        let stores: usize = layers
            .iter()
            .filter_map(|l| l.tower_points.get())
            .map(|p| p.heap_bytes())
            .sum();
        entries + stores
    }

    fn with_layer(&self, c: CollectionId, layer: Layer) -> Inventory {
        let mut next = self.shallow();
        let l = Arc::new(layer);
        match c {
            CollectionId::Towers => next.towers = l,
            CollectionId::FibreRoutes => next.fibre = l,
            CollectionId::DataCentres => next.data_centres = l,
            CollectionId::Districts => next.districts = l,
            CollectionId::Structures | CollectionId::DuctBanks => {}
        }
        next
    }

    fn shallow(&self) -> Inventory {
        Inventory {
            labels: self.labels,
            horizon: self.horizon,
            loaded: self.loaded,
            towers: self.towers.clone(),
            fibre: self.fibre.clone(),
            data_centres: self.data_centres.clone(),
            districts: self.districts.clone(),
            absent: self.absent.clone(),
            areas: self.areas.clone(),
        }
    }
}

/// Counts and a hash of what a read model serves (every feature's rendered
/// exact form, in key order, per layer): `check-index` compares a running
/// service's with one loaded fresh from the database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelFingerprint {
    /// Towers held.
    pub towers: usize,
    /// Fibre routes held.
    pub fibre_routes: usize,
    /// Data centres held.
    pub data_centres: usize,
    /// Districts held.
    pub districts: usize,
    /// SHA-256 (hex, first 16 bytes) of every layer's rendered features.
    pub hash: String,
}

impl Inventory {
    /// The snapshot's fingerprint (CPU work: call it off the runtime).
    pub fn fingerprint(&self) -> ModelFingerprint {
        use sha2::{Digest, Sha256};
        use std::fmt::Write;
        let mut h = Sha256::new();
        for c in CollectionId::ALL {
            h.update(c.as_str().as_bytes());
            for e in self.layer(c).iter() {
                h.update(e.exact.json.get().as_bytes());
                if let Some(p) = &e.public {
                    h.update(p.rendered.json.get().as_bytes());
                }
                h.update([0]);
            }
        }
        let mut hash = String::with_capacity(32);
        for b in &h.finalize()[..16] {
            let _ = write!(hash, "{b:02x}");
        }
        ModelFingerprint {
            towers: self.towers.len(),
            fibre_routes: self.fibre.len(),
            data_centres: self.data_centres.len(),
            districts: self.districts.len(),
            hash,
        }
    }
}

/// The fingerprint of a read model loaded fresh from the database with
/// `config` (what a running service's should equal).
///
/// # Errors
/// When loading fails.
pub async fn fingerprint_from_db(
    pool: &PgPool,
    config: CoverageConfig,
) -> Result<ModelFingerprint, SyncError> {
    let model = ReadModel::new(Arc::new(config));
    model.rebuild(pool).await?;
    let inv = model.snapshot();
    blocking(move || inv.fingerprint()).await
}

/// A page of features answered from memory: each with whether the viewer
/// sees it exactly.
#[derive(Debug)]
pub struct MemoryPage {
    /// The page, in key order.
    pub features: Vec<(Arc<Entry>, bool)>,
    /// Features matching over all pages.
    pub matched: i64,
}

/// Features between two cancellation checks.
const CHECK_EVERY: usize = 256;

impl Inventory {
    /// The features of `c` matching `filter` as a viewer who sees a route
    /// exactly when `exact(operator)` sees them, paged.
    ///
    /// # Errors
    /// [`crate::cpu::Cancelled`] when the request is gone.
    pub fn page(
        &self,
        c: CollectionId,
        filter: &ItemFilter,
        exact: &dyn Fn(&Record) -> bool,
        cancel: &crate::cpu::Cancel,
    ) -> Result<MemoryPage, crate::cpu::Cancelled> {
        let layer = self.layer(c);
        let offset = usize::try_from(filter.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(filter.limit).unwrap_or(usize::MAX);
        if filter.bbox.is_none() && filter.properties.is_empty() {
            let features = layer
                .iter()
                .skip(offset)
                .take(limit)
                .map(|e| (e.clone(), exact(&e.record)))
                .collect();
            return Ok(MemoryPage {
                features,
                matched: i64::try_from(layer.len()).unwrap_or(i64::MAX),
            });
        }
        let mut hits: Vec<&Arc<Entry>> = match filter.bbox {
            Some(b) => {
                let mut v: Vec<_> = layer
                    .in_box([b.min_lon, b.min_lat, b.max_lon, b.max_lat])
                    .collect();
                v.sort_unstable_by(|a, b| a.key.cmp(&b.key));
                v
            }
            None => layer.iter().collect(),
        };
        let mut kept = 0usize;
        let mut features = Vec::new();
        for (i, e) in hits.drain(..).enumerate() {
            if i % CHECK_EVERY == 0 {
                cancel.check()?;
            }
            let seen_exactly = exact(&e.record);
            if !e.matches(seen_exactly, filter) {
                continue;
            }
            if kept >= offset && features.len() < limit {
                features.push((e.clone(), seen_exactly));
            }
            kept += 1;
        }
        Ok(MemoryPage {
            features,
            matched: i64::try_from(kept).unwrap_or(i64::MAX),
        })
    }

    /// The feature of `c` with `key`.
    pub fn get(&self, c: CollectionId, key: &super::Key) -> Option<&Arc<Entry>> {
        let k = match key {
            super::Key::Id(i) => (*i, String::new()),
            super::Key::Code(code) => (i64::MAX, code.clone()),
        };
        self.layer(c).get(&k)
    }
}

/// Counters of the read model, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Reads answered from memory.
    pub memory: u64,
    /// Reads that went to PostGIS (layer not caught up, or not loaded).
    pub postgis: u64,
    /// Full rebuilds.
    pub rebuilds: u64,
}

/// What a tower patch may do to the towers' label.
/// One queued change of the towers layer ([`ReadModel::patch_towers`]).
#[derive(Debug)]
enum Patch {
    /// Re-read these towers; notifications up to this version were applied
    /// (`None`: the version is unknown).
    Reread(Vec<i64>, Option<i64>),
    /// This service's write of one tower spanned `base` → `now`; the tower
    /// as the transaction left it (`None`: deleted).
    Written {
        id: i64,
        tower: Option<Box<Tower>>,
        base: i64,
        now: i64,
    },
}

/// Most write spans kept waiting for the label to reach their base (see
/// [`Spans`]); past it the oldest are dropped and the listener moves the
/// label instead.
const MAX_SPANS: usize = 4_096;

/// The towers' write spans this service applied before the label reached
/// their base, by base.
///
/// A write of this service knows the versions its transaction spans
/// (`base` → `now`, [`db::layers::commit_with_span`]); the version row's lock
/// chains a layer's transactions, so each committed version is the `now`
/// of exactly one span whose `base` is the version before it. Writers'
/// patches finish in any order: a span whose base the label has not reached
/// yet waits here, and the label follows the chain as far as it goes
/// (`label` → `now` of the span based at `label` → …). Without it, a
/// write that finished its patch before an earlier one left the label
/// behind until the listener's notification, and every reader meanwhile
/// waited for it.
#[derive(Debug, Default)]
struct Spans(std::collections::BTreeMap<i64, i64>);

/// What the towers' patcher knows, guarded by the writer's lock.
#[derive(Debug, Default)]
struct WriterState {
    spans: Spans,
    /// Per tower patched since the last full load: the layer version its
    /// data in the snapshot is as of (a write's `now`, or the version a
    /// re-read saw). A change older than that is not applied: writers'
    /// patches and re-reads finish in any order. At most one entry per
    /// tower row (deleted towers stay rows), emptied by every full load.
    as_of: std::collections::HashMap<i64, i64>,
    /// The version of the last full load (the data of every other tower
    /// is as of it).
    loaded_at: i64,
}

impl WriterState {
    fn as_of(&self, id: i64) -> i64 {
        self.as_of.get(&id).copied().unwrap_or(self.loaded_at)
    }
}

impl Spans {
    fn insert(&mut self, base: i64, now: i64) {
        self.0.insert(base, now);
        while self.0.len() > MAX_SPANS {
            self.0.pop_first();
        }
    }

    /// The label reached from `label` along the chain of spans; spans
    /// behind it are dropped.
    fn follow(&mut self, mut label: i64) -> i64 {
        while let Some(now) = self.0.remove(&label) {
            label = label.max(now);
        }
        self.0 = self.0.split_off(&label);
        label
    }

    fn clear_below(&mut self, label: i64) {
        self.0 = self.0.split_off(&label);
    }
}

/// The read model: its current snapshot and its upkeep.
#[derive(Debug)]
pub struct ReadModel {
    current: ArcSwap<Inventory>,
    /// Held by every writer from reading the snapshot it patches to
    /// swapping its result in; guards the write spans not yet chained.
    writer: tokio::sync::Mutex<WriterState>,
    /// Changes of towers queued for [`ReadModel::patch_towers`].
    pending: crate::combine::Combiner<Patch>,
    config: Arc<CoverageConfig>,
    changed: tokio::sync::watch::Sender<u64>,
    memory: AtomicU64,
    postgis: AtomicU64,
    rebuilds: AtomicU64,
    tiles: crate::tiles::cache::TileCache,
    answers: moka::sync::Cache<String, Answer>,
    probe: db::layers::VersionProbe,
}

/// An analysis or gap answer cached by the versions it was computed from.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The districts' reports.
    Reports(Arc<Vec<super::analysis::DistrictReport>>),
    /// An encoded document.
    Bytes(Arc<Vec<u8>>),
}

/// Weight limit of the answer cache, bytes.
const ANSWERS_CAPACITY_BYTES: u64 = 64 << 20;

impl ReadModel {
    /// Answers of the analysis and the gap grid, keyed by what they were
    /// computed from (layer versions, the coverage index's version, the
    /// parameters): never stale, since a change moves a version.
    pub fn answers(&self) -> &moka::sync::Cache<String, Answer> {
        &self.answers
    }

    /// Every layer's version as of a statement that started after this
    /// call, read once for all the readers that ask at the same time
    /// ([`db::layers::VersionProbe`]).
    ///
    /// # Errors
    /// When reading the versions fails.
    pub async fn versions(&self, pool: &PgPool) -> Result<Versions, DbError> {
        self.probe.versions(pool).await
    }

    /// The cache of encoded tiles (keyed by version: never stale).
    pub fn tiles(&self) -> &crate::tiles::cache::TileCache {
        &self.tiles
    }

    /// An empty read model (not loaded: every read goes to PostGIS) that
    /// renders towers with `config`.
    pub fn new(config: Arc<CoverageConfig>) -> Self {
        Self {
            current: ArcSwap::from_pointee(Inventory::default()),
            writer: tokio::sync::Mutex::new(WriterState::default()),
            pending: crate::combine::Combiner::default(),
            config,
            changed: tokio::sync::watch::channel(0).0,
            memory: AtomicU64::new(0),
            postgis: AtomicU64::new(0),
            rebuilds: AtomicU64::new(0),
            tiles: crate::tiles::cache::TileCache::default(),
            probe: db::layers::VersionProbe::default(),
            answers: moka::sync::Cache::builder()
                .max_capacity(ANSWERS_CAPACITY_BYTES)
                .weigher(|k: &String, v: &Answer| {
                    let bytes = match v {
                        Answer::Reports(r) => r.len() * 4096,
                        Answer::Bytes(b) => b.len(),
                    };
                    u32::try_from(bytes + k.len()).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }

    /// Creates the read model of `coverage` (with its model configuration)
    /// and registers it to follow the index's changes.
    pub fn attach(coverage: &CoverageState) {
        let config = Arc::new(coverage.config().clone());
        coverage.follow(Arc::new(ReadModel::new(config)));
    }

    /// The read model following `coverage`, when one was attached.
    pub fn of(coverage: &CoverageState) -> Option<&ReadModel> {
        coverage
            .follower()
            .and_then(|f| f.as_any().downcast_ref::<ReadModel>())
    }

    /// The current snapshot, whatever its versions.
    pub fn snapshot(&self) -> Arc<Inventory> {
        self.current.load_full()
    }

    /// The counters.
    pub fn stats(&self) -> ReadStats {
        ReadStats {
            memory: self.memory.load(Ordering::Relaxed),
            postgis: self.postgis.load(Ordering::Relaxed),
            rebuilds: self.rebuilds.load(Ordering::Relaxed),
        }
    }

    fn swap(&self, next: Inventory) {
        let old = self.current.swap(Arc::new(next));
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
        // Freeing a snapshot is O(features): not on the async runtime.
        if tokio::runtime::Handle::try_current().is_ok() {
            drop(tokio::task::spawn_blocking(move || drop(old)));
        }
    }

    /// A snapshot that may answer, for every layer of `layers`, a request
    /// beginning now (reads the layers' versions: one query), waiting up to
    /// [`CATCH_UP`] for the listener; `None`: read PostGIS.
    ///
    /// # Errors
    /// When reading the versions fails.
    pub async fn fresh(
        &self,
        pool: &PgPool,
        coverage: &CoverageState,
        layers: &[CollectionId],
    ) -> Result<Option<Arc<Inventory>>, DbError> {
        if !self.current.load().loaded {
            self.postgis.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let db = self.versions(pool).await?;
        Ok(self.fresh_for(&db, coverage, layers).await)
    }

    /// [`ReadModel::fresh`] for a request that saw the versions `db`.
    pub async fn fresh_for(
        &self,
        db: &Versions,
        coverage: &CoverageState,
        layers: &[CollectionId],
    ) -> Option<Arc<Inventory>> {
        let mut rx = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        loop {
            rx.borrow_and_update();
            let inv = self.current.load_full();
            if layers.iter().all(|c| inv.servable(*c, db)) {
                self.memory.fetch_add(1, Ordering::Relaxed);
                return Some(inv);
            }
            if coverage.listener_state() != ListenerState::Connected
                || !matches!(
                    tokio::time::timeout_at(deadline, rx.changed()).await,
                    Ok(Ok(()))
                )
            {
                self.postgis.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
    }

    /// Rebuilds every layer from one database snapshot.
    ///
    /// # Errors
    /// When loading fails; the previous snapshot stays.
    pub async fn rebuild(&self, pool: &PgPool) -> Result<(), SyncError> {
        let mut state = self.writer.lock().await;
        let mut tx = snapshot_tx(pool).await?;
        let versions = db::layers::versions(&mut *tx).await?;
        let towers = db::towers::all(&mut tx).await?;
        let fibre = db::fibre_routes::all(&mut *tx).await?;
        let dcs = db::data_centres::all(&mut *tx).await?;
        let districts = db::districts::all(&mut *tx).await?;
        let areas = db::coverage::areas(&mut *tx).await?;
        tx.commit().await?;
        let config = self.config.clone();
        let started = std::time::Instant::now();
        let next = blocking(move || -> Result<Inventory, SyncError> {
            let render = |r: Vec<Record>| -> Result<Layer, SyncError> {
                Ok(Layer::build(
                    r.into_iter()
                        .map(|r| Entry::new(r, &config, &areas))
                        .collect::<Result<_, _>>()?,
                ))
            };
            Ok(Inventory {
                labels: versions,
                horizon: versions,
                loaded: true,
                towers: Arc::new(render(towers.into_iter().map(Record::Tower).collect())?),
                fibre: Arc::new(render(fibre.into_iter().map(Record::Fibre).collect())?),
                data_centres: Arc::new(render(dcs.into_iter().map(Record::DataCentre).collect())?),
                districts: Arc::new(render(
                    districts.into_iter().map(Record::District).collect(),
                )?),
                absent: Arc::default(),
                areas: Arc::new(areas),
            })
        })
        .await??;
        tracing::info!(
            towers = next.towers.len(),
            fibre_routes = next.fibre.len(),
            data_centres = next.data_centres.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            approx_mib = next.approx_bytes() / (1 << 20),
            "read model loaded"
        );
        // Every change applied so far was read before this snapshot.
        state.spans.clear_below(next.labels.towers);
        state.as_of.clear();
        state.loaded_at = next.labels.towers;
        self.swap(next);
        self.rebuilds.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Re-reads layers `layers` whole (fibre routes, data centres; a change
    /// of districts rebuilds everything, since towers' ranges depend on
    /// them).
    ///
    /// # Errors
    /// When loading fails.
    pub async fn reload_layers(
        &self,
        pool: &PgPool,
        layers: &[CollectionId],
    ) -> Result<(), SyncError> {
        if layers
            .iter()
            .any(|c| matches!(c, CollectionId::Districts | CollectionId::Towers))
        {
            return self.rebuild(pool).await;
        }
        let _guard = self.writer.lock().await;
        if !self.current.load().loaded {
            return Ok(());
        }
        let mut tx = snapshot_tx(pool).await?;
        let versions = db::layers::versions(&mut *tx).await?;
        let mut loaded = Vec::new();
        for c in layers {
            let records: Vec<Record> = match c {
                CollectionId::FibreRoutes => db::fibre_routes::all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(Record::Fibre)
                    .collect(),
                _ => db::data_centres::all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(Record::DataCentre)
                    .collect(),
            };
            loaded.push((*c, records));
        }
        tx.commit().await?;
        let config = self.config.clone();
        let current = self.current.load_full();
        let areas = current.areas.clone();
        let next = blocking(move || -> Result<Inventory, SyncError> {
            let mut next = current.shallow();
            for (c, records) in loaded {
                let entries = records
                    .into_iter()
                    .map(|r| Entry::new(r, &config, &areas))
                    .collect::<Result<_, _>>()?;
                next = next.with_layer(c, Layer::build(entries));
                next.labels.set(c, versions.get(c));
                next.horizon.set(c, versions.get(c));
            }
            Ok(next)
        })
        .await??;
        self.swap(next);
        Ok(())
    }

    /// Applies a change of the towers layer: `patch`.
    ///
    /// Concurrent calls are combined ([`crate::combine`]): whoever holds the
    /// writer's lock takes every change queued so far, re-reads the towers
    /// to re-read in one snapshot, and patches the whole batch into one new
    /// layer; the others find their change done.
    async fn patch_towers(&self, pool: &PgPool, patch: Patch) -> Result<(), SyncError> {
        let ticket = self.pending.push(patch);
        let mut state = self.writer.lock().await;
        if self.pending.is_done(ticket) {
            return Ok(());
        }
        let batch = self.pending.take();
        let result = self.patch_batch(&mut state, pool, batch.items).await;
        self.pending.finish(batch.through);
        result
    }

    /// [`ReadModel::patch_towers`] for one batch; the caller holds the
    /// writer's lock (`state`).
    async fn patch_batch(
        &self,
        state: &mut WriterState,
        pool: &PgPool,
        batch: Vec<Patch>,
    ) -> Result<(), SyncError> {
        let current = self.current.load_full();
        if !current.loaded {
            return Ok(());
        }
        let mut next = current.shallow();
        // The newest known state of each tower the batch names, with the
        // version it is as of.
        let mut newest: std::collections::HashMap<i64, (i64, Option<Box<Tower>>)> =
            std::collections::HashMap::new();
        let mut offer = |id: i64, version: i64, tower: Option<Box<Tower>>| {
            let e = newest.entry(id).or_insert((i64::MIN, None));
            if version > e.0 {
                *e = (version, tower);
            }
        };
        // What the batch teaches `state` is kept aside until the new
        // snapshot is built: a batch that fails changes nothing (its spans
        // must not move the label past data it did not apply).
        let mut spans = Vec::new();
        let mut reread = Vec::new();
        let mut notified = None;
        for p in batch {
            match p {
                Patch::Reread(ids, v) => {
                    reread.extend(ids);
                    notified = notified.max(v);
                }
                Patch::Written {
                    id,
                    tower,
                    base,
                    now,
                } => {
                    spans.push((base, now));
                    offer(id, now, tower);
                }
            }
        }
        reread.sort_unstable();
        reread.dedup();
        if !reread.is_empty() {
            let mut tx = snapshot_tx(pool).await?;
            let versions = db::layers::versions(&mut *tx).await?;
            let tower_ids: Vec<crate::domain::TowerId> =
                reread.iter().copied().map(crate::domain::TowerId).collect();
            let towers = db::towers::get_many(&mut tx, &tower_ids).await?;
            tx.commit().await?;
            let mut read: std::collections::HashMap<i64, Tower> =
                towers.into_iter().map(|t| (t.id.get(), t)).collect();
            for id in reread {
                offer(id, versions.towers, read.remove(&id).map(Box::new));
            }
            next.horizon.towers = next.horizon.towers.max(versions.towers);
        }
        // Keep what is newer than the snapshot's data and differs from it
        // (a write is seen by its writer and again by its notification).
        let mut removed: Vec<SortKey> = Vec::new();
        let mut added: Vec<Tower> = Vec::new();
        let mut as_of = Vec::new();
        for (id, (version, tower)) in newest {
            if version <= state.as_of(id) {
                continue;
            }
            as_of.push((id, version));
            let held = current
                .towers
                .get(&(id, String::new()))
                .and_then(|e| match &*e.record {
                    Record::Tower(t) => Some(t),
                    _ => None,
                });
            if held == tower.as_deref() {
                continue;
            }
            removed.push((id, String::new()));
            added.extend(tower.map(|t| *t));
        }
        if !removed.is_empty() {
            let (config, areas) = (self.config.clone(), current.areas.clone());
            let layer = current.towers.clone();
            let render = move || -> Result<Layer, SyncError> {
                let added = added
                    .into_iter()
                    .map(|t: Tower| Entry::new(Record::Tower(t), &config, &areas))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(layer.patched(&removed, added))
            };
            // Patching copies the layer's index (O(features)): never on the
            // async runtime.
            next.towers = Arc::new(blocking(render).await??);
        }
        state.as_of.extend(as_of);
        for (base, now) in spans {
            state.spans.insert(base, now);
        }
        if let Some(v) = notified {
            next.labels.towers = next.labels.towers.max(v);
        }
        next.labels.towers = state.spans.follow(next.labels.towers);
        self.swap(next);
        Ok(())
    }

    /// Brings the model up to date after this service committed a change
    /// of tower `id` that moved the towers' version from `span.0` to
    /// `span.1`, leaving the tower as `written` (`None`: deleted) — read in
    /// the writing transaction, so nothing is read again. Without a span
    /// (the version is unknown) the tower is re-read and the listener moves
    /// the label.
    ///
    /// # Errors
    /// When loading fails.
    pub async fn after_tower_write(
        &self,
        pool: &PgPool,
        id: i64,
        written: Option<Tower>,
        span: Option<(i64, i64)>,
    ) -> Result<(), SyncError> {
        let patch = match span {
            Some((base, now)) => Patch::Written {
                id,
                tower: written.map(Box::new),
                base,
                now,
            },
            None => Patch::Reread(vec![id], None),
        };
        self.patch_towers(pool, patch).await
    }

    /// Applies one batch of notifications.
    async fn apply_batch(&self, pool: &PgPool, b: &ChangeBatch) -> Result<(), SyncError> {
        let full = b.unknown
            || b.towers.len() > 2_000
            || b.tables.iter().any(|t| t == "districts" || t == "towers")
            || b.versions.contains_key("districts");
        if full {
            return self.rebuild(pool).await;
        }
        let layers: Vec<CollectionId> = [CollectionId::FibreRoutes, CollectionId::DataCentres]
            .into_iter()
            .filter(|c| {
                let name = db::layers::layer_name(*c);
                b.tables.contains(name) || b.versions.contains_key(name)
            })
            .collect();
        if !layers.is_empty() {
            self.reload_layers(pool, &layers).await?;
        }
        let towers_v = b.versions.get("towers").copied();
        // Every change the batch notifies is already in the snapshot when
        // the label has passed its version and no row of it is unversioned
        // (this service's writes, patched by their writers): nothing to
        // read again.
        let covered = towers_v.is_some_and(|v| v <= self.current.load().labels.towers)
            && !b.towers_unversioned;
        if !covered && (!b.towers.is_empty() || towers_v.is_some()) {
            let ids: Vec<i64> = b.towers.iter().copied().collect();
            self.patch_towers(pool, Patch::Reread(ids, towers_v))
                .await?;
        }
        Ok(())
    }
}

impl Follower for ReadModel {
    fn reload<'a>(&'a self, pool: &'a PgPool) -> FollowFuture<'a> {
        Box::pin(self.rebuild(pool))
    }

    fn reload_layers<'a>(
        &'a self,
        pool: &'a PgPool,
        layers: &'a [CollectionId],
    ) -> FollowFuture<'a> {
        Box::pin(ReadModel::reload_layers(self, pool, layers))
    }

    fn apply<'a>(&'a self, pool: &'a PgPool, batch: &'a ChangeBatch) -> FollowFuture<'a> {
        Box::pin(self.apply_batch(pool, batch))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A read-only transaction that sees one snapshot of the database.
async fn snapshot_tx(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, DbError> {
    let mut tx = pool.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Runs `f` on a blocking thread (start-up and layer loads: not a request's
/// work, so not on the bounded CPU pool).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SyncError::Db(DbError::Sqlx(sqlx::Error::Protocol(e.to_string()))))
}

#[cfg(test)]
mod tests {
    use super::Spans;

    #[test]
    fn the_label_follows_write_spans_whatever_order_their_patches_finish_in() {
        let mut spans = Spans::default();
        // Three writes committed 10 → 15 → 22 → 40; the last finishes first.
        spans.insert(22, 40);
        assert_eq!(spans.follow(10), 10, "the chain starts at 10, not 22");
        spans.insert(15, 22);
        assert_eq!(spans.follow(10), 10);
        spans.insert(10, 15);
        assert_eq!(spans.follow(10), 40);
        assert!(spans.0.is_empty(), "followed spans are dropped");
    }

    #[test]
    fn spans_behind_the_label_are_dropped_and_a_gap_stops_the_label() {
        let mut spans = Spans::default();
        spans.insert(5, 8);
        spans.insert(30, 31);
        // The listener moved the label to 20 (a plain SQL write 8 → 20).
        assert_eq!(spans.follow(20), 20);
        assert_eq!(spans.0.len(), 1, "5 → 8 is behind the label");
        spans.insert(20, 30);
        assert_eq!(spans.follow(20), 31);
        spans.clear_below(100);
        assert!(spans.0.is_empty());
    }

    #[test]
    fn spans_are_bounded() {
        let mut spans = Spans::default();
        for b in 0..(super::MAX_SPANS as i64 + 10) {
            spans.insert(2 * b + 1_000, 2 * b + 1_001);
        }
        assert_eq!(spans.0.len(), super::MAX_SPANS);
    }
}
