// Map style: sources, layers, symbology (colours, tower shapes) and the
// layer groups that the toggles switch. No remote resources: no basemap, no
// glyphs, no sprite (tower icons are drawn on a canvas at run time).

/** Colours of the known carriers; other operators take the next spare colour. */
const OPERATOR_COLORS = { viettel: '#d7263d', vnpt: '#1f6fd1', mobifone: '#0e9f8a', fpt: '#f08a24' };
const SPARE_COLORS = ['#7b3fbf', '#8c564b', '#d6499a', '#6b7a1f', '#17becf', '#4a4a4a'];
const OTHER = '#6b7280';
let operatorColors = { ...OPERATOR_COLORS };

/** Give each operator of the service a stable colour (known carriers keep theirs). */
export function setOperators(list) {
  operatorColors = { ...OPERATOR_COLORS };
  let spare = 0;
  for (const op of list) {
    if (!operatorColors[op.id]) operatorColors[op.id] = SPARE_COLORS[spare++ % SPARE_COLORS.length];
  }
}

export const operatorColor = (id) => operatorColors[id] || OTHER;

/** MapLibre expression: the colour of the operator in property `prop`. */
function operatorColorExpr(prop) {
  const m = ['match', ['get', prop]];
  for (const [id, c] of Object.entries(operatorColors)) m.push(id, c);
  m.push(OTHER);
  return m;
}

export const STRUCTURES = ['monopole', 'lattice', 'guyed', 'rooftop', 'camouflaged', 'compact'];
export const STATUSES = ['planned', 'under_construction', 'operational', 'retired'];
export const TECHNOLOGIES = ['2G', '3G', '4G', '5G'];
export const PLACEMENTS = ['underground', 'aerial', 'submarine'];
export const PLACEMENT_COLORS = { underground: '#6d28d9', aerial: '#e07b00', submarine: '#0b3d91' };
/** Coverage classes: none / partial / every operator, and the analysis classes. */
export const CLASS_COLORS = { unserved: '#b0123f', underserved: '#f2a20c', served: '#3fa34d' };
export const GAP_COLORS = ['#b0123f', '#f2a20c', '#3fa34d'];
/** Free capacity of a duct bank (the largest cable that still fits: ample ≥ 16 mm, low ≥ 6 mm, none). */
export const CAPACITY_COLORS = { ample: '#1a9850', low: '#f08a24', none: '#c0122f' };
/** Fill of a bank's fullest duct (signed-in viewers): stops at the NEC limits 31 %, 40 %, 53 %. */
export const FILL_STOPS = [[0, '#1a9850'], [0.31, '#a6d96a'], [0.4, '#f08a24'], [0.53, '#c0122f']];
/** The colour of the route found through the ducts. */
export const DUCT_ROUTE_COLOR = '#0b5cad';

// ---------------------------------------------------------------- icons

/** Trace the outline of a structure type's marker shape, centred in a size×size box. */
function shapePath(ctx, shape, size) {
  const c = size / 2;
  const r = size * 0.36;
  const poly = (n, rot, rr = r) => {
    for (let i = 0; i < n; i++) {
      const a = rot + (i * 2 * Math.PI) / n;
      const x = c + rr * Math.cos(a);
      const y = c + rr * Math.sin(a);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    ctx.closePath();
  };
  ctx.beginPath();
  switch (shape) {
    case 'lattice': poly(3, -Math.PI / 2, r * 1.15); break; // ▲
    case 'guyed': poly(3, Math.PI / 2, r * 1.15); break; // ▼
    case 'rooftop': poly(4, Math.PI / 4, r * 1.2); break; // ■
    case 'camouflaged': poly(4, 0, r * 1.2); break; // ◆
    case 'compact': poly(6, 0, r * 0.95); break; // ⬢
    default: ctx.arc(c, c, r, 0, 2 * Math.PI); // ● monopole and unknown
  }
}

/** A canvas with the marker of `shape` filled with `color`: white halo, dark edge. */
function markerCanvas(color, shape, size) {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext('2d');
  ctx.lineJoin = 'round';
  shapePath(ctx, shape, size);
  ctx.lineWidth = size * 0.16;
  ctx.strokeStyle = 'rgba(255,255,255,0.95)';
  ctx.stroke();
  ctx.fillStyle = color;
  ctx.fill();
  ctx.lineWidth = size * 0.04;
  ctx.strokeStyle = 'rgba(20,24,31,0.7)';
  ctx.stroke();
  return canvas;
}

/** Image id of a tower marker: operator and structure type. */
export const TOWER_ICON = ['concat', 'tw|', ['get', 'operator_id'], '|', ['get', 'structure_type']];

/**
 * Draw a tower icon on demand for MapLibre's 'styleimagemissing' event.
 * Returns false when `id` is not a tower icon id.
 */
export function addTowerIcon(map, id) {
  const m = /^tw\|([^|]*)\|(.*)$/.exec(id);
  if (!m) return false;
  const size = 36; // drawn at pixelRatio 2: 18 CSS pixels
  const ctx = markerCanvas(operatorColor(m[1]), m[2], size).getContext('2d');
  map.addImage(id, ctx.getImageData(0, 0, size, size), { pixelRatio: 2 });
  return true;
}

/** A data: URL of a marker for legends. */
export const markerDataURL = (color, shape) => markerCanvas(color, shape, 36).toDataURL();

// ---------------------------------------------------------------- style

const EMPTY = { type: 'FeatureCollection', features: [] };

/**
 * Source and source-layer of an asset layer: vector tiles when the service
 * has them, else a GeoJSON source (see sources.js).
 */
function assetRef(assets, key) {
  const a = assets[key];
  return a.mode === 'tiles' ? { source: key, 'source-layer': a.layer } : { source: key };
}

/**
 * Source of the generalised fibre routes (H3 cells): the tiles'
 * `fibre_presence` layer, or the MultiPolygons of the GeoJSON fallback.
 */
function presenceRef(assets) {
  const a = assets.fibre;
  return a.mode === 'tiles' ? { source: 'fibre', 'source-layer': a.presence } : { source: 'fibre' };
}

const LINES = ['in', ['geometry-type'], ['literal', ['LineString', 'MultiLineString']]];
const POLYGONS = ['in', ['geometry-type'], ['literal', ['Polygon', 'MultiPolygon']]];

/**
 * The DEM as a MapLibre raster-dem source (Terrarium PNG tiles served by
 * the service, offline) and its extent, when the service has one.
 */
function terrainSources(terrain) {
  if (!terrain?.tiles || !terrain.dem_bounds) return {};
  const [w, s, e, n] = terrain.dem_bounds;
  const base = new URL('.', window.location.href).href;
  return {
    dem: {
      type: 'raster-dem', encoding: 'terrarium', tileSize: 256,
      tiles: [new URL(terrain.tiles, base).href.replace(/%7B/g, '{').replace(/%7D/g, '}')],
      minzoom: terrain.minzoom, maxzoom: terrain.maxzoom, bounds: [w, s, e, n],
      attribution: 'SRTM GL1 (NASA, public domain) · Land use © OpenStreetMap contributors (ODbL)',
    },
    'dem-extent': {
      type: 'geojson',
      data: { type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] } },
    },
  };
}

function terrainLayers(terrain) {
  if (!terrain?.tiles || !terrain.dem_bounds) return [];
  return [
    {
      id: 'hillshade', type: 'hillshade', source: 'dem',
      paint: { 'hillshade-exaggeration': 0.45, 'hillshade-shadow-color': '#4a5563', 'hillshade-highlight-color': '#ffffff' },
    },
    { id: 'dem-extent', type: 'line', source: 'dem-extent', paint: { 'line-color': '#7c5e10', 'line-width': 1, 'line-dasharray': [1, 2] } },
  ];
}

/** The base filter of each layer, combined with the user's filters (see filterFor). */
const BASE_FILTERS = {
  'transport-rail': ['==', ['get', 'class_en'], 'railway'],
  'transport-road': ['!=', ['get', 'class_en'], 'railway'],
  'gaps-fill': ['has', 'cls'],
  // Exact fibre routes are lines; generalised ones are H3 cells (polygons).
  fibre: LINES,
  'fibre-presence-fill': POLYGONS,
  'fibre-presence-line': POLYGONS,
  ducts: ['==', ['get', 'status'], 'active'],
  'ducts-inactive': ['!=', ['get', 'status'], 'active'],
};

/**
 * The style of the map. `assets` holds the source spec of towers, sectors
 * and fibre (vector tiles or GeoJSON); `districts` and `centres` are the
 * districts and data centres (FeatureCollections).
 */
export function buildStyle(assets, districts, centres, terrain = null) {
  const dim = ['match', ['get', 'status'], 'operational', 1, 0.45];
  return {
    version: 8,
    name: 'telecom-gis Đà Nẵng',
    sources: {
      districts: { type: 'geojson', data: districts, promoteId: 'code' },
      city: { type: 'geojson', data: 'data/danang_city_boundary.geojson' },
      transport: { type: 'geojson', data: 'data/danang_major_transport_lines.geojson' },
      towers: assets.towers.spec,
      sectors: assets.sectors.spec,
      fibre: assets.fibre.spec,
      ducts: assets.ducts.spec,
      structures: assets.structures.spec,
      'duct-route': { type: 'geojson', data: EMPTY },
      datacentres: { type: 'geojson', data: centres },
      footprints: { type: 'geojson', data: EMPTY },
      gaps: { type: 'geojson', data: EMPTY },
      analysis: { type: 'geojson', data: EMPTY, promoteId: 'code' },
      selection: { type: 'geojson', data: EMPTY },
      draft: { type: 'geojson', data: EMPTY },
      ...terrainSources(terrain),
    },
    layers: [
      { id: 'background', type: 'background', paint: { 'background-color': '#dde6ec' } },
      { id: 'districts-fill', type: 'fill', source: 'districts', paint: { 'fill-color': '#f7f4ec', 'fill-opacity': 1 } },
      ...terrainLayers(terrain),
      {
        id: 'analysis-fill', type: 'fill', source: 'analysis', layout: { visibility: 'none' },
        paint: {
          'fill-color': ['match', ['get', 'class'], 'unserved', CLASS_COLORS.unserved, 'underserved', CLASS_COLORS.underserved, CLASS_COLORS.served],
          'fill-opacity': 0.45,
        },
      },
      {
        id: 'gaps-fill', type: 'fill', source: 'gaps', layout: { visibility: 'none' }, filter: BASE_FILTERS['gaps-fill'],
        paint: {
          'fill-color': ['match', ['get', 'cls'], 0, GAP_COLORS[0], 1, GAP_COLORS[1], GAP_COLORS[2]],
          'fill-opacity': ['match', ['get', 'cls'], 2, 0.18, 0.6],
          'fill-outline-color': 'rgba(255,255,255,0.35)',
        },
      },
      {
        id: 'footprints-fill', type: 'fill', source: 'footprints', layout: { visibility: 'none' },
        paint: { 'fill-color': operatorColorExpr('operator'), 'fill-opacity': 0.12 },
      },
      {
        id: 'footprints-line', type: 'line', source: 'footprints', layout: { visibility: 'none' },
        paint: { 'line-color': operatorColorExpr('operator'), 'line-width': 0.6, 'line-opacity': 0.6 },
      },
      { id: 'districts-line', type: 'line', source: 'districts', paint: { 'line-color': '#8a8f98', 'line-width': 1.2, 'line-dasharray': [3, 2] } },
      { id: 'city-outline', type: 'line', source: 'city', paint: { 'line-color': '#55606e', 'line-width': 1.8 } },
      {
        id: 'transport-road', type: 'line', source: 'transport', filter: BASE_FILTERS['transport-road'],
        layout: { 'line-cap': 'round', 'line-join': 'round' },
        paint: {
          'line-color': ['match', ['get', 'level_en'], 'national', '#f59f3a', '#f5cf47'],
          'line-width': ['interpolate', ['linear'], ['zoom'], 9, 2, 14, 6],
        },
      },
      {
        id: 'transport-rail', type: 'line', source: 'transport', filter: BASE_FILTERS['transport-rail'],
        paint: { 'line-color': '#3b3b3b', 'line-width': ['interpolate', ['linear'], ['zoom'], 9, 1.5, 14, 3], 'line-dasharray': [4, 2] },
      },
      // Duct banks: by free-capacity class for the public; by the fill of
      // the fullest duct for the signed-in (whose tiles carry max_fill).
      // Banks not active (planned, construction, retired): grey, dashed.
      {
        id: 'ducts-inactive', type: 'line', ...assetRef(assets, 'ducts'), minzoom: 12, filter: BASE_FILTERS['ducts-inactive'],
        paint: { 'line-color': '#8a8f98', 'line-width': ['interpolate', ['linear'], ['zoom'], 12, 1.5, 17, 4], 'line-dasharray': [2, 1.5] },
      },
      {
        id: 'ducts', type: 'line', ...assetRef(assets, 'ducts'), minzoom: 12, filter: BASE_FILTERS.ducts,
        layout: { 'line-cap': 'butt', 'line-join': 'round' },
        paint: {
          'line-color': ['case',
            ['has', 'max_fill'], ['interpolate', ['linear'], ['get', 'max_fill'], ...FILL_STOPS.flat()],
            ['match', ['get', 'capacity_class'], 'ample', CAPACITY_COLORS.ample, 'low', CAPACITY_COLORS.low, CAPACITY_COLORS.none]],
          // Wider than the fibre drawn on top: a route in a duct shows as a
          // line inside a band of the duct's colour.
          'line-width': ['interpolate', ['linear'], ['zoom'], 12, 3, 17, 11],
          'line-opacity': 0.85,
        },
      },
      // Generalised fibre routes: the H3 cells a route passes through, for
      // viewers who may not see it exactly. A faint fill with a thin outline
      // in the operator's colour, unlike the solid lines of exact routes.
      {
        id: 'fibre-presence-fill', type: 'fill', ...presenceRef(assets), filter: BASE_FILTERS['fibre-presence-fill'],
        paint: { 'fill-color': operatorColorExpr('operator'), 'fill-opacity': ['match', ['get', 'status'], 'operational', 0.22, 0.1] },
      },
      {
        id: 'fibre-presence-line', type: 'line', ...presenceRef(assets), filter: BASE_FILTERS['fibre-presence-line'],
        paint: { 'line-color': operatorColorExpr('operator'), 'line-width': 0.8, 'line-opacity': ['*', 0.8, dim] },
      },
      {
        id: 'fibre', type: 'line', ...assetRef(assets, 'fibre'), filter: BASE_FILTERS.fibre,
        layout: { 'line-cap': 'round', 'line-join': 'round' },
        paint: {
          'line-color': ['match', ['get', 'placement'], 'underground', PLACEMENT_COLORS.underground, 'aerial', PLACEMENT_COLORS.aerial, PLACEMENT_COLORS.submarine],
          'line-width': ['interpolate', ['linear'], ['zoom'], 9, 1.6, 15, 4],
          'line-opacity': dim,
        },
      },
      {
        id: 'structures', type: 'circle', ...assetRef(assets, 'structures'), minzoom: 14,
        paint: {
          'circle-radius': ['interpolate', ['linear'], ['zoom'], 14, 2.5, 18, 6],
          'circle-color': ['case', ['==', ['get', 'owner'], 'city'], '#374151', operatorColorExpr('owner')],
          'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1,
        },
      },
      {
        id: 'sectors-fill', type: 'fill', ...assetRef(assets, 'sectors'), minzoom: 13, layout: { visibility: 'none' },
        paint: { 'fill-color': operatorColorExpr('operator_id'), 'fill-opacity': 0.08 },
      },
      {
        id: 'sectors-line', type: 'line', ...assetRef(assets, 'sectors'), minzoom: 13, layout: { visibility: 'none' },
        paint: { 'line-color': operatorColorExpr('operator_id'), 'line-width': 0.6, 'line-opacity': 0.5 },
      },
      {
        id: 'analysis-line', type: 'line', source: 'analysis', layout: { visibility: 'none' },
        paint: {
          'line-color': ['match', ['get', 'class'], 'unserved', CLASS_COLORS.unserved, 'underserved', '#b87700', '#2d7a37'],
          'line-width': 2.5,
        },
      },
      {
        id: 'datacentres', type: 'circle', source: 'datacentres',
        paint: {
          'circle-radius': ['interpolate', ['linear'], ['zoom'], 9, 5, 15, 9],
          'circle-color': '#ffffff',
          'circle-stroke-color': operatorColorExpr('operator_id'),
          'circle-stroke-width': 4,
          'circle-opacity': dim,
        },
      },
      // The selected feature; for a tower, also its sector wedges.
      {
        id: 'selection-fill', type: 'fill', source: 'selection', filter: ['has', 'operator'],
        paint: { 'fill-color': operatorColorExpr('operator'), 'fill-opacity': 0.22 },
      },
      {
        id: 'selection-line', type: 'line', source: 'selection', filter: ['!=', ['geometry-type'], 'Point'],
        paint: {
          'line-color': ['case', ['has', 'operator'], operatorColorExpr('operator'), '#111827'],
          'line-width': ['case', ['has', 'operator'], 1.5, 3.5],
          'line-opacity': 0.9,
        },
      },
      {
        id: 'selection', type: 'circle', source: 'selection', filter: ['==', ['geometry-type'], 'Point'],
        paint: { 'circle-radius': 14, 'circle-color': 'rgba(255,214,0,0.35)', 'circle-stroke-color': '#111', 'circle-stroke-width': 2 },
      },
      {
        id: 'towers', type: 'symbol', ...assetRef(assets, 'towers'),
        layout: {
          'icon-image': TOWER_ICON,
          'icon-size': ['interpolate', ['linear'], ['zoom'], 9, 0.45, 12, 0.6, 15, 0.9, 17, 1.2],
          'icon-allow-overlap': true,
          'icon-ignore-placement': true,
        },
        paint: { 'icon-opacity': dim },
      },
      // The route found through ducts with room (Ducts tab), and its ends.
      {
        id: 'duct-route-casing', type: 'line', source: 'duct-route', filter: LINES,
        layout: { 'line-cap': 'round', 'line-join': 'round' },
        paint: { 'line-color': '#ffffff', 'line-width': 10, 'line-opacity': 0.9 },
      },
      {
        id: 'duct-route', type: 'line', source: 'duct-route', filter: LINES,
        layout: { 'line-cap': 'round', 'line-join': 'round' },
        paint: { 'line-color': DUCT_ROUTE_COLOR, 'line-width': 5 },
      },
      {
        id: 'duct-route-ends', type: 'circle', source: 'duct-route', filter: ['==', ['geometry-type'], 'Point'],
        paint: {
          'circle-radius': 7, 'circle-color': ['match', ['get', 'end'], 'from', '#ffffff', DUCT_ROUTE_COLOR],
          'circle-stroke-color': DUCT_ROUTE_COLOR, 'circle-stroke-width': 3,
        },
      },
      { id: 'draft-line', type: 'line', source: 'draft', paint: { 'line-color': '#111827', 'line-width': 3, 'line-dasharray': [2, 1] } },
      {
        id: 'draft-point', type: 'circle', source: 'draft', filter: ['==', ['geometry-type'], 'Point'],
        paint: { 'circle-radius': 7, 'circle-color': '#facc15', 'circle-stroke-color': '#111827', 'circle-stroke-width': 2 },
      },
    ],
  };
}

// ---------------------------------------------------------------- groups and filters

/**
 * The toggleable layer groups, in panel order. `on`: visible at start;
 * `dynamic`: its data is fetched for the view when it is visible.
 */
export const GROUPS = [
  { key: 'districts', layers: ['districts-fill', 'districts-line', 'city-outline'], on: true },
  // Hillshade of the DEM and its extent: coverage is terrain-aware inside it.
  { key: 'terrain', layers: ['hillshade', 'dem-extent'], on: true },
  { key: 'transport', layers: ['transport-road', 'transport-rail'], on: true },
  { key: 'towers', layers: ['towers'], on: true },
  // Off at start: wedges of every sector hide the map; a clicked tower shows its own.
  { key: 'sectors', layers: ['sectors-fill', 'sectors-line'], on: false },
  { key: 'fibre', layers: ['fibre', 'fibre-presence-fill', 'fibre-presence-line'], on: true },
  { key: 'datacentres', layers: ['datacentres'], on: true },
  // Shared ducts: banks from zoom 12, structures from zoom 14.
  { key: 'ducts', layers: ['ducts', 'ducts-inactive', 'structures'], on: true },
  { key: 'footprints', layers: ['footprints-fill', 'footprints-line'], on: false, dynamic: true },
  { key: 'gaps', layers: ['gaps-fill'], on: false, dynamic: true },
  { key: 'analysis', layers: ['analysis-fill', 'analysis-line'], on: false, dynamic: true },
];

/** Layers whose features a click can select, most specific first. */
export const CLICKABLE = [
  'towers', 'datacentres', 'structures', 'fibre', 'ducts', 'ducts-inactive', 'sectors-fill', 'footprints-fill', 'gaps-fill',
  'fibre-presence-fill', 'analysis-fill', 'transport-road', 'transport-rail', 'districts-fill',
];

/** Which kind of feature each clickable layer holds (for the details panel). */
export const KIND_OF_LAYER = {
  towers: 'tower', datacentres: 'datacentre', fibre: 'fibre', ducts: 'ductbank', 'ducts-inactive': 'ductbank', structures: 'structure', 'fibre-presence-fill': 'fibre', 'sectors-fill': 'sector',
  'footprints-fill': 'footprint', 'gaps-fill': 'gap', 'analysis-fill': 'analysis',
  'transport-road': 'transport', 'transport-rail': 'transport', 'districts-fill': 'district',
};

/** Filter expression of `layer` for the user's filters { operator, technology, status }. */
function filterFor(layer, f) {
  const parts = [];
  if (BASE_FILTERS[layer]) parts.push(BASE_FILTERS[layer]);
  const op = (prop) => f.operator && parts.push(['==', ['get', prop], f.operator]);
  const status = () => f.status && parts.push(['==', ['get', 'status'], f.status]);
  switch (layer) {
    case 'towers':
      op('operator_id');
      status();
      if (f.technology) parts.push(['in', f.technology, ['coalesce', ['get', 'technologies'], '']]);
      break;
    case 'sectors-fill':
    case 'sectors-line':
      op('operator_id');
      if (f.technology) parts.push(['==', ['get', 'technology'], f.technology]);
      break;
    case 'fibre':
    case 'datacentres':
      op('operator_id');
      status();
      break;
    case 'fibre-presence-fill':
    case 'fibre-presence-line':
      op('operator');
      status();
      break;
    default:
      break; // coverage layers are filtered by their requests (sources.js)
  }
  if (parts.length === 0) return null;
  return parts.length === 1 ? parts[0] : ['all', ...parts];
}

/** Apply the user's filters to every asset layer. */
export function applyFilters(map, f) {
  for (const layer of ['towers', 'sectors-fill', 'sectors-line', 'fibre', 'fibre-presence-fill', 'fibre-presence-line', 'datacentres']) {
    map.setFilter(layer, filterFor(layer, f));
  }
}
