// The Layers tab: filters (operator, technology, status), one toggle per
// layer group, and each group's legend.

import { t, tv } from './i18n.js';
import {
  CAPACITY_COLORS, CLASS_COLORS, FILL_STOPS, GAP_COLORS, GROUPS, PLACEMENT_COLORS, PLACEMENTS, STATUSES, STRUCTURES, TECHNOLOGIES,
  markerDataURL, operatorColor,
} from './layers.js';
import { h } from './panel.js';

const swatch = (style, label) => h('li', {}, h('span', { class: 'sw', style, 'aria-hidden': 'true' }), label);
const note = (key) => h('li', { class: 'muted' }, t(key));

export class Controls {
  /**
   * `root`: the Layers tab; `operators`: [{ id, name }];
   * `onToggle(key, on)`, `onFilters(filters)`: what the map does.
   */
  constructor(root, { operators, onToggle, onFilters }) {
    this.root = root;
    this.operators = operators;
    this.onToggle = onToggle;
    this.onFilters = onFilters;
    this.visible = Object.fromEntries(GROUPS.map((g) => [g.key, g.on]));
    this.status = {};
    this.filters = { operator: '', technology: '', status: '', coverageTech: '4G' };
    this.#renderFilters();
    this.#renderLayers();
    window.addEventListener('langchange', () => {
      this.#renderFilters();
      this.#renderLayers();
    });
  }

  #select(id, labelKey, options, value, onChange) {
    const sel = h('select', { id, onchange: (e) => onChange(e.target.value) },
      h('option', { value: '' }, t('all')), options.map(([v, label]) => h('option', { value: v }, label)));
    sel.value = value;
    return h('div', { class: 'field' }, h('label', { for: id }, t(labelKey)), sel);
  }

  #renderFilters() {
    const box = this.root.querySelector('#filters');
    const set = (k) => (v) => {
      this.filters[k] = v;
      if (k === 'technology') this.filters.coverageTech = v || '4G';
      this.onFilters({ ...this.filters });
    };
    box.replaceChildren(
      this.#select('filter-operator', 'filter_operator', this.operators.map((o) => [o.id, o.name]), this.filters.operator, set('operator')),
      this.#select('filter-technology', 'filter_technology', TECHNOLOGIES.map((x) => [x, x]), this.filters.technology, set('technology')),
      this.#select('filter-status', 'filter_status', STATUSES.map((s) => [s, tv(s)]), this.filters.status, set('status')),
    );
  }

  /** The legend entries of a layer group. */
  #legend(key) {
    const byOperator = () => this.operators.map((o) => swatch(`background:${operatorColor(o.id)}`, o.name));
    switch (key) {
      case 'districts':
        return [swatch('background:#f7f4ec;border:1.5px dashed #8a8f98', t('layer_districts'))];
      case 'transport':
        return [
          swatch('background:repeating-linear-gradient(90deg,#3b3b3b 0 6px,transparent 6px 9px);height:4px', t('legend_railway')),
          swatch('background:#f59f3a;height:5px', t('legend_road')),
        ];
      case 'towers':
        return [
          ...byOperator(),
          ...STRUCTURES.map((s) => h('li', {}, h('img', { src: markerDataURL('#59606b', s), alt: '', width: 16, height: 16 }), tv(s))),
          note('legend_dim'),
        ];
      case 'sectors':
        return [note('legend_by_operator'), note('sectors_zoom_note')];
      case 'fibre':
        return [
          ...PLACEMENTS.map((p) => swatch(`background:${PLACEMENT_COLORS[p]};height:4px`, tv(p))),
          // Routes the viewer may not see exactly: their H3 cells, in the operator's colour.
          h('li', { 'data-testid': 'legend-fibre-presence' },
            h('span', { class: 'sw', style: 'background:rgba(89,96,107,.22);border:1px solid #59606b', 'aria-hidden': 'true' }),
            t('legend_fibre_presence')),
          note('legend_dim'),
        ];
      case 'datacentres':
        return [swatch('background:#fff;border:3px solid #59606b;border-radius:50%', t('layer_datacentres')), note('legend_by_operator')];
      case 'ducts':
        return [
          note('legend_duct_class'),
          ...['ample', 'low', 'none'].map((c) => swatch(`background:${CAPACITY_COLORS[c]};height:5px`, tv(c))),
          h('li', { 'data-testid': 'legend-duct-fill' },
            h('span', { class: 'sw', style: `background:linear-gradient(90deg,${FILL_STOPS.map(([, c]) => c).join(',')});height:5px`, 'aria-hidden': 'true' }),
            t('legend_duct_fill')),
          swatch('background:repeating-linear-gradient(90deg,#8a8f98 0 6px,transparent 6px 10px);height:4px', t('legend_duct_inactive')),
          swatch('background:#374151;border:1.5px solid #fff;border-radius:50%;width:10px;height:10px', t('legend_structures')),
          note('ducts_zoom_note'),
        ];
      case 'footprints':
        return [note('legend_by_operator')];
      case 'terrain':
        return [
          swatch('background:linear-gradient(90deg,#4a5563,#f7f4ec);', t('legend_hillshade')),
          swatch('background:transparent;border:1px dashed #7c5e10', t('legend_dem_extent')),
        ];
      case 'gaps':
        return [
          swatch(`background:${GAP_COLORS[0]}`, t('gaps_none')),
          swatch(`background:${GAP_COLORS[1]}`, t('gaps_partial')),
          swatch(`background:${GAP_COLORS[2]};opacity:.45`, t('gaps_all')),
        ];
      case 'analysis':
        return ['unserved', 'underserved', 'served'].map((c) => swatch(`background:${CLASS_COLORS[c]};opacity:.75`, tv(c)));
      default:
        return [];
    }
  }

  #renderLayers() {
    const list = this.root.querySelector('#layer-list');
    list.replaceChildren(...GROUPS.map((g) => {
      const id = `toggle-${g.key}`;
      const box = h('input', {
        type: 'checkbox', id, checked: this.visible[g.key], 'data-layer-group': g.key,
        onchange: (e) => {
          this.visible[g.key] = e.target.checked;
          this.onToggle(g.key, e.target.checked);
        },
      });
      return h('li', { class: 'layer' },
        h('div', { class: 'layer-head' }, box, h('label', { for: id }, t(`layer_${g.key}`)),
          h('span', { class: 'layer-status', id: `status-${g.key}`, role: 'status' }, this.status[g.key] || '')),
        h('ul', { class: 'legend', 'aria-label': `${t('layer_' + g.key)}` }, this.#legend(g.key)));
    }));
  }

  /** Short status text next to a layer's toggle (loading, counts, errors). */
  setStatus(key, text) {
    this.status[key] = text;
    const el = this.root.querySelector(`#status-${key}`);
    if (el) el.textContent = text;
  }
}
