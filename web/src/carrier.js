// Carrier workflow: the access token, drawing and registering a tower or a
// fibre route with a form, and bulk registration from a GeoJSON file.
//
// The service validates every write and answers 422 problem+json with an
// `errors` list; each error's JSON pointer (e.g. /properties/height_m or
// /properties/sectors/0/azimuth_deg) is shown next to the matching field.

import { createFeature, getToken, setToken } from './api.js';
import { t, tv } from './i18n.js';
import { PLACEMENTS, STATUSES, STRUCTURES, TECHNOLOGIES } from './layers.js';
import { h } from './panel.js';

/** The form's fields per asset kind: property name, input type, options. */
const FIELDS = {
  tower: [
    { name: 'operator', type: 'operator', required: true },
    { name: 'site_code', type: 'text', required: true },
    { name: 'name', type: 'text' },
    { name: 'structure_type', type: 'select', options: STRUCTURES, required: true },
    { name: 'height_m', type: 'number', required: true },
    { name: 'status', type: 'select', options: STATUSES, value: 'operational' },
    { name: 'external_id', type: 'text' },
  ],
  fibre: [
    { name: 'operator', type: 'operator', required: true },
    { name: 'name', type: 'text' },
    { name: 'placement', type: 'select', options: PLACEMENTS, required: true },
    { name: 'fibre_count', type: 'number', required: true, integer: true },
    { name: 'capacity_gbps', type: 'number' },
    { name: 'status', type: 'select', options: STATUSES, value: 'operational' },
    { name: 'external_id', type: 'text' },
  ],
};

const SECTOR_FIELDS = [
  { name: 'operator', type: 'operator' },
  { name: 'technology', type: 'select', options: TECHNOLOGIES, value: '4G', raw: true },
  { name: 'frequency_mhz', type: 'number', value: '1842.5' },
  { name: 'azimuth_deg', type: 'number' },
  { name: 'beamwidth_deg', type: 'number', value: '65' },
  { name: 'tilt_deg', type: 'number', value: '4' },
  { name: 'height_m', type: 'number', value: '20' },
  { name: 'eirp_dbm', type: 'number', value: '60' },
  { name: 'range_m', type: 'number' },
];

const COLLECTION = { tower: 'towers', fibre: 'fibre-routes' };

/** A field block: label, input and the slot for its error, keyed by JSON pointer. */
function field(def, id, pointer, operators) {
  let input;
  const common = { id, name: def.name, 'aria-describedby': `${id}-err` };
  if (def.type === 'select' || def.type === 'operator') {
    const opts = def.type === 'operator'
      ? operators.map((o) => h('option', { value: o.id }, o.name))
      : def.options.map((v) => h('option', def.raw ? { value: v } : { value: v, 'data-v': v }, def.raw ? v : tv(v)));
    input = h('select', common, opts);
    if (def.value) input.value = def.value;
  } else {
    input = h('input', {
      ...common,
      type: def.type === 'number' ? 'number' : 'text',
      step: def.type === 'number' ? (def.integer ? '1' : 'any') : null,
      inputmode: def.type === 'number' ? 'decimal' : null,
      autocomplete: 'off',
      value: def.value ?? null,
    });
  }
  return h('div', { class: 'field', 'data-pointer': pointer },
    h('label', { for: id }, h('span', { 'data-i18n': def.name }, t(def.name)), def.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    input,
    h('p', { class: 'field-error', id: `${id}-err`, hidden: true }));
}

/** The value of an input as JSON: numbers parsed, empty strings left out (undefined). */
function inputValue(el, def) {
  const v = el.value.trim();
  if (v === '') return undefined;
  if (def.type === 'number') return Number(v);
  return v;
}

/** "lon, lat" lines → [[lon, lat], …] (null when a line does not parse). */
function parseCoordLines(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const parts = line.split(/[\s,;]+/).filter(Boolean).map(Number);
    if (parts.length !== 2 || parts.some((n) => !Number.isFinite(n))) return null;
    out.push(parts);
  }
  return out;
}

export class Carrier {
  /**
   * `root`: the Carriers tab; `operators`: [{ id, name }]; `draw`: the Draw;
   * `onSaved(kind, feature)`: after a successful save; `onBulkDone(collection)`.
   */
  constructor(root, { operators, draw, onSaved, onBulkDone }) {
    this.root = root;
    this.operators = operators;
    this.draw = draw;
    this.onSaved = onSaved;
    this.onBulkDone = onBulkDone;
    this.kind = null;
    this.sectorCount = 0;
    this.#initToken();
    this.#initForm();
    this.#initUpload();
    window.addEventListener('langchange', () => this.#relabelSectors());
  }

  // ---------------------------------------------------------------- token

  #initToken() {
    const form = this.root.querySelector('#token-form');
    const input = form.querySelector('#token');
    const status = form.querySelector('#token-status');
    this.tokenInput = input;
    this.tokenError = form.querySelector('#token-error');
    input.value = getToken();
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      setToken(input.value.trim());
      if (input.value.trim()) this.#tokenNeeded(false);
      status.textContent = t(input.value.trim() ? 'token_saved' : 'token_cleared');
    });
    form.querySelector('#token-clear').addEventListener('click', () => {
      input.value = '';
      setToken('');
      status.textContent = t('token_cleared');
    });
  }

  /** A write answered 401: ask for a token next to its field and focus it (or hide that). */
  #tokenNeeded(on = true) {
    this.tokenError.hidden = !on;
    if (on) {
      this.tokenInput.setAttribute('aria-invalid', 'true');
      this.tokenInput.focus();
    } else {
      this.tokenInput.removeAttribute('aria-invalid');
    }
  }

  // ---------------------------------------------------------------- asset form

  #initForm() {
    this.form = this.root.querySelector('#asset-form');
    this.fieldsBox = this.form.querySelector('#asset-fields');
    this.sectorsBox = this.form.querySelector('#sectors');
    this.sectorList = this.form.querySelector('#sector-list');
    this.status = this.form.querySelector('#asset-status');
    this.general = this.form.querySelector('#asset-errors');
    this.lon = this.form.querySelector('#f-lon');
    this.lat = this.form.querySelector('#f-lat');
    this.coordText = this.form.querySelector('#f-coords');
    this.drawBtn = { tower: this.root.querySelector('#draw-tower'), fibre: this.root.querySelector('#draw-fibre') };
    this.drawBtn.tower.addEventListener('click', () => this.#toggleDraw('tower'));
    this.drawBtn.fibre.addEventListener('click', () => this.#toggleDraw('fibre'));
    this.form.querySelector('#draw-undo').addEventListener('click', () => this.draw.undo());
    this.form.querySelector('#add-sector').addEventListener('click', () => this.addSector());
    // typed coordinates move the draft
    const fromPoint = () => {
      const lon = Number(this.lon.value);
      const lat = Number(this.lat.value);
      if (this.lon.value !== '' && this.lat.value !== '' && Number.isFinite(lon) && Number.isFinite(lat)) this.draw.set('point', [[lon, lat]]);
    };
    this.lon.addEventListener('change', fromPoint);
    this.lat.addEventListener('change', fromPoint);
    this.coordText.addEventListener('change', () => {
      const coords = parseCoordLines(this.coordText.value);
      if (coords) this.draw.set('line', coords);
    });
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.save();
    });
  }

  /** Draw-button press: open the form for that kind and start (or stop) drawing. */
  #toggleDraw(kind) {
    if (this.draw.active && this.kind === kind) {
      this.draw.stop();
      return;
    }
    this.#openForm(kind);
    this.draw.start(kind === 'tower' ? 'point' : 'line');
  }

  /** Called by the drawing after every change of the draft. */
  drawChanged(coords, mode) {
    if (this.kind === 'tower') {
      this.lon.value = coords[0]?.[0] ?? '';
      this.lat.value = coords[0]?.[1] ?? '';
    } else if (this.kind === 'fibre') {
      this.coordText.value = coords.map((c) => `${c[0]}, ${c[1]}`).join('\n');
    }
    for (const [kind, btn] of Object.entries(this.drawBtn)) {
      const on = mode !== null && this.kind === kind;
      btn.setAttribute('aria-pressed', String(on));
      btn.querySelector('span').dataset.i18n = on ? 'draw_stop' : `draw_${kind}`;
      btn.querySelector('span').textContent = t(btn.querySelector('span').dataset.i18n);
    }
    this.form.querySelector('#draw-undo').hidden = !(this.kind === 'fibre' && coords.length > 0);
  }

  #openForm(kind) {
    if (this.kind === kind) return;
    this.kind = kind;
    this.form.hidden = false;
    this.form.dataset.kind = kind;
    this.fieldsBox.replaceChildren(...FIELDS[kind].map((def) => field(def, `f-${def.name}`, `/properties/${def.name}`, this.operators)));
    if (kind === 'tower') {
      this.fieldsBox.append(h('fieldset', { class: 'field checks', 'data-pointer': '/properties/tenants', 'aria-describedby': 'f-tenants-err' },
        h('legend', { 'data-i18n': 'tenants' }, t('tenants')),
        this.operators.map((o) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'tenants', value: o.id }), ` ${o.name}`)),
        h('p', { class: 'field-error', id: 'f-tenants-err', hidden: true })));
    }
    this.sectorList.replaceChildren();
    this.sectorCount = 0;
    this.sectorsBox.hidden = kind !== 'tower';
    this.form.querySelector('#point-fields').hidden = kind !== 'tower';
    this.form.querySelector('#line-fields').hidden = kind !== 'fibre';
    this.form.querySelector('#draw-hint').dataset.i18n = kind === 'tower' ? 'draw_point_hint' : 'draw_line_hint';
    this.form.querySelector('#draw-hint').textContent = t(this.form.querySelector('#draw-hint').dataset.i18n);
    this.lon.value = this.lat.value = this.coordText.value = '';
    this.status.textContent = '';
    this.#clearErrors();
  }

  /** Add a sector row (index i: pointer /properties/sectors/i/…). */
  addSector() {
    const i = this.sectorList.children.length;
    const row = h('fieldset', { class: 'sector', 'data-pointer': `/properties/sectors/${i}` },
      h('legend', {}, t('sector_n', { n: i + 1 })),
      h('div', { class: 'grid2' }, SECTOR_FIELDS.map((def) => field(
        def.name === 'azimuth_deg' ? { ...def, value: String((i * 120) % 360) } : def,
        `f-s${i}-${def.name}`, `/properties/sectors/${i}/${def.name}`, this.operators))),
      h('button', { type: 'button', class: 'secondary', onclick: () => { row.remove(); this.#renumberSectors(); } }, t('remove_sector')),
      h('p', { class: 'field-error', hidden: true }));
    const owner = this.form.querySelector('#f-operator')?.value;
    if (owner) row.querySelector(`#f-s${i}-operator`).value = owner;
    this.sectorList.append(row);
    row.querySelector('select, input').focus();
  }

  /** Keep ids and pointers in order after a row is removed. */
  #renumberSectors() {
    [...this.sectorList.children].forEach((row, i) => {
      row.dataset.pointer = `/properties/sectors/${i}`;
      for (const f of row.querySelectorAll('.field')) {
        const name = f.querySelector('[name]').name;
        f.dataset.pointer = `/properties/sectors/${i}/${name}`;
      }
    });
    this.#relabelSectors();
  }

  #relabelSectors() {
    [...(this.sectorList?.children || [])].forEach((row, i) => {
      row.querySelector('legend').textContent = t('sector_n', { n: i + 1 });
      row.querySelector('button').textContent = t('remove_sector');
    });
  }

  /** The GeoJSON Feature described by the form and the draft geometry. */
  feature() {
    const props = {};
    for (const def of FIELDS[this.kind]) {
      const v = inputValue(this.form.querySelector(`#f-${def.name}`), def);
      if (v !== undefined) props[def.name] = v;
    }
    if (this.kind === 'tower') {
      props.tenants = [...this.form.querySelectorAll('input[name=tenants]:checked')].map((c) => c.value);
      props.sectors = [...this.sectorList.children].map((row) => {
        const s = {};
        for (const def of SECTOR_FIELDS) {
          const v = inputValue(row.querySelector(`[name=${def.name}]`), def);
          if (v !== undefined) s[def.name] = v;
        }
        return s;
      });
    }
    return { type: 'Feature', geometry: this.draw.geometry(), properties: props };
  }

  #clearErrors() {
    this.general.replaceChildren();
    this.general.hidden = true;
    for (const el of this.form.querySelectorAll('.field-error')) {
      el.textContent = '';
      el.hidden = true;
    }
    for (const el of this.form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    for (const el of this.form.querySelectorAll('.invalid')) el.classList.remove('invalid');
  }

  /**
   * Show each problem next to the field of its JSON pointer (or of the
   * nearest enclosing pointer); problems without a field go to the list at
   * the top of the form. Returns the first field element with an error.
   */
  showErrors(errors) {
    this.#clearErrors();
    const blocks = new Map([...this.form.querySelectorAll('[data-pointer]')].map((el) => [el.dataset.pointer, el]));
    let first = null;
    const general = [];
    for (const err of errors) {
      let p = err.pointer;
      let block = null;
      while (p && !(block = blocks.get(p))) p = p.slice(0, p.lastIndexOf('/'));
      if (!block) {
        general.push(h('li', {}, err.pointer || err.parameter || err.header ? `${err.pointer || err.parameter || err.header}: ` : '', err.detail));
        continue;
      }
      const slot = [...block.children].find((c) => c.classList?.contains('field-error'));
      slot.hidden = false;
      slot.textContent = slot.textContent ? `${slot.textContent}; ${err.detail}` : err.detail;
      block.classList.add('invalid');
      const input = block.querySelector(':scope > input, :scope > select, :scope > textarea');
      input?.setAttribute('aria-invalid', 'true');
      first ??= input || block.querySelector('input, select, textarea');
    }
    if (general.length) {
      this.general.hidden = false;
      this.general.replaceChildren(...general);
    }
    return first;
  }

  /** POST the form's feature; on 201 tell the map, else show the problems. */
  async save() {
    this.#clearErrors();
    const feature = this.feature();
    if (!feature.geometry) {
      this.showErrors([{ pointer: '/geometry', detail: t('need_location') }]);
      this.status.textContent = t('fix_errors');
      return;
    }
    const button = this.form.querySelector('button[type=submit]');
    button.disabled = true;
    this.status.textContent = t('saving');
    try {
      const res = await createFeature(COLLECTION[this.kind], feature);
      if (res.ok) {
        this.#tokenNeeded(false);
        this.status.textContent = t('saved', { kind: t(`kind_${this.kind}`), id: res.body.id });
        this.form.dataset.savedId = res.body.id;
        this.draw.clear();
        await this.onSaved(this.kind, res.body);
      } else if (res.status === 401) {
        // No (valid) token: the form is fine, the sign-in is missing.
        this.status.textContent = t('save_failed', { status: 401, detail: t('token_needed') });
        this.#tokenNeeded();
      } else if (res.status === 403) {
        // Signed in, but this account may not write this asset: the service says why.
        const detail = res.body?.detail || res.body?.title || 'HTTP 403';
        this.showErrors([{ detail: t('forbidden', { detail }) }]);
        this.status.textContent = t('save_failed', { status: 403, detail });
      } else {
        const problem = typeof res.body === 'object' && res.body ? res.body : {};
        const errors = problem.errors?.length ? problem.errors : [{ detail: problem.detail || `HTTP ${res.status}` }];
        const first = this.showErrors(errors);
        this.status.textContent = t('save_failed', { status: res.status, detail: problem.title || '' });
        first?.focus();
      }
    } catch (e) {
      this.status.textContent = t('save_failed', { status: '—', detail: e.message });
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- bulk upload

  #initUpload() {
    const form = this.root.querySelector('#upload-form');
    const status = form.querySelector('#upload-status');
    const table = this.root.querySelector('#upload-results');
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const file = form.querySelector('#upload-file').files[0];
      const collection = form.querySelector('#upload-target').value;
      if (!file) return;
      let features;
      try {
        const doc = JSON.parse(await file.text());
        if (doc?.type !== 'FeatureCollection' || !Array.isArray(doc.features)) throw new Error('type ≠ FeatureCollection');
        features = doc.features;
      } catch (err) {
        status.textContent = t('upload_bad_file', { detail: err.message });
        return;
      }
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      const tbody = h('tbody');
      table.replaceChildren(
        h('caption', {}, `${file.name} → ${collection}`),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, t('upload_feature')), h('th', { scope: 'col' }, 'HTTP'), h('th', { scope: 'col' }, t('upload_result')))),
        tbody);
      table.hidden = false;
      let ok = 0;
      let stopped = false;
      // One request after the other: the service checks each write on its own.
      for (const [i, f] of features.entries()) {
        status.textContent = t('upload_running', { i: i + 1, n: features.length });
        const p = f?.properties || {};
        const label = p.site_code || p.name || p.external_id || `#${i + 1}`;
        let res;
        try {
          res = await createFeature(collection, f);
        } catch (err) {
          res = { ok: false, status: '—', body: { detail: err.message } };
        }
        if (res.ok) ok++;
        const result = res.ok
          ? t('created', { id: res.body.id })
          : h('ul', {}, (res.body?.errors?.length ? res.body.errors : [{ detail: res.body?.detail || '' }])
            .map((er) => h('li', {}, er.pointer ? h('code', {}, er.pointer) : null, er.pointer ? ' ' : null, er.detail)));
        tbody.append(h('tr', { class: res.ok ? 'pass' : 'fail' },
          h('td', { class: 'n' }, i + 1), h('td', {}, label), h('td', { class: 'n' }, res.status), h('td', {}, result)));
        // Without a valid token every other feature would answer 401 too.
        if (res.status === 401) {
          stopped = true;
          break;
        }
      }
      status.textContent = stopped ? t('upload_stopped') : t('upload_done', { ok, bad: features.length - ok });
      if (stopped) this.#tokenNeeded();
      else if (ok) this.#tokenNeeded(false);
      button.disabled = false;
      if (ok) await this.onBulkDone(collection);
    });
  }
}
