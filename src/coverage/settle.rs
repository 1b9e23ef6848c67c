//! Settle grids: per (technology, operator) tree, which 50 m cells one of
//! its terrain footprints covers entirely, and which no sector of it can
//! cover at all, so that a batch reads no footprint for most points.
//!
//! A grid is made of 400 m tiles ([`TILE_M`], the batch's tiles) of 8 × 8
//! cells ([`CELL_M`]) in the index's [`LocalFrame`]; per tile two 64-bit
//! masks: `covered` (some footprint sector of the tree covers every point
//! of the cell: [`CoverSector::covers_box`] answers `Some(true)` for the
//! cell's lon/lat box) and `mixed` (some sector may cover part of the cell).
//! A cell in neither mask is covered by no sector of the tree: every sector
//! whose R-tree envelope meets it answered `Some(false)`. Both statements
//! are what the point path ([`CoverSector::covers`]) answers for every point
//! of the cell, because `covers_box` reads (padded) every footprint node the
//! point decision may read; the grid is therefore exact, not an
//! approximation, and a cell that cannot be settled is left to the points.
//!
//! A sector's cells are found by a quadtree over each tile its envelope
//! meets: a block settled by `covers_box` is settled for all its cells (a
//! sub-box's window of distances and bearings lies inside the box's, so the
//! answer holds for it too), an unsettled block splits in four down to one
//! cell, which is then `mixed`. Sectors without a footprint (explicit
//! ranges: wedges) settle cells clear of their edges the same way.
//!
//! Grids are made by
//! [`CoverageIndex::warm_settle_grids`](super::index::CoverageIndex::warm_settle_grids)
//! (the service runs it in the background after a load) and patched tile
//! by tile when a write changes a tree; a batch uses the grids made and
//! answers the other trees from their R-trees.

use std::collections::HashMap;

use rstar::{AABB, RTree, RTreeObject};

use super::index::CoverSector;
use crate::spatial::frame::LocalFrame;

/// Side of a cell, metres (frame metres).
pub const CELL_M: f64 = 50.0;
/// Cells per tile side.
pub const TILE_CELLS: usize = 8;
/// Side of a tile, metres: the batch groups its points by these tiles.
pub const TILE_M: f64 = CELL_M * TILE_CELLS as f64;
/// Padding of a cell's lon/lat box, degrees (about 0.1 mm): a point the
/// frame puts in a cell lies in its padded box despite rounding.
const PAD_DEG: f64 = 1e-9;

/// A tile's cells: bit `y × 8 + x` for cell (x, y) of the tile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TileMasks {
    /// Cells some sector covers entirely.
    pub covered: u64,
    /// Cells some sector may cover in part.
    pub mixed: u64,
}

/// What the grid says of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellState {
    /// Some sector of the tree covers every point of the cell.
    Covered,
    /// No sector of the tree covers any point of the cell.
    Empty,
    /// Points of the cell must be decided one by one.
    Mixed,
}

impl TileMasks {
    /// The state of the cell with bit `bit`.
    #[inline]
    pub fn state(&self, bit: u32) -> CellState {
        if self.covered >> bit & 1 == 1 {
            CellState::Covered
        } else if self.mixed >> bit & 1 == 1 {
            CellState::Mixed
        } else {
            CellState::Empty
        }
    }
}

/// The tile key and cell bit of frame position `[x, y]` (metres).
#[inline]
pub fn locate([x, y]: [f64; 2]) -> ((i64, i64), u32) {
    let (tx, ty) = ((x / TILE_M).floor(), (y / TILE_M).floor());
    let cx = (((x - tx * TILE_M) / CELL_M) as u32).min(TILE_CELLS as u32 - 1);
    let cy = (((y - ty * TILE_M) / CELL_M) as u32).min(TILE_CELLS as u32 - 1);
    ((tx as i64, ty as i64), cy * TILE_CELLS as u32 + cx)
}

/// A sector that leaves cells of a tile undecided: the points there ask
/// it one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Undecided {
    /// The sector's tower.
    pub tower_id: i64,
    /// The sector.
    pub sector_id: i64,
    /// The cells it leaves undecided (bit `y × 8 + x`).
    pub cells: u64,
}

/// One tile of a grid: its masks and the sectors behind its `mixed` cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tile {
    /// Which cells are covered, mixed or empty.
    pub masks: TileMasks,
    /// The sectors that leave cells undecided, by tower and sector id.
    pub undecided: Vec<Undecided>,
}

impl Tile {
    fn add(&mut self, s: &CoverSector, frame: &LocalFrame, key: (i64, i64)) {
        let cells = settle_in_tile(s, frame, key, &mut self.masks.covered);
        if cells != 0 {
            self.masks.mixed |= cells;
            self.undecided.push(Undecided {
                tower_id: s.tower_id,
                sector_id: s.sector_id,
                cells,
            });
        }
    }

    fn is_empty(&self) -> bool {
        self.masks == TileMasks::default()
    }
}

/// The settle grid of one tree (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettleGrid {
    tiles: HashMap<(i64, i64), Tile>,
}

/// The mask of the `size × size` block of cells from cell (`x`, `y`).
fn block_mask(x: usize, y: usize, size: usize) -> u64 {
    let row = if size == 64 {
        u64::MAX
    } else {
        ((1u64 << size) - 1) << x
    };
    (y..y + size).fold(0, |m, r| m | row << (r * TILE_CELLS))
}

/// The tiles (keys) a frame envelope meets.
fn tiles_of(env: &AABB<[f64; 2]>) -> impl Iterator<Item = (i64, i64)> + use<> {
    let (lo, hi) = (env.lower(), env.upper());
    let (x0, x1) = (
        (lo[0] / TILE_M).floor() as i64,
        (hi[0] / TILE_M).floor() as i64,
    );
    let (y0, y1) = (
        (lo[1] / TILE_M).floor() as i64,
        (hi[1] / TILE_M).floor() as i64,
    );
    (y0..=y1).flat_map(move |y| (x0..=x1).map(move |x| (x, y)))
}

/// The frame envelope of tile `key`.
pub fn tile_envelope((tx, ty): (i64, i64)) -> AABB<[f64; 2]> {
    let (x, y) = (tx as f64 * TILE_M, ty as f64 * TILE_M);
    AABB::from_corners([x, y], [x + TILE_M, y + TILE_M])
}

/// Adds the cells sector `s` covers entirely in tile `key` to `covered`;
/// returns the cells it leaves undecided.
fn settle_in_tile(s: &CoverSector, frame: &LocalFrame, key: (i64, i64), covered: &mut u64) -> u64 {
    let mut mixed = 0u64;
    let env = s.envelope();
    let (ox, oy) = (key.0 as f64 * TILE_M, key.1 as f64 * TILE_M);
    // The block of cells (x, y, size) in the tile: whether the sector's
    // envelope meets it.
    let meets = |x: usize, y: usize, size: usize| {
        let (x0, y0) = (ox + x as f64 * CELL_M, oy + y as f64 * CELL_M);
        let side = size as f64 * CELL_M;
        let (lo, hi) = (env.lower(), env.upper());
        x0 <= hi[0] && x0 + side >= lo[0] && y0 <= hi[1] && y0 + side >= lo[1]
    };
    let mut stack = vec![(0usize, 0usize, TILE_CELLS)];
    while let Some((x, y, size)) = stack.pop() {
        if !meets(x, y, size) {
            continue;
        }
        let mask = block_mask(x, y, size);
        // Nothing to learn where the cells are already covered.
        if *covered & mask == mask {
            continue;
        }
        let (x0, y0) = (ox + x as f64 * CELL_M, oy + y as f64 * CELL_M);
        let side = size as f64 * CELL_M;
        let [w, so] = frame.inv([x0, y0]);
        let [e, n] = frame.inv([x0 + side, y0 + side]);
        match s.covers_box([w - PAD_DEG, so - PAD_DEG, e + PAD_DEG, n + PAD_DEG]) {
            Some(true) => *covered |= mask,
            Some(false) => {}
            None if size == 1 => mixed |= mask,
            None => {
                let h = size / 2;
                stack.extend([(x, y, h), (x + h, y, h), (x, y + h, h), (x + h, y + h, h)]);
            }
        }
    }
    mixed
}

impl SettleGrid {
    /// The grid of every sector of `tree`.
    pub fn build(tree: &RTree<CoverSector>, frame: &LocalFrame) -> Self {
        Self::build_until(tree, frame, &|| false).unwrap_or_default()
    }

    /// [`build`](Self::build), or `None` as soon as `stop` says so (asked
    /// every 64 sectors).
    pub fn build_until(
        tree: &RTree<CoverSector>,
        frame: &LocalFrame,
        stop: &dyn Fn() -> bool,
    ) -> Option<Self> {
        let mut tiles: HashMap<(i64, i64), Tile> = HashMap::new();
        for (i, s) in tree.iter().enumerate() {
            if i % 64 == 0 && stop() {
                return None;
            }
            for key in tiles_of(&s.envelope()) {
                tiles.entry(key).or_default().add(s, frame, key);
            }
        }
        tiles.retain(|_, t| !t.is_empty());
        for t in tiles.values_mut() {
            t.undecided.sort_unstable();
        }
        Some(Self { tiles })
    }

    /// This grid with the tiles `envelopes` meet decided again from
    /// `tree` (the tree after a write that changed the sectors whose old
    /// and new envelopes these are).
    pub fn patched(
        &self,
        tree: &RTree<CoverSector>,
        frame: &LocalFrame,
        envelopes: &[AABB<[f64; 2]>],
    ) -> Self {
        let mut next = self.clone();
        let mut keys: Vec<(i64, i64)> = envelopes.iter().flat_map(tiles_of).collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let mut tile = Tile::default();
            for s in tree.locate_in_envelope_intersecting(tile_envelope(key)) {
                tile.add(s, frame, key);
            }
            if tile.is_empty() {
                next.tiles.remove(&key);
            } else {
                tile.undecided.sort_unstable();
                next.tiles.insert(key, tile);
            }
        }
        next
    }

    /// Tile `key` (`None`: all its cells are empty).
    #[inline]
    pub fn tile(&self, key: (i64, i64)) -> Option<&Tile> {
        self.tiles.get(&key)
    }

    /// Tiles held.
    pub fn tiles(&self) -> usize {
        self.tiles.len()
    }

    /// Bytes held (approximately).
    pub fn approx_bytes(&self) -> usize {
        self.tiles.capacity() * (std::mem::size_of::<((i64, i64), Tile)>() + 1)
            + self
                .tiles
                .values()
                .map(|t| t.undecided.capacity() * std::mem::size_of::<Undecided>())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_masks_cover_their_cells_only() {
        assert_eq!(block_mask(0, 0, 8), u64::MAX);
        assert_eq!(block_mask(0, 0, 1), 1);
        assert_eq!(block_mask(7, 7, 1), 1 << 63);
        assert_eq!(block_mask(4, 4, 4).count_ones(), 16);
        assert_eq!(block_mask(2, 0, 2), 0b1100 | 0b1100 << 8);
    }

    #[test]
    fn points_locate_in_the_cell_whose_box_holds_them() {
        assert_eq!(locate([0.0, 0.0]), ((0, 0), 0));
        assert_eq!(locate([399.9, 399.9]), ((0, 0), 63));
        assert_eq!(locate([-0.1, 50.0]), ((-1, 0), 8 + 7));
        assert_eq!(locate([400.0, -400.0]), ((1, -1), 0));
    }
}
