// Entry point: builds the map from the service's data and wires the panel.
// For tests and benchmarks the page exposes window.map and window.tgis.

import maplibregl from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
import './style.css';

import * as api from './api.js';
import { Carrier } from './carrier.js';
import { Controls } from './controls.js';
import { Draw } from './draw.js';
import { DuctTab } from './ducts.js';
import { applyI18n, getLang, setLang, t } from './i18n.js';
import { districtLabels } from './labels.js';
import { CLICKABLE, GROUPS, KIND_OF_LAYER, addTowerIcon, applyFilters, buildStyle, setOperators } from './layers.js';
import { DetailsPanel } from './panel.js';
import { ComputedLayers, dataCentres, loadAssets, refreshAssets, wedge } from './sources.js';

const tgis = { firstIdleMs: null };
window.tgis = tgis;

// ------------------------------------------------------------ page chrome

/** Tabs of the side panel (WAI-ARIA tabs: arrow keys move between them). */
function initTabs() {
  const tabs = [...document.querySelectorAll('[role=tab]')];
  const select = (tab, focus = false) => {
    for (const other of tabs) {
      const on = other === tab;
      other.setAttribute('aria-selected', String(on));
      other.tabIndex = on ? 0 : -1;
      document.getElementById(other.getAttribute('aria-controls')).hidden = !on;
    }
    if (focus) tab.focus();
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => select(tab));
    tab.addEventListener('keydown', (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 1, ArrowUp: -1 }[e.key];
      if (step) {
        e.preventDefault();
        select(tabs[(i + step + tabs.length) % tabs.length], true);
      } else if (e.key === 'Home') select(tabs[0], true);
      else if (e.key === 'End') select(tabs[tabs.length - 1], true);
    });
  });
  return (id) => select(document.getElementById(id));
}

function initChrome() {
  applyI18n();
  document.getElementById('lang').addEventListener('click', () => setLang(getLang() === 'vi' ? 'en' : 'vi'));
  const toggle = document.getElementById('panel-toggle');
  toggle.addEventListener('click', () => {
    const open = toggle.getAttribute('aria-expanded') !== 'true';
    toggle.setAttribute('aria-expanded', String(open));
    document.body.classList.toggle('panel-closed', !open);
    tgis.map?.resize();
  });
  return initTabs();
}

/** [west, south, east, north] of a FeatureCollection, padded by `pad` degrees. */
function bboxOf(collection, pad = 0) {
  const b = [Infinity, Infinity, -Infinity, -Infinity];
  const walk = (c) => {
    if (typeof c[0] === 'number') {
      b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]);
      b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]);
    } else c.forEach(walk);
  };
  for (const f of collection.features) walk(f.geometry.coordinates);
  return [b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad];
}

const once = (map, event) => new Promise((resolve) => map.once(event, resolve));

// ------------------------------------------------------------ map

async function main() {
  const showTab = initChrome();
  const [operators, districts, assets, centres, terrain] = await Promise.all([
    api.operators(),
    api.getJSON('/collections/districts/items?limit=100'),
    loadAssets(),
    dataCentres(),
    // The DEM the coverage model sees (hillshade, its extent); none: no layer.
    api.getJSON('/terrain').catch(() => null),
  ]);
  setOperators(operators);
  const names = Object.fromEntries(operators.map((o) => [o.id, o.name]));
  const area = bboxOf(districts, 0.02);

  const map = new maplibregl.Map({
    container: 'map',
    style: buildStyle(assets, districts, centres, terrain),
    bounds: area,
    fitBoundsOptions: { padding: 10 },
    maxBounds: [area[0] - 1, area[1] - 1, area[2] + 1, area[3] + 1],
    attributionControl: { compact: true, customAttribution: 'Ranh giới: dvhcvn (GPL-3.0) · Giao thông: LegoCity (CC BY-SA 4.0) · Tài sản: dữ liệu mẫu' },
    // Fibre-route tiles depend on who asks (exact or generalised): they carry
    // the token. Other tiles are public and go without it (rate limit per token).
    transformRequest: api.transformRequest,
  });
  window.map = map;
  tgis.map = map;
  tgis.assets = assets;
  map.on('styleimagemissing', (e) => addTowerIcon(map, e.id));
  map.addControl(new maplibregl.NavigationControl({ visualizePitch: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
  map.once('idle', () => { tgis.firstIdleMs = performance.now(); });
  await once(map, 'load');
  // On a phone the attribution is folded (its ⓘ button unfolds it).
  const narrow = window.matchMedia('(max-width: 720px)');
  const foldAttribution = () => {
    if (narrow.matches) document.querySelector('.maplibregl-ctrl-attrib')?.classList.remove('maplibregl-compact-show');
  };
  foldAttribution();
  narrow.addEventListener('change', foldAttribution);

  const labels = districtLabels(map, districts);

  const panel = new DetailsPanel(document.getElementById('details'), (id) => names[id] || id);
  let controls = null;
  const computed = new ComputedLayers(map, area, (key, state, doc) => {
    const text = state === 'loading' ? t('loading')
      : state === 'error' ? `${t('load_failed')}${doc?.detail ? `: ${doc.detail}` : ''}`
        : key === 'gaps' ? t('cells_n', { n: doc.features.length, r: doc.resolution })
          : t('features_n', { n: doc.features.length });
    controls?.setStatus(key, text);
  });

  // Toggles and filters.
  const setGroup = (key, on) => {
    const group = GROUPS.find((g) => g.key === key);
    for (const id of group.layers) if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', on ? 'visible' : 'none');
    if (key === 'districts') labels.setVisible(on);
    if (group.dynamic) {
      computed.setActive(key, on);
      if (on) computed.update(controls.filters);
      else controls.setStatus(key, '');
    }
  };
  controls = new Controls(document.getElementById('pane-layers'), {
    operators,
    onToggle: setGroup,
    onFilters: (f) => {
      applyFilters(map, f);
      computed.update(f);
    },
  });
  map.on('moveend', () => computed.update(controls.filters));

  // Selection: a click shows the feature's attributes (a tower: with its sectors).
  const draw = new Draw(map, (coords, mode) => carrier.drawChanged(coords, mode));
  /** Highlight a geometry, with extra features (a tower's sector wedges). */
  const select = (geometry, extra = []) => map.getSource('selection').setData({
    type: 'FeatureCollection',
    features: geometry ? [...extra, { type: 'Feature', geometry, properties: {} }] : [],
  });
  const wedges = (tower) => (tower.properties.sectors || []).map((s) => ({
    type: 'Feature',
    geometry: wedge(tower.geometry.coordinates, s.azimuth_deg, s.beamwidth_deg, s.range_m || 300),
    properties: { operator: s.operator, sector_id: s.id },
  }));
  /** Show a tower (read from the API) with its sectors in the panel and on the map. */
  const showTowerFeature = (feature) => {
    select(feature.geometry, wedges(feature));
    panel.tower(feature);
  };
  const showTower = async (id, geometry) => {
    showTab('tab-details');
    panel.loading('tower');
    select(geometry);
    try {
      showTowerFeature(await api.getFeature('towers', id));
    } catch (e) {
      panel.error('tower', e.message);
    }
  };
  tgis.showTower = showTower;
  /** A duct bank: the tile's attributes at once, then its ducts from the API (unless another click came first). */
  let shownBank = null;
  const showDuctBank = async (props, geometry) => {
    showTab('tab-details');
    select(geometry);
    shownBank = props.id;
    panel.feature('ductbank', props);
    try {
      const item = await api.getFeature('duct-banks', props.id);
      if (shownBank === props.id) panel.ductBank(props, item);
    } catch (e) {
      console.warn('telecom-gis: the duct bank could not be read', e);
    }
  };

  const visible = (ids) => ids.filter((id) => map.getLayer(id) && map.getLayoutProperty(id, 'visibility') !== 'none');
  /** The clicked feature: points and lines within 6 px first, then the polygon under the cursor. */
  const pick = (point) => {
    const r = 6;
    const near = visible(CLICKABLE.filter((id) => !id.endsWith('-fill')));
    const around = map.queryRenderedFeatures([[point.x - r, point.y - r], [point.x + r, point.y + r]], { layers: near });
    const rank = (f) => CLICKABLE.indexOf(f.layer.id);
    if (around.length) return around.sort((a, b) => rank(a) - rank(b))[0];
    const under = map.queryRenderedFeatures(point, { layers: visible(CLICKABLE.filter((id) => id.endsWith('-fill'))) });
    return under.sort((a, b) => rank(a) - rank(b))[0] || null;
  };
  // Path profile: a sector's "Profile" button, then a point on the map.
  let profileFrom = null;
  panel.onProfile = (towerId, sectorId) => {
    profileFrom = `${towerId}:${sectorId}`;
    panel.profilePicking(profileFrom);
    map.getCanvas().style.cursor = 'crosshair';
  };
  tgis.profile = panel.onProfile;
  const showProfile = async (ref, lngLat) => {
    showTab('tab-details');
    panel.loading('profile');
    try {
      const doc = await api.getJSON(`/coverage/profile?sector=${encodeURIComponent(ref)}&lon=${lngLat.lng.toFixed(6)}&lat=${lngLat.lat.toFixed(6)}`);
      select({ type: 'LineString', coordinates: [doc.from, doc.to] });
      panel.profile(doc);
    } catch (err) {
      panel.error('profile', err.message);
    }
  };
  map.on('click', (e) => {
    if (draw.handled(e) || ducts.handled(e)) return;
    if (profileFrom) {
      const ref = profileFrom;
      profileFrom = null;
      map.getCanvas().style.cursor = '';
      showProfile(ref, e.lngLat);
      return;
    }
    const f = pick(e.point);
    shownBank = null;
    if (!f) {
      select(null);
      panel.clear();
      return;
    }
    const kind = KIND_OF_LAYER[f.layer.id];
    if (kind === 'tower') {
      showTower(f.properties.id ?? f.id, f.geometry);
      return;
    }
    if (kind === 'ductbank') {
      showDuctBank(f.properties, f.geometry);
      return;
    }
    showTab('tab-details');
    select(f.geometry);
    // Tiled properties are flat: take the nested explanation from the answer itself.
    if (kind === 'analysis') panel.analysis(computed.data.analysis?.features.find((d) => d.properties.code === f.properties.code)?.properties ?? f.properties);
    else if (f.layer.id === 'fibre-presence-fill') panel.feature(kind, { ...f.properties, generalised: true });
    else panel.feature(kind, f.properties);
  });
  map.on('mousemove', (e) => {
    if (draw.active || profileFrom || ducts.picking) return;
    map.getCanvas().style.cursor = pick(e.point) ? 'pointer' : '';
  });

  // Ducts: the route finder and lease requests; a stored lease changes the
  // fill of its banks, so the duct tiles are re-read.
  const ducts = new DuctTab(document.getElementById('pane-ducts'), {
    map,
    operators,
    onLeased: () => refreshAssets(map, assets, ['ducts']),
  });
  tgis.ducts = ducts;

  // Carrier workflow: after a save the new asset shows at once.
  const carrier = new Carrier(document.getElementById('pane-carrier'), {
    operators,
    draw,
    onSaved: async (kind, feature) => {
      await refreshAssets(map, assets, kind === 'tower' ? ['towers', 'sectors'] : ['fibre']);
      computed.update(controls.filters, true);
      if (kind === 'tower') showTowerFeature(feature);
    },
    onBulkDone: async (collection) => {
      if (collection === 'data-centres') map.getSource('datacentres').setData(await dataCentres());
      else await refreshAssets(map, assets, collection === 'towers' ? ['towers', 'sectors'] : ['fibre']);
      computed.update(controls.filters, true);
    },
  });

  // A new (or no) token changes what fibre the viewer may see: a carrier its
  // own routes exactly, an analyst or admin every route, others H3 cells;
  // and whether duct banks carry their fill (signed in) or a class only.
  let fibreRefresh = Promise.resolve();
  window.addEventListener('tokenchange', () => {
    fibreRefresh = fibreRefresh
      .then(() => refreshAssets(map, assets, ['fibre', 'ducts']))
      .catch((e) => controls.setStatus('fibre', `${t('load_failed')}: ${e.message}`));
  });

  /** Resolves when every request of the computed layers is answered and the map is idle. */
  tgis.settled = async () => {
    await fibreRefresh;
    await computed.settled();
    await new Promise((resolve) => {
      map.once('idle', resolve);
      map.triggerRepaint();
    });
  };
  tgis.controls = controls;
  tgis.carrier = carrier;
  document.body.dataset.ready = 'true';
}

tgis.ready = main().catch((e) => {
  console.error(e);
  const box = document.getElementById('fatal');
  box.hidden = false;
  box.textContent = `${t('load_failed')}: ${e.message}`;
  throw e;
});
