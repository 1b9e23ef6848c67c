// The details panel: attributes of a clicked feature, a tower's sectors, and
// a district's underserved-analysis explanation.

import { getLang, t, tv } from './i18n.js';

/** Properties whose values are enumerations with translated labels. */
const ENUMS = new Set(['structure_type', 'status', 'placement', 'class', 'mast_class', 'range_source', 'capacity_class']);
/** Properties never shown as plain rows. */
const HIDDEN = new Set(['generalised', 'sectors', 'explanation', 'indicators', 'thresholds', 'cls', 'operator_id', 'source_gid', 'class_en', 'level_en', 'unit_type_en']);
/** Indicators of the analysis shown in the panel, in this order. */
const INDICATORS = [
  'population', 'area_km2', 'pop_coverage_any_pct', 'pop_coverage_all_pct', 'area_coverage_any_pct',
  'not_spot_pop_pct', 'fibre_reach_pop_pct', 'fibre_underground_km', 'fibre_aerial_km', 'fibre_submarine_km',
  'nearest_data_centre_km', 'towers', 'towers_per_km2', 'towers_per_10k_people', 'shared_tower_pct',
  'compact_tower_pct', 'type1_towers', 'operators_total', 'dem_area_pct',
];
const SECTOR_COLUMNS = ['id', 'operator', 'technology', 'frequency_mhz', 'azimuth_deg', 'beamwidth_deg', 'tilt_deg', 'height_m', 'eirp_dbm', 'range_m'];

/** Build an element: h('td', { class: 'n' }, 'text', child…). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c != null) el.append(c instanceof Node ? c : String(c));
  return el;
}

const num = (v, digits = 2) => Number(v).toLocaleString(getLang(), { maximumFractionDigits: digits });

export class DetailsPanel {
  /** `root`: the panel element; `operatorName(id)`: an operator's display name. */
  constructor(root, operatorName) {
    this.root = root;
    this.operatorName = operatorName;
    this.render = null; // re-run on language change
    /** `(towerId, sectorId)` → start picking a point for a path profile; null: no profile buttons. */
    this.onProfile = null;
    window.addEventListener('langchange', () => this.render?.());
    this.clear();
  }

  show(render) {
    this.render = render;
    render();
    this.root.closest('.panel')?.scrollTo({ top: 0 });
  }

  clear() {
    this.show(() => this.root.replaceChildren(h('p', { class: 'muted', 'data-testid': 'details-empty' }, t('details_empty'))));
  }

  loading(kind) {
    this.show(() => this.root.replaceChildren(h('h2', {}, t(`kind_${kind}`)), h('p', { class: 'muted' }, t('loading'))));
  }

  error(kind, message) {
    this.show(() => this.root.replaceChildren(h('h2', {}, t(`kind_${kind}`)), h('p', { class: 'error', role: 'alert' }, `${t('load_failed')}: ${message}`)));
  }

  /** A value formatted for display. */
  value(key, v) {
    if (v == null || v === '') return '—';
    if (typeof v === 'boolean') return v ? t('yes') : t('no');
    if (key === 'operator' || key === 'operator_id') return this.operatorName(v);
    if (key === 'tenants' || key === 'operator_ids') {
      const list = Array.isArray(v) ? v : String(v).split(',').filter(Boolean);
      return list.length ? list.map((o) => this.operatorName(o)).join(', ') : '—';
    }
    if (ENUMS.has(key)) return tv(v);
    if (key === 'created_at' || key === 'updated_at') return new Date(v).toLocaleString(getLang());
    if (key === 'id' || key.endsWith('_id')) return String(v);
    if (typeof v === 'number') return num(v);
    if (Array.isArray(v)) return v.join(', ');
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  /** A two-column table of `props` (first `first`, then the rest). */
  attributes(props, first = []) {
    const keys = [...first.filter((k) => k in props), ...Object.keys(props).filter((k) => !first.includes(k))];
    const rows = keys
      .filter((k) => !HIDDEN.has(k))
      .map((k) => h('tr', {}, h('th', { scope: 'row' }, t(k)), h('td', { 'data-key': k }, this.value(k, props[k]))));
    return h('table', { class: 'attrs' }, h('tbody', {}, rows));
  }

  header(kind, title) {
    return h('div', { class: 'details-head' },
      h('h2', { id: 'details-title' }, h('span', { class: 'kind' }, t(`kind_${kind}`)), title ? ` · ${title}` : ''),
      h('button', { type: 'button', class: 'icon', 'aria-label': t('close'), title: t('close'), onclick: () => this.clear() }, '×'));
  }

  /**
   * Any feature: its properties (`operator_id` shown as operator). A
   * generalised fibre route (`generalised`) says so and why.
   */
  feature(kind, props) {
    const p = { ...props };
    if ('operator_id' in p && !('operator' in p)) p.operator = p.operator_id;
    const id = p.id ?? p.route_id;
    this.show(() => this.root.replaceChildren(
      this.header(kind, p.name || p.site_code || p.code || p.h3 || (id != null ? `#${id}` : '')),
      p.generalised
        ? h('p', { class: 'note', role: 'note', 'data-testid': 'generalised-note' }, h('strong', {}, t('generalised_title')), ' ', t('generalised_why'))
        : null,
      this.attributes(p, ['id', 'route_id', 'code', 'name', 'site_code', 'operator']),
    ));
  }

  /**
   * A duct bank: `props` from its tile (capacity class, and fill when
   * signed in) and `item`, the bank read from the API, for its ducts and
   * their subducts.
   */
  ductBank(props, item) {
    const ducts = item.properties.ducts || [];
    const rows = ducts.map((d) => h('tr', {},
      h('td', {}, d.position),
      h('td', { class: 'n' }, num(d.inner_diameter_mm, 1)),
      h('td', {}, d.material || '—'),
      h('td', {}, (d.subducts || []).map((x) => `${x.position}: ${num(x.inner_diameter_mm, 1)}/${num(x.outer_diameter_mm, 1)} mm${x.colour ? ` (${x.colour})` : ''}`).join(', ') || '—')));
    this.show(() => this.root.replaceChildren(
      this.header('ductbank', props.name || `#${props.id}`),
      this.attributes({ ...props, from_structure_id: item.properties.from_structure_id, to_structure_id: item.properties.to_structure_id },
        ['id', 'name', 'owner', 'status', 'capacity_class', 'largest_cable_mm', 'max_fill', 'configuration']),
      h('h3', { id: 'ducts-h' }, `${t('duct_list')} (${ducts.length})`),
      ducts.length
        ? h('div', { class: 'scroll-x', tabindex: 0, role: 'region', 'aria-labelledby': 'ducts-h' },
          h('table', { class: 'grid', 'data-testid': 'ducts-table' },
            h('thead', {}, h('tr', {}, ['duct', 'duct_inner_mm', 'duct_material', 'duct_subducts'].map((c) => h('th', { scope: 'col' }, t(c))))),
            h('tbody', {}, rows)))
        : h('p', { class: 'muted' }, t('duct_none')),
    ));
  }

  /** A tower read from the API (GeoJSON Feature), with its sectors. */
  tower(feature) {
    const p = { id: feature.id, ...feature.properties };
    this.show(() => {
      const sectors = p.sectors || [];
      const table = sectors.length
        ? h('div', { class: 'scroll-x', tabindex: 0, role: 'region', 'aria-labelledby': 'sectors-h' }, h('table', { class: 'grid', 'data-testid': 'sectors-table' },
          h('thead', {}, h('tr', {}, SECTOR_COLUMNS.map((c) => h('th', { scope: 'col' }, t(c))), this.onProfile ? h('th', { scope: 'col' }, t('profile')) : null)),
          h('tbody', {}, sectors.map((s) => h('tr', {},
            SECTOR_COLUMNS.map((c) => h('td', { class: typeof s[c] === 'number' ? 'n' : null }, this.value(c, s[c]))),
            this.onProfile
              ? h('td', {}, h('button', { type: 'button', class: 'small', 'data-testid': 'profile-btn', 'data-sector': `${p.id}:${s.id}`, onclick: () => this.onProfile(p.id, s.id) }, t('profile')))
              : null)))))
        : h('p', { class: 'muted' }, t('no_sectors'));
      this.root.replaceChildren(
        this.header('tower', p.site_code),
        this.attributes(p, ['id', 'site_code', 'name', 'operator', 'structure_type', 'mast_class', 'height_m', 'status', 'tenants']),
        h('h3', { id: 'sectors-h' }, `${t('sectors')} (${sectors.length})`),
        table,
      );
    });
  }

  /** Waiting for the point of a path profile. */
  profilePicking(ref) {
    this.show(() => this.root.replaceChildren(this.header('profile', ref), h('p', { class: 'note', role: 'status', 'data-testid': 'profile-pick' }, t('profile_pick'))));
  }

  /**
   * A /coverage/profile answer: the chart (ground, direct ray, first
   * Fresnel zone, main obstacle; heights in metres over distance in km) and
   * the link budget.
   */
  profile(doc) {
    this.show(() => {
      const S = doc.samples || [];
      const W = 320, H = 160, L = 34, B = 18;
      const dMax = Math.max(doc.distance_m, 1);
      const ys = S.flatMap((x) => [x.ground_m ?? x.ray_m, x.ray_m - x.fresnel_m, x.ray_m]);
      const yMin = Math.min(...ys), yMax = Math.max(...ys);
      const span = Math.max(yMax - yMin, 1);
      const X = (d) => L + ((W - L - 4) * d) / dMax;
      const Y = (v) => H - B - ((H - B - 6) * (v - yMin)) / span;
      const path = (pts) => pts.map(([x, y], i) => `${i ? 'L' : 'M'}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join('');
      const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
      svg.setAttribute('class', 'profile-chart');
      svg.setAttribute('role', 'img');
      svg.setAttribute('data-testid', 'profile-chart');
      svg.setAttribute('aria-label', `${t('profile_title')}: ${num(doc.distance_m / 1000, 2)} km`);
      const add = (tag, attrs) => {
        const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
        for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
        svg.appendChild(el);
        return el;
      };
      if (S.length && S[0].ground_m != null) {
        const g = S.map((x) => [x.distance_m, x.ground_m]);
        add('path', { d: `${path(g)}L${X(dMax)},${H - B}L${X(0)},${H - B}Z`, fill: '#b9a37a', stroke: '#7c5e10', 'data-testid': 'profile-ground' });
      }
      add('path', { d: path(S.map((x) => [x.distance_m, x.ray_m - x.fresnel_m])), fill: 'none', stroke: '#2f7bd8', 'stroke-dasharray': '3 2', 'data-testid': 'profile-fresnel' });
      add('path', { d: path(S.map((x) => [x.distance_m, x.ray_m])), fill: 'none', stroke: doc.line_of_sight === false ? '#c0392b' : '#1e8449', 'stroke-width': 1.5, 'data-testid': 'profile-ray' });
      const o = doc.obstacle_sample != null ? S[doc.obstacle_sample] : null;
      if (o && o.ground_m != null) add('circle', { cx: X(o.distance_m), cy: Y(o.ground_m), r: 3.5, fill: '#c0392b', 'data-testid': 'profile-obstacle' });
      add('text', { x: 2, y: 10, 'font-size': 9 }, ).textContent = `${num(yMax, 0)} m`;
      add('text', { x: 2, y: H - B, 'font-size': 9 }).textContent = `${num(yMin, 0)} m`;
      add('text', { x: W - 40, y: H - 4, 'font-size': 9 }).textContent = `${num(dMax / 1000, 2)} km`;
      const rows = [
        ['distance_m', num(doc.distance_m, 0)],
        ['terrain', doc.terrain],
        ['line_of_sight', doc.line_of_sight == null ? '—' : doc.line_of_sight ? t('profile_los') : t('profile_no_los')],
        ['fresnel_clearance_min', doc.fresnel_clearance_min == null ? '—' : num(doc.fresnel_clearance_min, 2)],
        ['diffraction_loss_db', num(doc.diffraction_loss_db, 1)],
        ['clutter', `${doc.clutter} (${doc.clutter_source})`],
        ['path_loss_db', num(doc.path_loss_db, 1)],
        ['rx_dbm', `${num(doc.rx_dbm, 1)} (≥ ${num(doc.threshold_dbm, 0)})`],
      ];
      this.root.replaceChildren(
        this.header('profile', doc.sector),
        h('p', {}, h('span', { class: `badge ${doc.covered ? 'ok' : 'bad'}`, 'data-testid': 'profile-covered' }, doc.covered ? t('profile_covered') : t('profile_not_covered'))),
        ...(doc.terrain === 'none' ? [h('p', { class: 'note', 'data-testid': 'profile-no-terrain' }, t('profile_no_terrain'))] : []),
        svg,
        h('p', { class: 'small legend-inline' },
          h('span', { style: 'color:#7c5e10' }, `■ ${t('profile_ground')} `),
          h('span', { style: 'color:#1e8449' }, `— ${t('profile_ray')} `),
          h('span', { style: 'color:#2f7bd8' }, `-- ${t('profile_fresnel')} `),
          h('span', { style: 'color:#c0392b' }, `● ${t('profile_obstacle')}`)),
        h('table', { class: 'attrs', 'data-testid': 'profile-table' }, h('tbody', {}, rows.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, t(k)), h('td', { 'data-key': k }, v))))),
      );
    });
  }

  /** A district of /analysis/districts: class, score and the explanation of each criterion. */
  analysis(props) {
    const cmp = (c) => ({ '>=': '≥', '<=': '≤' }[c] || c);
    this.show(() => {
      const items = (props.explanation || []).map((c) => {
        const unit = c.unit ? ` ${c.unit}` : '';
        return h('li', { class: `crit ${c.pass ? 'pass' : 'fail'}` },
          h('div', { class: 'crit-head' },
            h('span', {}, t(`c.${c.criterion}`)),
            h('span', { class: `badge ${c.pass ? 'ok' : 'bad'}` }, c.pass ? `✓ ${t('pass')}` : `✗ ${t('fail')}`)),
          h('div', { class: 'small' },
            h('strong', {}, `${num(c.value)}${unit}`),
            ` · ${t('threshold')} ${cmp(c.comparison)} ${num(c.threshold)}${unit}`,
            ` · ${t('unserved_threshold')} ${cmp(c.comparison)} ${num(c.unserved_threshold)}${unit}`));
      });
      const ind = props.indicators || {};
      this.root.replaceChildren(
        this.header('analysis', props.name),
        h('p', {},
          h('span', { class: `badge class-${props.class}`, 'data-testid': 'analysis-class' }, tv(props.class)),
          ` ${t('rank')} ${props.rank} · ${t('score')} ${num(props.score, 1)}/100 · ${ind.technology || ''}`),
        h('h3', {}, t('explanation')),
        h('ul', { class: 'criteria', 'data-testid': 'explanation' }, items),
        h('h3', {}, t('indicators')),
        h('table', { class: 'attrs' }, h('tbody', {}, INDICATORS
          .filter((k) => typeof ind[k] === 'number')
          .map((k) => h('tr', {}, h('th', { scope: 'row' }, t(`i.${k}`)), h('td', { class: 'n' }, num(ind[k])))))),
      );
    });
  }
}
