//! The towers of one read-model layer laid out for cutting tiles
//! ([`TowerPoints`]), and the `towers` tile cut from it.
//!
//! A cold tile used to walk the layer's R-tree of shared entries, follow
//! each entry to its record, hash every attribute value afresh and allocate
//! per feature (~1.8 µs a tower at z13). Here each tower is one flat record
//! (positions in lon/lat for the selection and EPSG:3857 for the tile
//! units) whose attribute values are ids into one dictionary of values
//! encoded once, as the MVT `values` field, for the whole layer. A tile maps
//! the dictionary ids it meets to its own value indices and copies each
//! value's bytes once; nothing else is encoded twice or allocated per
//! feature. The store is built on the first tile a layer version is asked
//! for (O(towers), off the async runtime like every tile) and dropped with
//! the layer.
//!
//! The selection, snapping, clipping and thinning are those of
//! [`memory`](super::memory) and `tile_towers.sql`.

use std::collections::HashMap;

use rstar::primitives::GeomWithData;
use std::sync::Arc;

use rstar::{AABB, Envelope, RTree};

use super::grid::{BUFFER, TileCoord};
use super::memory::{
    Frame, Val, command, field_bytes, inside_units, overlaps_as_postgis, snap_units, varint, zigzag,
};
use crate::db::tiles::{THIN_ABOVE, THIN_CELL};
use crate::service::Record;
use crate::service::read_model::Entry;

/// Hash maps of the encoder (keys come from the inventory, not requests).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// The keys of the `towers` layer, in the order of `tile_towers.sql`.
pub const TOWER_KEYS: &[&str] = &[
    "id",
    "operator_id",
    "site_code",
    "name",
    "structure_type",
    "status",
    "height_m",
    "synthetic",
    "point_count",
    "tenant_count",
    "shared",
    "tenants",
    "technologies",
    "sector_count",
];

const KEYS: usize = 14;
/// The key index of `point_count` (set per tile, not stored).
const POINT_COUNT: usize = 8;
/// A value id meaning "attribute left out" (a null).
const ABSENT: u32 = u32::MAX;

/// One tower as the tiles need it.
#[derive(Debug, Clone, Copy)]
struct TowerPoint {
    /// Lon/lat (degrees), for the `&&` selection.
    lon: f64,
    lat: f64,
    /// EPSG:3857 metres (x, y), for the tile units.
    mx: f64,
    my: f64,
    id: u64,
    /// The operator's value id (the thinning cell is per operator).
    operator: u32,
    /// Value ids by key index ([`ABSENT`]: left out).
    values: [u32; KEYS],
}

/// The towers of a layer, flat, with their attribute values interned once
/// for the layer (see the module documentation).
///
/// A store is patched for the next version of its layer
/// ([`TowerPoints::patched`]) rather than built again, and shares all but
/// O(changes × log n) of itself with the store it came from (persistent
/// vectors and maps, [`imbl`]; the R-tree shared whole). A removed tower's
/// slot is left behind, dead (in `dead`, so no tile counts it), and an
/// added one is appended to the slots and to `since`,
/// its values interned into the dictionary. Past
/// [`rebuild_after`](crate::service::read_model::rebuild_after) slots in
/// `since` the R-tree is bulk-loaded afresh; past [`MAX_DEAD_SHARE`] of
/// dead slots the whole store is built afresh, so dead slots and the
/// values only they used stay bounded.
#[derive(Clone)]
pub struct TowerPoints {
    /// The live towers by lon/lat as of the last build of the tree, each
    /// with its slot and a copy of its point (a tile reads no other
    /// structure for them); `since` holds the slots put in after it. A slot
    /// in `dead` (removed or replaced since) does not count.
    tree: Arc<RTree<Placed>>,
    since: imbl::Vector<u32>,
    dead: PSet<u32>,
    points: imbl::Vector<TowerPoint>,
    /// The live slot of each tower id.
    slot_of: PMap<u64, u32>,
    dict: Dictionary,
}

/// A tower in the store's R-tree: its lon/lat, slot and point.
type Placed = GeomWithData<[f64; 2], (u32, TowerPoint)>;

/// A persistent hash set (see [`PMap`]).
type PSet<K> =
    imbl::GenericHashSet<K, foldhash::fast::FixedState, imbl::shared_ptr::DefaultSharedPtr>;

/// A persistent hash map (structurally shared between a store and the
/// store patched from it).
type PMap<K, V> =
    imbl::GenericHashMap<K, V, foldhash::fast::FixedState, imbl::shared_ptr::DefaultSharedPtr>;

/// The share of dead slots (removed or replaced towers) past which
/// [`TowerPoints::patched`] builds the store afresh.
pub const MAX_DEAD_SHARE: f64 = 0.25;

impl std::fmt::Debug for TowerPoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TowerPoints")
            .field("towers", &self.slot_of.len())
            .field("slots", &self.points.len())
            .field("values", &self.dict.len())
            .finish_non_exhaustive()
    }
}

/// Interns values: each distinct value once, encoded as a layer `values`
/// field (4). The values of the last full build are one flat buffer,
/// shared by every store patched from it; values interned by patches since
/// go to a persistent vector after them (ids continue), so a patched
/// store copies none of the others.
#[derive(Default, Clone)]
struct Dictionary {
    strs: PMap<Arc<str>, u32>,
    uints: PMap<u64, u32>,
    sints: PMap<i64, u32>,
    doubles: PMap<u64, u32>,
    bools: [Option<u32>; 2],
    /// The built values' encoded fields, back to back, and each one's
    /// (start, length) by id.
    base: Arc<Vec<u8>>,
    base_spans: Arc<Vec<(u32, u32)>>,
    /// Values interned after the build (id = `base_spans.len()` + index).
    extra: imbl::Vector<Arc<[u8]>>,
    /// Set once built: new values go to `extra`.
    sealed: bool,
}

impl Dictionary {
    /// Values interned.
    fn len(&self) -> usize {
        self.base_spans.len() + self.extra.len()
    }

    /// The encoded `values` field of value `id`.
    fn bytes(&self, id: u32) -> &[u8] {
        let i = id as usize;
        match self.base_spans.get(i) {
            Some(&(at, len)) => &self.base[at as usize..(at + len) as usize],
            None => &self.extra[i - self.base_spans.len()],
        }
    }

    fn push(&mut self, v: Val<'_>) -> u32 {
        let id = u32::try_from(self.len()).unwrap_or(ABSENT - 1);
        let mut m = Vec::with_capacity(16);
        v.encode(&mut m);
        if self.sealed {
            let mut field = Vec::with_capacity(m.len() + 2);
            field_bytes(&mut field, 4, &m);
            self.extra.push_back(field.into());
        } else {
            // While building the store owns these alone: no copy.
            let base = Arc::make_mut(&mut self.base);
            let start = base.len();
            field_bytes(base, 4, &m);
            let len = base.len() - start;
            Arc::make_mut(&mut self.base_spans).push((
                u32::try_from(start).unwrap_or(u32::MAX),
                u32::try_from(len).unwrap_or(u32::MAX),
            ));
        }
        id
    }

    fn id(&mut self, v: Val<'_>) -> u32 {
        let known = match v {
            Val::Str(s) => self.strs.get(s).copied(),
            Val::Uint(u) => self.uints.get(&u).copied(),
            Val::Sint(i) => self.sints.get(&i).copied(),
            Val::Double(d) => self.doubles.get(&d).copied(),
            Val::Bool(b) => self.bools[usize::from(b)],
        };
        if let Some(id) = known {
            return id;
        }
        let id = self.push(v);
        match v {
            Val::Str(s) => {
                self.strs.insert(s.into(), id);
            }
            Val::Uint(u) => {
                self.uints.insert(u, id);
            }
            Val::Sint(i) => {
                self.sints.insert(i, id);
            }
            Val::Double(d) => {
                self.doubles.insert(d, id);
            }
            Val::Bool(b) => self.bools[usize::from(b)] = Some(id),
        }
        id
    }
}

impl TowerPoints {
    /// The store of the towers among `entries` (other records are skipped).
    pub fn build<'e>(entries: impl Iterator<Item = &'e std::sync::Arc<Entry>>) -> Self {
        let mut store = Self {
            tree: Arc::new(RTree::new()),
            since: imbl::Vector::new(),
            dead: PSet::default(),
            points: imbl::Vector::new(),
            slot_of: PMap::default(),
            dict: Dictionary::default(),
        };
        for e in entries {
            if let Some(p) = store.point(e) {
                store.slot_of.insert(p.id, slot(store.points.len()));
                store.points.push_back(p);
            }
        }
        store.rebuild_tree();
        store.dict.sealed = true;
        store
    }

    /// Builds the R-tree of the live slots afresh (and empties `since` and
    /// `dead`: no dead slot is in the new tree).
    fn rebuild_tree(&mut self) {
        let points = &self.points;
        self.tree = Arc::new(RTree::bulk_load(
            self.slot_of
                .values()
                .map(|&at| {
                    let p = points[at as usize];
                    GeomWithData::new([p.lon, p.lat], (at, p))
                })
                .collect(),
        ));
        self.since = imbl::Vector::new();
        self.dead = PSet::default();
    }

    /// This store for the next version of its layer: the towers of
    /// `removed` (ids) taken out, `added` put in (a changed tower is in
    /// both); `layer` is that next version whole, to build the store from
    /// afresh once too many slots are dead ([`MAX_DEAD_SHARE`]). Equal in
    /// every tile to [`TowerPoints::build`] over `layer`.
    pub fn patched<'e>(
        &self,
        removed: &[i64],
        added: &[&'e std::sync::Arc<Entry>],
        layer: impl Iterator<Item = &'e std::sync::Arc<Entry>>,
    ) -> Self {
        let dead = self.points.len() - self.slot_of.len() + removed.len() + added.len();
        if dead as f64 > MAX_DEAD_SHARE * (self.points.len() + added.len()) as f64 {
            return Self::build(layer);
        }
        let mut next = self.clone();
        for id in removed {
            if let Some(at) = next.slot_of.remove(&u64::try_from(*id).unwrap_or(u64::MAX)) {
                next.dead.insert(at);
            }
        }
        for e in added {
            if let Some(p) = next.point(e) {
                let at = slot(next.points.len());
                if let Some(old) = next.slot_of.insert(p.id, at) {
                    next.dead.insert(old);
                }
                next.since.push_back(at);
                next.points.push_back(p);
            }
        }
        if next.since.len() > crate::service::read_model::rebuild_after(next.slot_of.len()) {
            next.rebuild_tree();
        }
        next
    }

    /// Entry `e` as a point, its values interned (`None`: not a tower, or
    /// no position).
    fn point(&mut self, e: &Entry) -> Option<TowerPoint> {
        let Record::Tower(tw) = &*e.record else {
            return None;
        };
        if !(tw.lon.is_finite() && tw.lat.is_finite()) {
            return None;
        }
        let dict = &mut self.dict;
        let (tenants_csv, technologies_csv) = e.tower_tile_text();
        let tenants = tw.tenants.len() as i64;
        let mut values = [ABSENT; KEYS];
        let row: [Option<Val<'_>>; KEYS] = [
            Some(Val::int(tw.id.get())),
            Some(Val::Str(&tw.operator)),
            Some(Val::Str(&tw.site_code)),
            tw.name.as_deref().map(Val::Str),
            Some(Val::Str(tw.structure_type.as_str())),
            Some(Val::Str(tw.status.as_str())),
            Some(Val::Double(tw.height_m.to_bits())),
            Some(Val::Bool(tw.synthetic)),
            None,
            Some(Val::int(tenants)),
            Some(Val::Bool(tenants > 0)),
            Some(Val::Str(tenants_csv)),
            Some(Val::Str(technologies_csv)),
            Some(Val::int(tw.sectors.len() as i64)),
        ];
        for (slot, v) in values.iter_mut().zip(row) {
            if let Some(v) = v {
                *slot = dict.id(v);
            }
        }
        let (mx, my) = e.mercator;
        Some(TowerPoint {
            lon: tw.lon,
            lat: tw.lat,
            mx,
            my,
            id: u64::try_from(tw.id.get()).unwrap_or_default(),
            operator: values[1],
            values,
        })
    }

    /// Towers in the store.
    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    /// True when the store holds no tower.
    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    /// Heap bytes the store holds (estimate).
    pub fn heap_bytes(&self) -> usize {
        let d = &self.dict;
        self.points.len() * std::mem::size_of::<TowerPoint>()
            + self.tree.size() * std::mem::size_of::<Placed>()
            + (self.since.len() + self.dead.len()) * 4
            + self.slot_of.len() * 24
            + d.base.capacity()
            + d.base_spans.capacity() * 8
            + d.extra.iter().map(|v| v.len() + 24).sum::<usize>()
            + d.strs.keys().map(|k| k.len() + 40).sum::<usize>()
            + (d.uints.len() + d.sints.len() + d.doubles.len()) * 24
    }

    /// The `towers` tile `t` as an encoded Mapbox Vector Tile (empty: no
    /// tower in the tile plus its buffer), equal in features and attributes
    /// to `tile_towers.sql` over the same towers.
    pub fn tile(&self, t: TileCoord) -> Vec<u8> {
        let frame = Frame::new(t);
        let b = t.bounds_lonlat(BUFFER);
        // A margin beyond any f32 rounding of city coordinates, then the
        // exact test of PostGIS's single-precision `&&` near the edges.
        let pad = 1e-4;
        let clear = 1e-5;
        let env = AABB::from_corners([b[0] - pad, b[1] - pad], [b[2] + pad, b[3] + pad]);
        let mut cand: Vec<(&TowerPoint, (i32, i32))> = Vec::new();
        let since = self
            .since
            .iter()
            .map(|&at| (at, &self.points[at as usize]))
            .filter(|(_, p)| env.contains_point(&[p.lon, p.lat]));
        let hits = self
            .tree
            .locate_in_envelope(env)
            .map(|h| (h.data.0, &h.data.1))
            .chain(since);
        let any_dead = !self.dead.is_empty();
        for (at, p) in hits {
            if any_dead && self.dead.contains(&at) {
                continue;
            }
            let selected = (p.lon > b[0] + clear
                && p.lon < b[2] - clear
                && p.lat > b[1] + clear
                && p.lat < b[3] - clear)
                || {
                    let c = geo::Coord { x: p.lon, y: p.lat };
                    overlaps_as_postgis(b, c, c)
                };
            if !selected {
                continue;
            }
            let u = frame.units_3857(p.mx, p.my);
            let s = snap_units(u);
            if inside_units(s) {
                cand.push((p, s));
            }
        }
        if cand.is_empty() {
            return Vec::new();
        }
        let thin = i64::try_from(cand.len()).unwrap_or(i64::MAX) > THIN_ABOVE;
        let cell_of = |operator: u32, p: (i32, i32)| {
            (
                operator,
                (f64::from(p.0) / THIN_CELL).floor() as i64,
                (f64::from(p.1) / THIN_CELL).floor() as i64,
            )
        };
        // Per cell: how many towers, and the lowest id among them.
        let mut cells: FastMap<(u32, i64, i64), (i64, u64)> = FastMap::default();
        if thin {
            for (p, s) in &cand {
                let c = cells
                    .entry(cell_of(p.operator, *s))
                    .or_insert((0, u64::MAX));
                c.0 += 1;
                c.1 = c.1.min(p.id);
            }
        }
        let features = if thin { cells.len() } else { cand.len() };
        let mut w = Writer::new(self, features);
        for (p, s) in &cand {
            let point_count = if thin {
                match cells.get(&cell_of(p.operator, *s)) {
                    Some((n, first)) if *first == p.id => *n,
                    _ => continue,
                }
            } else {
                1
            };
            w.point(p, *s, point_count);
        }
        w.finish()
    }
}

/// Writes one `towers` tile from a [`TowerPoints`] store.
struct Writer<'s> {
    store: &'s TowerPoints,
    /// Dictionary id → this tile's value index.
    local: FastMap<u32, u32>,
    /// `point_count` values the dictionary lacks → this tile's index.
    counts: FastMap<u64, u32>,
    values: Vec<u8>,
    next: u32,
    features: Vec<u8>,
    tags: Vec<u8>,
    count: usize,
}

impl<'s> Writer<'s> {
    fn new(store: &'s TowerPoints, features: usize) -> Self {
        Self {
            store,
            local: FastMap::with_capacity_and_hasher(features * 4, Default::default()),
            counts: FastMap::default(),
            values: Vec::with_capacity(features * 24),
            next: 0,
            features: Vec::with_capacity(features * 40),
            tags: Vec::with_capacity(KEYS * 2 * 5),
            count: 0,
        }
    }

    fn index(&mut self, id: u32) -> u32 {
        let (store, values, next) = (self.store, &mut self.values, &mut self.next);
        *self.local.entry(id).or_insert_with(|| {
            values.extend_from_slice(store.dict.bytes(id));
            *next += 1;
            *next - 1
        })
    }

    fn count_index(&mut self, n: u64) -> u32 {
        if let Some(id) = self.store.dict.uints.get(&n) {
            return self.index(*id);
        }
        let (values, next) = (&mut self.values, &mut self.next);
        *self.counts.entry(n).or_insert_with(|| {
            let mut m = Vec::with_capacity(12);
            Val::Uint(n).encode(&mut m);
            field_bytes(values, 4, &m);
            *next += 1;
            *next - 1
        })
    }

    fn point(&mut self, p: &TowerPoint, s: (i32, i32), point_count: i64) {
        self.tags.clear();
        for (k, id) in p.values.iter().enumerate() {
            let vi = if k == POINT_COUNT {
                self.count_index(u64::try_from(point_count).unwrap_or_default())
            } else if *id == ABSENT {
                continue;
            } else {
                self.index(*id)
            };
            varint(&mut self.tags, k as u64);
            varint(&mut self.tags, u64::from(vi));
        }
        let mut geom = [0u8; 15];
        let mut g = 0;
        for v in [command(1, 1), zigzag(s.0), zigzag(s.1)] {
            let mut v = v;
            while v >= 0x80 {
                geom[g] = (v as u8) | 0x80;
                v >>= 7;
                g += 1;
            }
            geom[g] = v as u8;
            g += 1;
        }
        let id_len = varint_len(p.id);
        let tags_len = self.tags.len();
        let len = 1 + id_len + 1 + varint_len(tags_len as u64) + tags_len + 2 + 1 + 1 + g;
        let f = &mut self.features;
        f.push(2 << 3 | 2);
        varint(f, len as u64);
        f.push(1 << 3);
        varint(f, p.id);
        f.push(2 << 3 | 2);
        varint(f, tags_len as u64);
        f.extend_from_slice(&self.tags);
        f.push(3 << 3);
        f.push(geozero::mvt::tile::GeomType::Point as u8);
        f.push(4 << 3 | 2);
        f.push(g as u8);
        f.extend_from_slice(&geom[..g]);
        self.count += 1;
    }

    fn finish(self) -> Vec<u8> {
        if self.count == 0 {
            return Vec::new();
        }
        let mut l = Vec::with_capacity(self.features.len() + self.values.len() + 256);
        l.push(15 << 3);
        l.push(2);
        field_bytes(&mut l, 1, b"towers");
        l.extend_from_slice(&self.features);
        for k in TOWER_KEYS {
            field_bytes(&mut l, 3, k.as_bytes());
        }
        l.extend_from_slice(&self.values);
        l.push(5 << 3);
        varint(&mut l, u64::from(super::grid::EXTENT));
        let mut out = Vec::with_capacity(l.len() + 8);
        field_bytes(&mut out, 3, &l);
        out
    }
}

/// A slot number (the store never holds 2³² towers: the layer's limits are
/// far lower).
fn slot(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Bytes of `v` as a protobuf varint.
fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}
