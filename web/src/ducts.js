// The Ducts tab: find a path through the shared ducts that still have room
// for a cable (GET /ducts/route), draw it on the map, and submit it as a
// lease request (POST /ducts/leases) with the carrier's token. The duct
// layers themselves (banks by capacity, structures) are in layers.js.
//
// Ends are picked on the map ("Pick on map", then a click) or typed as
// "lon, lat" (keyboard users). Coordinates are lon/lat, EPSG:4326.

import * as api from './api.js';
import { getLang, t, tv } from './i18n.js';
import { h } from './panel.js';

const round6 = (v) => Math.round(v * 1e6) / 1e6;
const num = (v, digits = 1) => Number(v).toLocaleString(getLang(), { maximumFractionDigits: digits });

/** "lon, lat" → [lon, lat], or null when it is not two numbers in range. */
export function parseLonLat(text) {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*[,;\s]\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text || '');
  if (!m) return null;
  const lon = Number(m[1]);
  const lat = Number(m[2]);
  return Math.abs(lon) <= 180 && Math.abs(lat) <= 90 ? [lon, lat] : null;
}

export class DuctTab {
  /**
   * `root`: the Ducts tab; `map`: the MapLibre map; `operators`: [{ id, name }];
   * `onLeased(lease)`: after a lease request was stored (refresh the duct layers).
   */
  constructor(root, { map, operators, onLeased }) {
    this.root = root;
    this.map = map;
    this.onLeased = onLeased;
    this.picking = null; // 'from' | 'to' while the next map click sets that end
    this.route = null; // the last route found (GeoJSON Feature)
    this.el = (id) => root.querySelector(`#${id}`);
    const sel = this.el('duct-operator');
    sel.append(...operators.map((o) => h('option', { value: o.id }, o.name)));
    this.el('duct-pick-from').addEventListener('click', () => this.pick('from'));
    this.el('duct-pick-to').addEventListener('click', () => this.pick('to'));
    for (const end of ['from', 'to']) this.el(`duct-${end}`).addEventListener('change', () => this.#drawEnds());
    root.querySelector('#duct-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.find();
    });
    this.el('duct-request').addEventListener('click', () => this.request());
    window.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.picking) this.pick(null);
    });
    window.addEventListener('langchange', () => this.route && this.#showRoute());
  }

  /** True when map click `e` set an end of the route (and selects nothing). */
  handled(e) {
    if (!this.picking) return false;
    const end = this.picking;
    this.el(`duct-${end}`).value = `${round6(e.lngLat.lng)}, ${round6(e.lngLat.lat)}`;
    this.pick(null);
    this.#drawEnds();
    return true;
  }

  /** Start (or with null, stop) picking end `end` on the map. */
  pick(end) {
    this.picking = end;
    for (const x of ['from', 'to']) this.el(`duct-pick-${x}`).setAttribute('aria-pressed', String(x === end));
    this.map.getCanvas().style.cursor = end ? 'crosshair' : '';
    this.el('duct-hint').textContent = end ? t('duct_pick_hint') : '';
  }

  #ends() {
    return { from: parseLonLat(this.el('duct-from').value), to: parseLonLat(this.el('duct-to').value) };
  }

  /** The route (when found) and its two ends on the map. */
  #drawEnds() {
    const { from, to } = this.#ends();
    const features = [];
    if (this.route) features.push(this.route);
    if (from) features.push({ type: 'Feature', geometry: { type: 'Point', coordinates: from }, properties: { end: 'from' } });
    if (to) features.push({ type: 'Feature', geometry: { type: 'Point', coordinates: to }, properties: { end: 'to' } });
    this.map.getSource('duct-route')?.setData({ type: 'FeatureCollection', features });
  }

  #error(text) {
    const box = this.el('duct-error');
    box.hidden = !text;
    box.textContent = text || '';
  }

  /** Ask the service for a route with room for the cable, and draw it. */
  async find() {
    this.#error('');
    this.el('duct-lease-status').textContent = '';
    this.route = null;
    this.el('duct-request').hidden = true;
    this.el('duct-result').replaceChildren();
    const { from, to } = this.#ends();
    if (!from || !to) {
      this.#error(t('duct_need_ends'));
      this.el(from ? 'duct-to' : 'duct-from').focus();
      this.#drawEnds();
      return;
    }
    const q = new URLSearchParams({
      from: from.join(','),
      to: to.join(','),
      cable_diameter_mm: this.el('duct-cable').value || '0',
    });
    if (this.el('duct-operator').value) q.set('operator', this.el('duct-operator').value);
    if (this.el('duct-prefer-city').checked) q.set('prefer_city', 'true');
    const button = this.root.querySelector('#duct-form button[type=submit]');
    button.disabled = true;
    this.el('duct-result').replaceChildren(h('p', { class: 'muted' }, t('loading')));
    try {
      this.route = await api.getJSON(`/ducts/route?${q}`);
      this.#showRoute();
      const [w, s, e, n] = bboxOfLines(this.route.geometry.coordinates);
      this.map.fitBounds([[w, s], [e, n]], { padding: 60, maxZoom: 17, duration: 0 });
    } catch (e) {
      this.el('duct-result').replaceChildren();
      this.#error(e.problem?.detail || e.message);
    } finally {
      button.disabled = false;
      this.#drawEnds();
    }
  }

  #showRoute() {
    const p = this.route.properties;
    const rows = p.banks.map((b, i) => h('tr', {},
      h('td', { class: 'n' }, String(i + 1)),
      h('td', {}, `#${b.bank_id}`),
      h('td', {}, b.subduct ? `${b.duct}/${b.subduct}` : b.duct || '—'),
      h('td', { class: 'n' }, num(b.length_m, 0))));
    this.el('duct-result').replaceChildren(
      h('p', { 'data-testid': 'duct-route-summary' },
        t('duct_route_summary', { km: num(p.length_m / 1000, 2), n: p.banks.length, mm: num(p.cable_diameter_mm, 1) })),
      h('div', { class: 'scroll-x', tabindex: 0, role: 'region', 'aria-label': t('duct_banks_of_route') },
        h('table', { class: 'grid', 'data-testid': 'duct-route-banks' },
          h('thead', {}, h('tr', {}, ['#', 'duct_bank', 'duct', 'length_m'].map((c) => h('th', { scope: 'col' }, t(c))))),
          h('tbody', {}, rows))),
    );
    this.el('duct-request').hidden = false;
  }

  /** Submit the route as a lease request (needs a carrier's or the Department's token). */
  async request() {
    if (!this.route) return;
    const status = this.el('duct-lease-status');
    this.#error('');
    if (!api.getToken()) {
      this.#error(t('token_needed'));
      return;
    }
    const draft = this.route.properties.lease_request;
    const doc = {
      cable_diameter_mm: draft.cable_diameter_mm,
      fibre_count: Number(this.el('duct-fibres').value) || undefined,
      segments: draft.segments,
    };
    if (draft.operator) doc.operator = draft.operator;
    const button = this.el('duct-request');
    button.disabled = true;
    status.textContent = t('saving');
    try {
      const r = await api.postJSON('/ducts/leases', doc);
      if (r.ok) {
        status.textContent = t('duct_lease_done', { id: r.body.id, state: tv(r.body.properties?.state ?? '') });
        status.dataset.leaseId = String(r.body.id);
        await this.onLeased?.(r.body);
      } else {
        status.textContent = '';
        this.#error(r.body?.detail || `HTTP ${r.status}`);
      }
    } finally {
      button.disabled = false;
    }
  }
}

/** [west, south, east, north] of MultiLineString coordinates. */
function bboxOfLines(lines) {
  const b = [Infinity, Infinity, -Infinity, -Infinity];
  for (const line of lines) {
    for (const [x, y] of line) {
      b[0] = Math.min(b[0], x); b[1] = Math.min(b[1], y);
      b[2] = Math.max(b[2], x); b[3] = Math.max(b[3], y);
    }
  }
  return b;
}
