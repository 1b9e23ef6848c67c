// Minimal drawing on the map: click to place a point, or click to add the
// vertices of a line. The draft is shown in the 'draft' source; the form can
// also set it from typed coordinates (keyboard users).

const round6 = (v) => Math.round(v * 1e6) / 1e6;

export class Draw {
  /** `onChange(coords, mode)` runs after every edit of the draft. */
  constructor(map, onChange) {
    this.map = map;
    this.onChange = onChange;
    this.mode = null; // 'point' | 'line' while drawing
    this.kind = 'point'; // geometry kind of the draft
    this.coords = [];
    map.on('click', (e) => this.#click(e));
    map.on('dblclick', (e) => {
      if (this.mode === 'line') {
        e.preventDefault();
        this.stop();
      }
    });
    window.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.mode) this.stop();
    });
  }

  /** True while a click on the map edits the draft (and selects nothing). */
  get active() {
    return this.mode !== null;
  }

  /** True when map click `e` was used by the drawing. */
  handled(e) {
    return this.active || e.tgisDraw === true;
  }

  /** Start drawing a 'point' or a 'line' (a new kind clears the draft). */
  start(kind) {
    if (kind !== this.kind) this.coords = [];
    this.kind = kind;
    this.mode = kind;
    this.map.getCanvas().style.cursor = 'crosshair';
    this.map.doubleClickZoom.disable();
    this.#changed();
  }

  stop() {
    if (!this.mode) return;
    this.mode = null;
    this.map.getCanvas().style.cursor = '';
    setTimeout(() => this.map.doubleClickZoom.enable(), 0);
    this.#changed();
  }

  /** Remove the last vertex of a line. */
  undo() {
    this.coords.pop();
    this.#changed();
  }

  clear() {
    this.coords = [];
    this.stop();
    this.#changed();
  }

  /** Replace the draft with typed coordinates ([[lon, lat], …]); does not notify. */
  set(kind, coords) {
    this.kind = kind;
    this.coords = coords.map(([x, y]) => [round6(x), round6(y)]);
    this.#render();
  }

  /** The draft as a GeoJSON geometry, or null when incomplete. */
  geometry() {
    if (this.kind === 'point') return this.coords.length ? { type: 'Point', coordinates: this.coords[0] } : null;
    return this.coords.length ? { type: 'LineString', coordinates: this.coords } : null;
  }

  #click(e) {
    if (!this.mode) return;
    e.tgisDraw = true; // tells the selection handler to ignore this click
    const pos = [round6(e.lngLat.lng), round6(e.lngLat.lat)];
    if (this.mode === 'point') {
      this.coords = [pos];
      this.stop(); // one click places the tower
      return;
    }
    this.coords.push(pos);
    this.#changed();
  }

  #render() {
    const features = this.coords.map((c) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: c }, properties: {} }));
    if (this.kind === 'line' && this.coords.length > 1) {
      features.push({ type: 'Feature', geometry: { type: 'LineString', coordinates: this.coords }, properties: {} });
    }
    this.map.getSource('draft').setData({ type: 'FeatureCollection', features });
  }

  #changed() {
    this.#render();
    this.onChange(this.coords, this.mode);
  }
}
