// Where each layer's data comes from.
//
// Towers, sectors, fibre routes, duct banks and structures are large: they come as Mapbox Vector
// Tiles (TileJSON at /collections/{id}/tiles/WebMercatorQuad/tilejson.json,
// whose tile URLs carry ?v=<layer version>). A service without tiles (404)
// gets the same layers as GeoJSON from the items API, with the properties
// renamed to the tile contract so that styles and filters need not care.
//
// Coverage footprints, H3 gaps and the underserved analysis are computed per
// request: they are fetched for the current view while they are visible.

import { ApiError, getAll, getJSON, tileJSON } from './api.js';

/** Tilesets of the asset layers: tileset ids to try (first that exists) and MVT layer name. */
const TILESETS = {
  towers: { ids: ['towers'], layer: 'towers' },
  sectors: { ids: ['sectors'], layer: 'sectors' },
  // Viewers who may not see a route exactly get its H3 cells in `fibre_presence`.
  fibre: { ids: ['fibre-routes'], layer: 'fibre_routes', presence: 'fibre_presence' },
  // Duct banks with their free-capacity class (and fill for the signed-in).
  ducts: { ids: ['duct-banks'], layer: 'duct_banks' },
  structures: { ids: ['structures'], layer: 'structures' },
};

const fc = (features) => ({ type: 'FeatureCollection', features });

/** Vector source spec from a TileJSON document. */
function vectorSpec(tj) {
  return { type: 'vector', tiles: tj.tiles, minzoom: tj.minzoom ?? 0, maxzoom: tj.maxzoom ?? 16 };
}

async function firstTileJSON(ids) {
  for (const id of ids) {
    const tj = await tileJSON(id);
    if (tj) return { id, tj };
  }
  return null;
}

// ------------------------------------------------------------ GeoJSON fallback

/** Point `dist` metres from [lon, lat] on bearing `brg` degrees (spherical Earth). */
function destination([lon, lat], brg, dist) {
  const R = 6371008.8;
  const d = dist / R;
  const b = (brg * Math.PI) / 180;
  const p1 = (lat * Math.PI) / 180;
  const l1 = (lon * Math.PI) / 180;
  const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(b));
  const l2 = l1 + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
  return [(l2 * 180) / Math.PI, (p2 * 180) / Math.PI];
}

/** The wedge of a sector as a polygon (a circle for beamwidth 360°). */
export function wedge(centre, azimuth, beamwidth, range) {
  const ring = [];
  if (beamwidth >= 360) {
    for (let i = 0; i <= 48; i++) ring.push(destination(centre, (i * 360) / 48, range));
    return { type: 'Polygon', coordinates: [ring] };
  }
  const steps = Math.max(4, Math.ceil(beamwidth / 5));
  ring.push(centre);
  for (let i = 0; i <= steps; i++) ring.push(destination(centre, azimuth - beamwidth / 2 + (i * beamwidth) / steps, range));
  ring.push(centre);
  return { type: 'Polygon', coordinates: [ring] };
}

/** Towers and their sector wedges from the items API, shaped like the tiles. */
async function towersAsGeoJSON() {
  const items = await getAll('towers');
  const towers = [];
  const sectors = [];
  for (const f of items.features) {
    const p = f.properties;
    const techs = [...new Set((p.sectors || []).map((s) => s.technology))].sort();
    towers.push({
      type: 'Feature',
      id: f.id,
      geometry: f.geometry,
      properties: {
        id: f.id, operator_id: p.operator, structure_type: p.structure_type, status: p.status,
        site_code: p.site_code, name: p.name, shared: (p.tenants || []).length > 0,
        technologies: techs.join(','), tenant_count: (p.tenants || []).length,
      },
    });
    if (p.status !== 'operational') continue; // the tiles show operational sectors only
    for (const s of p.sectors || []) {
      sectors.push({
        type: 'Feature',
        id: s.id,
        geometry: wedge(f.geometry.coordinates, s.azimuth_deg, s.beamwidth_deg, s.range_m || 300),
        properties: {
          id: s.id, tower_id: f.id, operator_id: s.operator, technology: s.technology,
          azimuth_deg: s.azimuth_deg, beamwidth_deg: s.beamwidth_deg, range_m: s.range_m,
        },
      });
    }
  }
  return { towers: fc(towers), sectors: fc(sectors) };
}

/**
 * Fibre routes from the items API, shaped like the tiles: an exact route
 * (a line) like the `fibre_routes` layer; a generalised one (a MultiPolygon
 * of H3 cells, for viewers who may not see it exactly) like the
 * `fibre_presence` layer, flagged `generalised`.
 */
async function fibreAsGeoJSON() {
  const items = await getAll('fibre-routes');
  return fc(items.features.map((f) => {
    const p = f.properties;
    if (p.generalised) {
      return {
        type: 'Feature',
        id: f.id,
        geometry: f.geometry,
        properties: {
          route_id: f.id, operator: p.operator, placement: p.placement, status: p.status,
          generalised: true, h3_resolution: p.h3_resolution, h3_cells: Array.isArray(p.h3_cells) ? p.h3_cells.length : p.h3_cells,
        },
      };
    }
    return {
      type: 'Feature',
      id: f.id,
      geometry: f.geometry,
      properties: {
        id: f.id, operator_id: p.operator, placement: p.placement,
        status: p.status, name: p.name, length_m: p.length_m,
      },
    };
  }));
}

/**
 * Duct banks from the capacity map (`/ducts/capacity`: active banks, with
 * the same class and, for the signed-in, fill as the tiles).
 */
async function ductsAsGeoJSON() {
  const doc = await getJSON('/ducts/capacity?limit=10000');
  return fc(doc.features.map((f) => {
    const { conduits: _details, bank_id: _id, ...props } = f.properties;
    return { type: 'Feature', id: f.id, geometry: f.geometry, properties: { id: f.id, status: 'active', ...props } };
  }));
}

/** Structures from the items API, shaped like the tiles. */
async function structuresAsGeoJSON() {
  const items = await getAll('structures');
  return fc(items.features.map((f) => ({ type: 'Feature', id: f.id, geometry: f.geometry, properties: { ...f.properties, id: f.id } })));
}

/** Data centres (few: always GeoJSON); polygons are drawn at their mean vertex. */
export async function dataCentres() {
  const items = await getAll('data-centres');
  return fc(items.features.map((f) => {
    let geometry = f.geometry;
    if (geometry.type !== 'Point') {
      const ring = geometry.coordinates[0];
      const n = ring.length - 1;
      const sum = ring.slice(0, n).reduce((a, c) => [a[0] + c[0], a[1] + c[1]], [0, 0]);
      geometry = { type: 'Point', coordinates: [sum[0] / n, sum[1] / n] };
    }
    return { type: 'Feature', id: f.id, geometry, properties: { ...f.properties, id: f.id, operator_id: f.properties.operator } };
  }));
}

// ------------------------------------------------------------ asset sources

/**
 * The sources of towers, sectors and fibre: { key: { mode, spec, layer, tileset } }
 * with mode 'tiles' (vector) or 'geojson' (fallback).
 */
export async function loadAssets() {
  const assets = {};
  // The three TileJSON documents at once (a service without tiles answers 404s).
  const keys = Object.keys(TILESETS);
  const found = await Promise.all(keys.map((key) => firstTileJSON(TILESETS[key].ids)));
  keys.forEach((key, i) => {
    const f = found[i];
    if (f) assets[key] = { mode: 'tiles', tileset: f.id, layer: TILESETS[key].layer, presence: TILESETS[key].presence, spec: vectorSpec(f.tj) };
  });
  if (!assets.towers || !assets.sectors) {
    const { towers, sectors } = await towersAsGeoJSON();
    assets.towers ??= { mode: 'geojson', spec: { type: 'geojson', data: towers } };
    assets.sectors ??= { mode: 'geojson', spec: { type: 'geojson', data: sectors } };
  }
  assets.fibre ??= { mode: 'geojson', spec: { type: 'geojson', data: await fibreAsGeoJSON() } };
  assets.ducts ??= { mode: 'geojson', spec: { type: 'geojson', data: await ductsAsGeoJSON() } };
  assets.structures ??= { mode: 'geojson', spec: { type: 'geojson', data: await structuresAsGeoJSON() } };
  return assets;
}

/**
 * Show the current data of asset sources `keys` (after a write, or for
 * 'fibre' after the token changed): re-read TileJSON for its new ?v= tile
 * URLs, or reload the GeoJSON. setTiles reloads every tile even when the
 * URLs are the same, and fibre tiles go out with the current token.
 */
export async function refreshAssets(map, assets, keys) {
  let towerData = null;
  for (const key of keys) {
    const a = assets[key];
    const source = map.getSource(key);
    if (a.mode === 'tiles') {
      const tj = await tileJSON(a.tileset);
      if (tj) source.setTiles(tj.tiles);
    } else if (key === 'fibre') {
      source.setData(await fibreAsGeoJSON());
    } else if (key === 'ducts') {
      source.setData(await ductsAsGeoJSON());
    } else if (key === 'structures') {
      source.setData(await structuresAsGeoJSON());
    } else {
      towerData ??= await towersAsGeoJSON();
      source.setData(towerData[key]);
    }
  }
}

// ------------------------------------------------------------ computed layers

/** H3 resolution of the gap layer at a zoom level (7–11, finer as you zoom in). */
export const gapResolution = (zoom) => Math.max(7, Math.min(11, Math.round(zoom) - 4));

/** Intersection of the view with the area of interest, or null when they do not meet. */
function clampBbox(bounds, area) {
  const b = [
    Math.max(bounds.getWest(), area[0]), Math.max(bounds.getSouth(), area[1]),
    Math.min(bounds.getEast(), area[2]), Math.min(bounds.getNorth(), area[3]),
  ];
  return b[0] < b[2] && b[1] < b[3] ? b.map((v) => v.toFixed(5)).join(',') : null;
}

/**
 * Fetch plans of the computed layers. Each returns the request URL for the
 * view and filters (null: nothing to show), and shapes the answer.
 */
const COMPUTED = {
  footprints: {
    url(map, f, area) {
      const bbox = clampBbox(map.getBounds(), area);
      if (!bbox) return null;
      const q = new URLSearchParams({ technology: f.coverageTech, bbox, limit: '20000' });
      if (f.operator) q.set('operator', f.operator);
      return `/coverage/footprints?${q}`;
    },
    shape: (doc) => doc,
  },
  gaps: {
    url(map, f, area) {
      const bbox = clampBbox(map.getBounds(), area);
      if (!bbox) return null;
      const q = new URLSearchParams({ technology: f.coverageTech, resolution: String(gapResolution(map.getZoom())), bbox });
      return `/coverage/gaps?${q}`;
    },
    // cls: 0 no operator, 1 some operators missing, 2 every operator of the technology.
    shape(doc) {
      const total = (doc.operators_total || []).length;
      for (const feat of doc.features) {
        const n = feat.properties.operators;
        feat.properties.cls = n === 0 ? 0 : n < total ? 1 : 2;
      }
      return doc;
    },
  },
  analysis: {
    url: (_map, f) => `/analysis/districts?technology=${encodeURIComponent(f.coverageTech)}`,
    shape: (doc) => doc,
  },
};

/**
 * Keeps the computed layers in step with the view and filters. `onStatus(key,
 * state, doc)` reports 'loading', 'ok' (with the answer) or 'error'.
 */
export class ComputedLayers {
  constructor(map, area, onStatus) {
    this.map = map;
    this.area = area;
    this.onStatus = onStatus;
    this.active = new Set();
    this.lastUrl = {};
    this.inflight = new Map();
    this.data = {}; // the last answer of each layer
  }

  /** Resolves once no computed layer is loading. */
  async settled() {
    while (this.inflight.size) await Promise.allSettled([...this.inflight.values()].map((x) => x.promise));
  }

  setActive(key, on) {
    if (on) this.active.add(key);
    else this.active.delete(key);
  }

  /** Load every visible computed layer whose request changed (or all with force). */
  update(filters, force = false) {
    for (const key of this.active) this.load(key, filters, force);
  }

  load(key, filters, force) {
    const plan = COMPUTED[key];
    const url = plan.url(this.map, filters, this.area);
    if (!force && url === this.lastUrl[key]) return;
    this.inflight.get(key)?.ctrl.abort();
    this.lastUrl[key] = url;
    const source = this.map.getSource(key);
    if (!url) {
      source.setData(fc([]));
      return;
    }
    const ctrl = new AbortController();
    this.onStatus(key, 'loading');
    const promise = getJSON(url, { signal: ctrl.signal })
      .then((doc) => {
        const shaped = plan.shape(doc);
        source.setData(shaped);
        this.data[key] = shaped;
        this.onStatus(key, 'ok', shaped);
      })
      .catch((e) => {
        if (e.name === 'AbortError') return;
        this.lastUrl[key] = null; // retry on the next view change
        this.onStatus(key, 'error', e instanceof ApiError ? e.problem : null);
      })
      .finally(() => {
        if (this.inflight.get(key)?.ctrl === ctrl) this.inflight.delete(key);
      });
    this.inflight.set(key, { ctrl, promise });
  }
}
