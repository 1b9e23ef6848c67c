// End-to-end tests of the web map in headless Chromium against the real
// service and a fresh PostGIS database (see harness.mjs). Run: npm test
// (with DATABASE_URL set). Screenshots go to <repo>/artifacts/e2e/.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ARTIFACTS, buildFrontEnd, buildService, createDatabase, launchBrowser, startService,
} from './harness.mjs';

/** Every layer of the style (see src/layers.js). */
const LAYERS = [
  'background', 'districts-fill', 'hillshade', 'dem-extent', 'analysis-fill', 'gaps-fill', 'footprints-fill', 'footprints-line',
  'districts-line', 'city-outline', 'transport-road', 'transport-rail', 'ducts-inactive', 'ducts', 'fibre-presence-fill',
  'fibre-presence-line', 'fibre', 'structures', 'sectors-fill',
  'sectors-line', 'analysis-line', 'datacentres', 'selection-fill', 'selection-line', 'selection', 'towers',
  'duct-route-casing', 'duct-route', 'duct-route-ends', 'draft-line', 'draft-point',
];
/** Reads that depend on who asks, and so carry the token (see src/api.js). */
const PER_VIEWER = ['/collections/fibre-routes/', '/collections/duct-banks/tiles/', '/ducts/capacity'];
const perViewer = (url) => PER_VIEWER.some((p) => new URL(url).pathname.startsWith(p));
const DISTRICTS = ['Liên Chiểu', 'Thanh Khê', 'Hải Châu', 'Sơn Trà', 'Ngũ Hành Sơn', 'Cẩm Lệ', 'Hòa Vang'];
/** Centre of Hải Châu, the dense urban core. */
const CENTRE = [108.214, 16.06];

let db;
let service;
let browser;
let page;
let origin;
/** API tokens made by the harness: { admin, viettel }. */
let tokens;
const requests = [];
/** Requests that carried an Authorization header: { method, url }. */
const authorised = [];
const pageErrors = [];
const consoleErrors = [];

const shot = (name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
/** Wait until the map has loaded everything it asked for. */
const settled = () => page.evaluate(() => window.tgis.settled());
const rendered = (layers, filter) => page.evaluate(([l, f]) => window.map.queryRenderedFeatures({ layers: l, ...(f ? { filter: f } : {}) }).length, [layers, filter]);
/** Read the API as the Department (admin token): fibre routes exactly. */
const api = async (path) => (await fetch(`${origin}${path}`, { headers: { Accept: 'application/json', Authorization: `Bearer ${tokens.admin}` } })).json();

/** Paste `token` into the carrier panel's token field and save it ('' clears it); waits for the map. */
async function useToken(token) {
  await page.click('#tab-carrier');
  if (token) {
    await page.fill('#token', token);
    await page.click('#token-form button[type=submit]');
  } else {
    await page.click('#token-clear');
  }
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tgis.token') || ''), token);
  await settled();
}

/** Features of the fibre source's MVT layer `sourceLayer` in the loaded tiles. */
const fibreSourceFeatures = (sourceLayer) => page.evaluate((l) => window.map.querySourceFeatures('fibre', { sourceLayer: l }).length, sourceLayer);

/** Fill the tower form (drawn or typed location kept) with an operator and a site code. */
async function fillTower(operator, siteCode) {
  await page.selectOption('#f-operator', operator);
  await page.fill('#f-site_code', siteCode);
  await page.fill('#f-name', '');
  await page.selectOption('#f-structure_type', 'monopole');
  await page.fill('#f-height_m', '30');
}

/** Move the map and wait for everything to load. */
async function jump(center, zoom) {
  // (Braces: returning the Map object would make Playwright serialise it.)
  await page.evaluate(([c, z]) => { window.map.jumpTo({ center: c, zoom: z }); }, [center, zoom]);
  await settled();
}

/** Click the map canvas at map pixel [x, y]. */
async function clickMap([x, y]) {
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + x, box.y + y);
}

describe('web map', { timeout: 600_000 }, () => {
  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const [, bin] = await Promise.all([buildFrontEnd(), buildService()]);
    db = await createDatabase();
    service = await startService(bin, db.url);
    origin = service.origin;
    tokens = service.tokens;
    browser = await launchBrowser();
    page = browser.page;
    page.on('request', (r) => {
      requests.push(r.url());
      if (r.headers().authorization) authorised.push({ method: r.method(), url: r.url() });
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // A failed resource (the 422 of the invalid form; the tiles' 404 on a
    // service without them) is an answer the page handles, not a bug.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) consoleErrors.push(m.text());
    });
    await page.goto(`${origin}/`);
    await page.evaluate(() => window.tgis.ready);
    await settled();
  });

  after(async () => {
    await browser?.close();
    await service?.stop();
    await db?.drop();
  });

  test('1. the map loads with every layer, district labels and data', async () => {
    const ids = await page.evaluate(() => window.map.getStyle().layers.map((l) => l.id));
    assert.deepEqual([...ids].sort(), [...LAYERS].sort());
    for (const id of LAYERS) assert.ok(await page.evaluate((i) => !!window.map.getLayer(i), id), `layer ${id}`);
    // The asset layers use vector tiles whenever the service has them.
    const tiles = (await fetch(`${origin}/collections/towers/tiles/WebMercatorQuad/tilejson.json`)).status === 200;
    const types = await page.evaluate(() => ['towers', 'sectors', 'fibre'].map((s) => window.map.getSource(s).type));
    assert.deepEqual(types, tiles ? ['vector', 'vector', 'vector'] : ['geojson', 'geojson', 'geojson']);
    // (Anonymous: fibre routes as generalised cells; see test 1b.)
    for (const layer of ['districts-fill', 'city-outline', 'transport-road', 'transport-rail', 'towers', 'fibre-presence-fill', 'datacentres']) {
      assert.ok(await rendered([layer]) > 0, `${layer} renders features`);
    }
    // Tower icons exist for the operators and structure types in view.
    assert.ok(await page.evaluate(() => window.map.listImages().some((i) => i.startsWith('tw|viettel|'))));
    // District names with their diacritics, as HTML labels.
    const labels = await page.locator('.district-label').allTextContents();
    assert.deepEqual([...labels].sort(), [...DISTRICTS].sort());
    const first = await page.evaluate(() => window.tgis.firstIdleMs);
    assert.ok(first > 0, 'first idle recorded');
    await shot('01-map');
    // Sector wedges (off at start) appear from zoom 13.
    await page.click('#toggle-sectors');
    await jump(CENTRE, 10);
    assert.equal(await rendered(['sectors-fill']), 0, 'no sector wedges at zoom 10');
    await jump(CENTRE, 14);
    assert.ok(await rendered(['sectors-fill']) > 0, 'sector wedges at zoom 14');
    await shot('01b-sectors-z14');
    await page.click('#toggle-sectors');
  });

  test('1b. fibre: generalised cells for anonymous viewers, exact routes with the admin token', async () => {
    await jump(CENTRE, 12);
    // Anonymous: the tiles hold only the presence cells, drawn as fills.
    assert.equal(await page.evaluate(() => sessionStorage.getItem('tgis.token')), null);
    assert.ok(await fibreSourceFeatures('fibre_presence') > 0, 'fibre_presence features in the tiles');
    assert.equal(await fibreSourceFeatures('fibre_routes'), 0, 'no exact fibre_routes features');
    assert.ok(await rendered(['fibre-presence-fill']) > 0, 'presence cells rendered');
    assert.equal(await rendered(['fibre']), 0, 'no exact fibre lines rendered');
    assert.ok(await page.locator('[data-testid=legend-fibre-presence]').count());
    // A click on a cell (clear of points and lines) says the route is generalised and why.
    const xy = await page.evaluate(() => {
      const m = window.map;
      const { width, height } = m.getCanvas().getBoundingClientRect();
      const near = ['towers', 'datacentres', 'fibre', 'transport-road', 'transport-rail'];
      for (let y = 80; y < height - 80; y += 16) {
        for (let x = 80; x < width - 80; x += 16) {
          if (m.queryRenderedFeatures([x, y], { layers: ['fibre-presence-fill'] }).length
            && !m.queryRenderedFeatures([[x - 8, y - 8], [x + 8, y + 8]], { layers: near }).length) return [x, y];
        }
      }
      return null;
    });
    assert.ok(xy, 'a presence cell clear of other features');
    await clickMap(xy);
    const note = page.locator('[data-testid=generalised-note]');
    await note.waitFor();
    assert.match(await note.textContent(), /khái quát hoá/);
    assert.equal(await page.locator('#details td[data-key=name]').count(), 0, 'no route name for a generalised route');
    assert.ok((await page.locator('#details td[data-key=operator]').textContent()).trim().length > 0);
    await shot('01c-fibre-generalised');
    // The admin token (pasted in the carrier panel) re-reads the fibre tiles: exact lines.
    await useToken(tokens.admin);
    assert.ok(await fibreSourceFeatures('fibre_routes') > 0, 'exact fibre_routes features');
    assert.equal(await fibreSourceFeatures('fibre_presence'), 0, 'no presence cells for an admin');
    assert.ok(await rendered(['fibre']) > 0, 'exact fibre lines rendered');
    assert.equal(await rendered(['fibre-presence-fill']), 0);
    // The token went with fibre-route reads only, never with the other tiles.
    assert.ok(authorised.some((r) => /\/collections\/fibre-routes\/tiles\/WebMercatorQuad\/\d+\//.test(r.url)), 'fibre tiles sent with the token');
    assert.ok(requests.some((u) => u.includes('/collections/towers/tiles/')));
    assert.deepEqual(authorised.filter((r) => !perViewer(r.url)), []);
    await shot('01d-fibre-exact');
    await useToken('');
    assert.ok(await fibreSourceFeatures('fibre_presence') > 0, 'generalised again without the token');
    await page.click('#tab-layers');
  });

  test('1c. GeoJSON fallback (no fibre tiles): generalised routes are drawn as fills', async () => {
    // A second tab whose fibre TileJSON answers 404, as on a service without tiles.
    const other = await browser.context.newPage();
    try {
      const errors = [];
      other.on('pageerror', (e) => errors.push(e.message));
      await other.route('**/collections/fibre-routes/tiles/WebMercatorQuad/tilejson.json', (r) => r.fulfill({ status: 404, contentType: 'application/problem+json', body: '{"status":404}' }));
      await other.goto(`${origin}/`);
      await other.evaluate(() => window.tgis.ready);
      await other.evaluate(([c]) => { window.map.jumpTo({ center: c, zoom: 12 }); }, [CENTRE]);
      await other.evaluate(() => window.tgis.settled());
      const r = await other.evaluate(() => {
        const m = window.map;
        const data = m.getSource('fibre').serialize().data;
        return {
          type: m.getSource('fibre').type,
          features: data.features.length,
          generalised: data.features.filter((f) => f.properties.generalised && f.geometry.type === 'MultiPolygon').length,
          fills: m.queryRenderedFeatures({ layers: ['fibre-presence-fill'] }).length,
          lines: m.queryRenderedFeatures({ layers: ['fibre'] }).length,
        };
      });
      assert.equal(r.type, 'geojson');
      assert.ok(r.features > 0 && r.generalised === r.features, 'every route generalised for an anonymous viewer');
      assert.ok(r.fills > 0, 'generalised routes rendered as fills');
      assert.equal(r.lines, 0, 'no cell outline drawn as a fibre line');
      assert.deepEqual(errors, []);
    } finally {
      await other.close();
    }
  });

  test('1d. a stored token that is no longer valid is dropped and the map loads for the public', async () => {
    const other = await browser.context.newPage();
    try {
      const errors = [];
      other.on('pageerror', (e) => errors.push(e.message));
      await other.addInitScript(() => sessionStorage.setItem('tgis.token', 'tgis_revoked_or_unknown'));
      await other.goto(`${origin}/`);
      await other.evaluate(() => window.tgis.ready);
      await other.evaluate(([c]) => { window.map.jumpTo({ center: c, zoom: 12 }); }, [CENTRE]);
      await other.evaluate(() => window.tgis.settled());
      const r = await other.evaluate(() => ({
        token: sessionStorage.getItem('tgis.token'),
        presence: window.map.querySourceFeatures('fibre', { sourceLayer: 'fibre_presence' }).length,
        exact: window.map.querySourceFeatures('fibre', { sourceLayer: 'fibre_routes' }).length,
      }));
      assert.equal(r.token, null, 'the refused token is forgotten');
      assert.ok(r.presence > 0, 'the public fibre layer loads');
      assert.equal(r.exact, 0);
      assert.deepEqual(errors, []);
    } finally {
      await other.close();
    }
  });

  test('2. a toggle hides its layer and shows it again (mouse and keyboard)', async () => {
    await page.click('#tab-layers');
    assert.ok(await rendered(['towers']) > 0);
    await page.click('label[for=toggle-towers]');
    assert.equal(await page.evaluate(() => window.map.getLayoutProperty('towers', 'visibility')), 'none');
    await settled();
    assert.equal(await rendered(['towers']), 0);
    await page.focus('#toggle-towers');
    await page.keyboard.press('Space');
    assert.equal(await page.evaluate(() => window.map.getLayoutProperty('towers', 'visibility')), 'visible');
    // The districts toggle also hides the HTML labels.
    await page.click('#toggle-districts');
    assert.equal(await page.evaluate(() => window.map.getLayoutProperty('districts-fill', 'visibility')), 'none');
    assert.equal(await page.locator('.district-label').first().isVisible(), false);
    await page.click('#toggle-districts');
    assert.equal(await page.locator('.district-label').first().isVisible(), true);
    // Filters reach the layer: only MobiFone towers remain.
    await page.selectOption('#filter-operator', 'mobifone');
    await settled();
    const ops = await page.evaluate(() => [...new Set(window.map.queryRenderedFeatures({ layers: ['towers'] }).map((f) => f.properties.operator_id))]);
    assert.deepEqual(ops, ['mobifone']);
    await page.selectOption('#filter-operator', '');
    await settled();
  });

  test('3. a click on a tower shows its attributes and its sectors', async () => {
    await jump(CENTRE, 15);
    // A tower with sectors and no other tower within 24 px, away from the edges.
    const target = await page.evaluate(() => {
      const m = window.map;
      const { width, height } = m.getCanvas().getBoundingClientRect();
      const feats = m.queryRenderedFeatures({ layers: ['towers'] }).map((f) => ({ f, p: m.project(f.geometry.coordinates) }));
      const ok = feats.find(({ f, p }) => f.properties.technologies && p.x > 60 && p.y > 60 && p.x < width - 60 && p.y < height - 60
        && feats.every((o) => o === feats.find((x) => x.f === f) || Math.hypot(o.p.x - p.x, o.p.y - p.y) > 24 || (o.f.properties.id ?? o.f.id) === (f.properties.id ?? f.id)));
      return ok && { id: ok.f.properties.id ?? ok.f.id, site: ok.f.properties.site_code, xy: [ok.p.x, ok.p.y] };
    });
    assert.ok(target, 'an isolated tower in view');
    await clickMap(target.xy);
    const table = page.locator('[data-testid=sectors-table]');
    await table.waitFor();
    assert.ok(await page.locator('#tab-details[aria-selected=true]').count());
    assert.match(await page.locator('#details-title').textContent(), new RegExp(target.site));
    assert.equal(await page.locator('#details td[data-key=site_code]').textContent(), target.site);
    for (const key of ['operator', 'structure_type', 'height_m', 'status']) {
      assert.ok((await page.locator(`#details td[data-key=${key}]`).textContent()).trim().length > 0, key);
    }
    const expected = (await api(`/collections/towers/items/${target.id}`)).properties.sectors.length;
    assert.ok(expected > 0);
    assert.equal(await table.locator('tbody tr').count(), expected);
    // The map highlights the tower and draws its sector wedges.
    await settled();
    const wedges = await page.evaluate(() => new Set(window.map.queryRenderedFeatures({ layers: ['selection-fill'] }).map((f) => f.properties.sector_id)).size);
    assert.equal(wedges, expected);
    await settled();
    await shot('03-tower-details');
  });

  test('3b. the terrain layer shades the DEM, and a sector\'s profile draws ground, ray and Fresnel zone', async () => {
    const terrain = await api('/terrain');
    assert.equal(terrain.coverage_model, 'terrain');
    assert.equal(await page.evaluate(() => window.map.getSource('dem').type), 'raster-dem');
    // Sơn Trà: the hillshade's tiles come from the service.
    await jump([108.26, 16.1], 13);
    await settled();
    assert.ok(requests.some((u) => u.includes('/terrain/tiles/')), 'DEM tiles requested');
    // A tower of Hải Châu with a modelled sector, inside the DEM.
    const towers = await api('/collections/towers/items?bbox=108.20,16.04,108.23,16.07&status=operational&limit=50');
    const modelled = (s) => s.range_source === 'model';
    const tower = towers.features.find((f) => f.properties.sectors.some(modelled));
    assert.ok(tower, 'a tower with a modelled sector');
    await jump(tower.geometry.coordinates, 14);
    await page.evaluate((id) => window.tgis.showTower(id, null), tower.id);
    const sector = tower.properties.sectors.find(modelled);
    const btn = page.locator(`[data-testid=profile-btn][data-sector="${tower.id}:${sector.id}"]`);
    await btn.click();
    await page.locator('[data-testid=profile-pick]').waitFor();
    // A point 600 m along the sector's azimuth.
    const [lon, lat] = tower.geometry.coordinates;
    const a = (sector.azimuth_deg * Math.PI) / 180;
    const to = [lon + (600 * Math.sin(a)) / (111320 * Math.cos((lat * Math.PI) / 180)), lat + (600 * Math.cos(a)) / 110574];
    const xy = await page.evaluate((p) => { const q = window.map.project(p); return [q.x, q.y]; }, to);
    await clickMap(xy);
    const chart = page.locator('[data-testid=profile-chart]');
    await chart.waitFor();
    for (const part of ['profile-ground', 'profile-ray', 'profile-fresnel']) {
      assert.equal(await page.locator(`[data-testid=${part}]`).count(), 1, part);
    }
    // The panel says what the API says for the point clicked.
    const at = await page.evaluate((p) => { const q = window.map.unproject(window.map.project(p)); return [q.lng, q.lat]; }, to);
    const doc = await api(`/coverage/profile?sector=${tower.id}:${sector.id}&lon=${at[0].toFixed(6)}&lat=${at[1].toFixed(6)}`);
    assert.equal(doc.terrain, 'dem');
    const badge = await page.locator('[data-testid=profile-covered]').textContent();
    assert.ok(badge.length > 0);
    assert.equal(await page.locator('#details td[data-key=terrain]').textContent(), 'dem');
    await shot('03b-profile');
  });

  test('4. the gap layer, the footprints and the underserved choropleth render', async () => {
    await page.click('#tab-layers');
    await jump(CENTRE, 12);
    await page.click('#toggle-gaps');
    await page.click('#toggle-analysis');
    await settled();
    assert.ok(await rendered(['gaps-fill']) > 0, 'H3 cells rendered');
    assert.ok(await rendered(['analysis-fill']) > 0, 'districts classified');
    assert.ok(requests.some((u) => u.includes('/coverage/gaps?') && u.includes('resolution=8')), 'zoom 12 asks for resolution 8');
    assert.match(await page.locator('#status-gaps').textContent(), /\d/);
    // Finer cells as you zoom in.
    await jump(CENTRE, 14);
    assert.ok(requests.some((u) => u.includes('/coverage/gaps?') && u.includes('resolution=10')), 'zoom 14 asks for resolution 10');
    assert.ok(await rendered(['gaps-fill']) > 0);
    await jump(CENTRE, 12);
    await shot('04-gaps-analysis');
    // A click on a district of the choropleth explains its class.
    await page.click('#toggle-gaps');
    await jump([108.1, 16.05], 10);
    // A point of Hòa Vang, the rural district, with no tower or line within 8 px.
    const hv = await page.evaluate(() => {
      const m = window.map;
      const near = ['towers', 'datacentres', 'fibre', 'transport-road', 'transport-rail'];
      for (let lon = 107.95; lon < 108.1; lon += 0.005) {
        const p = m.project([lon, 16.03]);
        const clear = m.queryRenderedFeatures([[p.x - 8, p.y - 8], [p.x + 8, p.y + 8]], { layers: near }).length === 0
          && m.queryRenderedFeatures(p, { layers: ['fibre-presence-fill'] }).length === 0;
        const district = m.queryRenderedFeatures(p, { layers: ['analysis-fill'] })[0];
        if (clear && district?.properties.name === 'Hòa Vang') return [p.x, p.y];
      }
      return null;
    });
    assert.ok(hv, 'a clear spot in Hòa Vang');
    await clickMap(hv);
    const expl = page.locator('[data-testid=explanation]');
    await expl.waitFor();
    assert.match(await page.locator('#details-title').textContent(), /Hòa Vang/);
    const analysis = await api('/analysis/districts?technology=4G');
    const hoaVang = analysis.features.find((f) => f.properties.name === 'Hòa Vang').properties;
    assert.equal(await expl.locator('li').count(), hoaVang.explanation.length);
    assert.equal(await expl.locator('li.fail').count(), hoaVang.explanation.filter((c) => !c.pass).length);
    assert.equal(await page.locator('[data-testid=analysis-class]').textContent(), { unserved: 'Chưa được phục vụ', underserved: 'Phục vụ chưa đủ', served: 'Được phục vụ' }[hoaVang.class]);
    await shot('04b-district-explanation');
    // English interface; place names keep their diacritics.
    await page.click('#lang');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
    assert.equal(await page.locator('#tab-layers').textContent(), 'Layers');
    assert.ok(await page.locator('#details').getByText('Explanation').count());
    assert.match(await page.locator('#details-title').textContent(), /Hòa Vang/);
    await shot('04c-english');
    await page.click('#lang');
    assert.equal(await page.locator('#tab-layers').textContent(), 'Lớp bản đồ');
    // Coverage footprints of the chosen technology and operator.
    await page.click('#tab-layers');
    await page.click('#toggle-analysis');
    await jump(CENTRE, 13);
    await page.selectOption('#filter-operator', 'viettel');
    await page.click('#toggle-footprints');
    await settled();
    assert.ok(requests.some((u) => u.includes('/coverage/footprints?') && u.includes('operator=viettel') && u.includes('technology=4G')));
    const fpOps = await page.evaluate(() => [...new Set(window.map.queryRenderedFeatures({ layers: ['footprints-fill'] }).map((f) => f.properties.operator))]);
    assert.deepEqual(fpOps, ['viettel']);
    await shot('04d-footprints');
    await page.click('#toggle-footprints');
    await page.selectOption('#filter-operator', '');
    await settled();
  });

  test('5a. without a token, saving a tower asks for one and stores nothing', async () => {
    await jump(CENTRE, 14);
    await useToken('');
    const siteCode = `E2E-401-${process.pid}`;
    await page.click('#draw-tower');
    const box = await page.locator('#map').boundingBox();
    await clickMap([box.width / 2 + 40, box.height / 2 + 40]);
    assert.notEqual(await page.inputValue('#f-lon'), '');
    await fillTower('viettel', siteCode);
    await page.click('#lang'); // English
    await page.click('#asset-form button[type=submit]');
    const err = page.locator('#token-error');
    await err.waitFor();
    assert.equal(await err.textContent(), 'sign in: paste an API token');
    assert.match(await page.locator('#asset-status').textContent(), /401/);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'token', 'focus on the token field');
    assert.equal(await page.getAttribute('#token', 'aria-invalid'), 'true');
    assert.equal((await api(`/collections/towers/items?site_code=${siteCode}`)).numberMatched, 0);
    await shot('05a-token-needed');
    await page.click('#lang'); // back to Vietnamese
    assert.equal(await err.textContent(), 'đăng nhập: dán một mã truy cập API (token)');
  });

  test('5b. a Viettel carrier token may not register a MobiFone tower (403 detail)', async () => {
    await useToken(tokens.viettel);
    assert.equal(await page.locator('#token-error').isVisible(), false, 'the sign-in request is gone');
    const siteCode = `E2E-403-${process.pid}`;
    await fillTower('mobifone', siteCode);
    // What the service says to this token, asked directly (nothing is stored either way).
    const feature = await page.evaluate(() => window.tgis.carrier.feature());
    const direct = await fetch(`${origin}/collections/towers/items`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/geo+json', Accept: 'application/problem+json', Authorization: `Bearer ${tokens.viettel}` },
      body: JSON.stringify(feature),
    });
    assert.equal(direct.status, 403);
    const { detail } = await direct.json();
    assert.ok(detail);
    await page.click('#asset-form button[type=submit]');
    const general = page.locator('#asset-errors');
    await general.locator('li').first().waitFor();
    assert.ok((await general.textContent()).includes(detail), `the problem's detail is shown: ${detail}`);
    assert.match(await page.locator('#asset-status').textContent(), /403/);
    assert.equal(await page.locator('#token-error').isVisible(), false);
    assert.equal((await api(`/collections/towers/items?site_code=${siteCode}`)).numberMatched, 0);
    await shot('05b-forbidden');
  });

  test('5. drawing and saving a tower stores it and shows it on the map', async () => {
    await jump(CENTRE, 14);
    // The Department's token: the tower carries a sector of a tenant (VNPT).
    await useToken(tokens.admin);
    const siteCode = `E2E-${process.pid}`;
    const tilesBefore = await page.evaluate(() => window.map.getSource('towers').tiles?.[0] ?? null);
    await page.click('#tab-carrier');
    await page.click('#draw-tower');
    assert.equal(await page.locator('#draw-tower').getAttribute('aria-pressed'), 'true');
    const box = await page.locator('#map').boundingBox();
    await clickMap([box.width / 2, box.height / 2]);
    const lon = Number(await page.inputValue('#f-lon'));
    const lat = Number(await page.inputValue('#f-lat'));
    assert.ok(Math.abs(lon - CENTRE[0]) < 0.01 && Math.abs(lat - CENTRE[1]) < 0.01, `placed at ${lon},${lat}`);
    await page.selectOption('#f-operator', 'viettel');
    await page.fill('#f-site_code', siteCode);
    await page.fill('#f-name', 'Trạm thử nghiệm Hải Châu');
    await page.selectOption('#f-structure_type', 'camouflaged');
    await page.fill('#f-height_m', '24');
    await page.check('input[name=tenants][value=vnpt]');
    await page.click('#add-sector');
    await page.click('#add-sector');
    await page.selectOption('#f-s1-operator', 'vnpt');
    await page.selectOption('#f-s1-technology', '5G');
    await page.fill('#f-s1-frequency_mhz', '2655');
    await page.click('#asset-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#asset-form').dataset.savedId);
    const id = Number(await page.evaluate(() => document.querySelector('#asset-form').dataset.savedId));
    // Stored: the API has it, with its sectors, where it was drawn.
    const stored = await api(`/collections/towers/items?site_code=${siteCode}`);
    assert.equal(stored.numberMatched, 1);
    const f = stored.features[0];
    assert.equal(f.id, id);
    assert.equal(f.properties.name, 'Trạm thử nghiệm Hải Châu');
    assert.deepEqual(f.properties.tenants, ['vnpt']);
    assert.equal(f.properties.sectors.length, 2);
    assert.deepEqual(f.geometry.coordinates, [lon, lat]);
    // Shown at once: the source was refreshed (new tile URLs when tiled).
    await settled();
    const filter = ['==', ['get', 'site_code'], siteCode];
    assert.ok(await rendered(['towers'], filter) > 0, 'the new tower is rendered');
    if (tilesBefore) assert.notEqual(await page.evaluate(() => window.map.getSource('towers').tiles[0]), tilesBefore);
    await shot('05-tower-saved');
  });

  test('6. an invalid form shows the API\'s errors next to the fields', async () => {
    const before = (await api('/collections/towers/items?limit=1')).numberMatched;
    // The location typed with the keyboard instead of clicked.
    await page.fill('#f-lon', '108.2171');
    await page.fill('#f-lat', '16.0566');
    await page.press('#f-lat', 'Tab');
    assert.equal(await page.evaluate(() => JSON.stringify(window.tgis.carrier.draw.geometry())), '{"type":"Point","coordinates":[108.2171,16.0566]}');
    await settled();
    assert.equal(await rendered(['draft-point']), 1, 'the typed location is drawn');
    await page.fill('#f-site_code', '');
    await page.fill('#f-height_m', '-5');
    await page.fill('#f-s0-azimuth_deg', '400');
    await page.click('#asset-form button[type=submit]');
    const err = (pointer) => page.locator(`[data-pointer="${pointer}"] > .field-error`);
    await err('/properties/height_m').waitFor();
    assert.match(await err('/properties/height_m').textContent(), /-5 is out of range/);
    assert.match(await err('/properties/site_code').textContent(), /required/);
    assert.match(await err('/properties/sectors/0/azimuth_deg').textContent(), /400/);
    assert.equal(await page.getAttribute('#f-height_m', 'aria-invalid'), 'true');
    assert.equal(await page.getAttribute('#f-height_m', 'aria-describedby'), 'f-height_m-err');
    // Focus goes to the first invalid field; nothing was stored.
    assert.ok(['f-site_code', 'f-height_m'].includes(await page.evaluate(() => document.activeElement.id)));
    assert.equal((await api('/collections/towers/items?limit=1')).numberMatched, before);
    await page.locator('[data-pointer="/properties/height_m"]').scrollIntoViewIfNeeded();
    await shot('06-form-errors');
  });

  test('bulk upload: one result per feature', async () => {
    // VNPT's routes: the admin token (pasted in test 5) is still in the field.
    assert.equal(await page.inputValue('#token'), tokens.admin);
    const fc = {
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', geometry: { type: 'LineString', coordinates: [[108.21, 16.05], [108.22, 16.06]] }, properties: { operator: 'vnpt', name: 'Cáp thử E2E', placement: 'underground', fibre_count: 96 } },
        { type: 'Feature', geometry: { type: 'LineString', coordinates: [[108.21, 16.05]] }, properties: { operator: 'vnpt', placement: 'aerial' } },
      ],
    };
    await page.selectOption('#upload-target', 'fibre-routes');
    await page.setInputFiles('#upload-file', { name: 'routes.geojson', mimeType: 'application/geo+json', buffer: Buffer.from(JSON.stringify(fc)) });
    await page.click('#upload-form button[type=submit]');
    await page.waitForFunction(() => /2\D+1|1\D+1/.test(document.querySelector('#upload-status').textContent) && !document.querySelector('#upload-form button[type=submit]').disabled);
    const rows = page.locator('#upload-results tbody tr');
    assert.equal(await rows.count(), 2);
    assert.equal(await rows.nth(0).getAttribute('class'), 'pass');
    assert.equal(await rows.nth(1).getAttribute('class'), 'fail');
    assert.match(await rows.nth(1).textContent(), /\/geometry\/coordinates/);
    assert.match(await rows.nth(1).textContent(), /\/properties\/fibre_count/);
    assert.equal((await api('/collections/fibre-routes/items?operator=vnpt&limit=1000')).features.filter((f) => f.properties.name === 'Cáp thử E2E').length, 1);
    await page.locator('#upload-results').scrollIntoViewIfNeeded();
    await shot('07-bulk-upload');
  });

  test('8. ducts: banks by free capacity, the route finder on the map, and a lease request sent from it', async () => {
    // Two points the duct network joins: the ends of an underground fibre
    // route with a route of at least three banks (the sample lays banks
    // along underground routes).
    const routes = (await api('/collections/fibre-routes/items?limit=1000')).features
      .filter((f) => f.properties.placement === 'underground' && f.geometry.type === 'LineString');
    let ends = null;
    for (const r of routes) {
      const c = r.geometry.coordinates;
      const [a, b] = [c[0], c[c.length - 1]];
      const doc = await api(`/ducts/route?from=${a.join(',')}&to=${b.join(',')}&cable_diameter_mm=12`);
      if (doc.properties?.banks?.length >= 3) {
        ends = [a, b];
        break;
      }
    }
    assert.ok(ends, 'an underground route joined by ducts');
    await useToken('');
    await page.click('#tab-layers');
    await jump(ends[0], 15);
    // Anonymous: active banks carry their class only, never their fill.
    assert.ok(await rendered(['ducts']) > 0, 'duct banks rendered');
    assert.ok(await rendered(['structures']) > 0, 'structures rendered');
    const anon = await page.evaluate(() => window.map.querySourceFeatures('ducts', { sourceLayer: 'duct_banks' }).map((f) => f.properties));
    assert.ok(anon.length > 0);
    assert.ok(anon.every((p) => p.status !== 'active' || ['ample', 'low', 'none'].includes(p.capacity_class)), 'every active bank has a class');
    assert.ok(anon.every((p) => !('max_fill' in p) && !('largest_cable_mm' in p)), 'no fill for the public');
    assert.ok(await page.locator('[data-testid=legend-duct-fill]').count());
    await shot('09a-ducts-public');
    // A click on a bank shows its capacity in the details.
    const bankXY = await page.evaluate(() => {
      const m = window.map;
      const { width, height } = m.getCanvas().getBoundingClientRect();
      const near = ['towers', 'datacentres', 'structures'];
      for (let y = 60; y < height - 60; y += 8) {
        for (let x = 60; x < width - 60; x += 8) {
          if (m.queryRenderedFeatures([[x - 2, y - 2], [x + 2, y + 2]], { layers: ['ducts'] }).length
            && !m.queryRenderedFeatures([[x - 10, y - 10], [x + 10, y + 10]], { layers: near }).length
            && !m.queryRenderedFeatures([[x - 10, y - 10], [x + 10, y + 10]], { layers: ['fibre'] }).length) return [x, y];
        }
      }
      return null;
    });
    if (bankXY) {
      await clickMap(bankXY);
      await page.locator('#details td[data-key=capacity_class]').waitFor();
      assert.match(await page.locator('#details-title').textContent(), /Tuyến cống bể/);
      // Then its ducts, read from the API.
      await page.locator('[data-testid=ducts-table]').waitFor();
      const bankId = (await page.locator('#details td[data-key=id]').textContent()).trim();
      const item = await api(`/collections/duct-banks/items/${bankId}`);
      const positions = await page.locator('[data-testid=ducts-table] tbody tr td:first-child').allTextContents();
      assert.deepEqual(positions, item.properties.ducts.map((d) => d.position));
      await shot('09b-duct-bank-details');
    }

    // The route finder: the start picked on the map, the end typed.
    await page.click('#tab-ducts');
    await page.click('#duct-pick-from');
    assert.equal(await page.getAttribute('#duct-pick-from', 'aria-pressed'), 'true');
    const fromXY = await page.evaluate((c) => { const p = window.map.project(c); return [p.x, p.y]; }, ends[0]);
    await clickMap(fromXY);
    const picked = (await page.inputValue('#duct-from')).split(',').map(Number);
    assert.ok(Math.abs(picked[0] - ends[0][0]) < 1e-4 && Math.abs(picked[1] - ends[0][1]) < 1e-4, `picked ${picked} for ${ends[0]}`);
    assert.equal(await page.getAttribute('#duct-pick-from', 'aria-pressed'), 'false');
    await page.fill('#duct-to', `${ends[1][0]}, ${ends[1][1]}`);
    // A cable no duct takes: the service's 404 names the bank that blocks.
    await page.fill('#duct-cable', '90');
    await page.click('#duct-form button[type=submit]');
    await page.locator('#duct-error:not([hidden])').waitFor();
    assert.match(await page.locator('#duct-error').textContent(), /bank|tuyến|room/i);
    assert.equal(await page.locator('#duct-request').isVisible(), false);
    // A 12 mm cable: the route the API finds for the same ends.
    await page.fill('#duct-cable', '12');
    await page.click('#duct-form button[type=submit]');
    await page.locator('[data-testid=duct-route-summary]').waitFor();
    const expected = await api(`/ducts/route?from=${picked.join(',')}&to=${ends[1].join(',')}&cable_diameter_mm=12`);
    const rows = await page.locator('[data-testid=duct-route-banks] tbody tr td:nth-child(2)').allTextContents();
    assert.deepEqual(rows, expected.properties.banks.map((b) => `#${b.bank_id}`));
    await settled();
    assert.ok(await rendered(['duct-route']) > 0, 'the route is drawn');
    assert.equal(await rendered(['duct-route-ends']), 2, 'both ends drawn');

    // Without a token the request asks for one and stores nothing.
    const before = (await api('/ducts/leases?limit=1')).numberMatched;
    await page.click('#duct-request');
    await page.locator('#duct-error:not([hidden])').waitFor();
    assert.match(await page.locator('#duct-error').textContent(), /token/);
    assert.equal((await api('/ducts/leases?limit=1')).numberMatched, before);
    // Viettel's token: the lease request is stored for the route's banks.
    await useToken(tokens.viettel);
    await page.click('#tab-ducts');
    await page.click('#duct-request');
    await page.locator('#duct-lease-status[data-lease-id], #duct-error:not([hidden])').first().waitFor();
    assert.equal(await page.locator('#duct-error').isVisible(), false, await page.locator('#duct-error').textContent());
    const id = await page.getAttribute('#duct-lease-status', 'data-lease-id');
    assert.match(await page.locator('#duct-lease-status').textContent(), new RegExp(`#${id} .*chờ chủ cống duyệt`));
    const lease = (await api(`/ducts/leases/${id}`)).properties;
    assert.equal(lease.operator, 'viettel');
    assert.equal(lease.state, 'requested');
    assert.equal(lease.cable_diameter_mm, 12);
    assert.deepEqual(lease.segments.map((s) => s.bank_id), expected.properties.banks.map((b) => b.bank_id));
    assert.equal((await api('/ducts/leases?limit=1')).numberMatched, before + 1);
    // Signed in, the duct tiles carry each bank's fill.
    await settled();
    const signedIn = await page.evaluate(() => window.map.querySourceFeatures('ducts', { sourceLayer: 'duct_banks' }).map((f) => f.properties));
    assert.ok(signedIn.some((p) => typeof p.max_fill === 'number'), 'fill for the signed-in');
    await shot('09-ducts-route-lease');
    await useToken('');
    await page.click('#tab-layers');
  });

  test('phone width: the panel and the map share the screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('#tab-layers');
    await page.evaluate(() => { window.map.resize(); });
    await settled();
    const map = await page.locator('#map').boundingBox();
    const panel = await page.locator('#panel').boundingBox();
    assert.ok(map.height > 250 && panel.height > 250, `map ${map.height}px, panel ${panel.height}px`);
    assert.ok(map.y + map.height <= panel.y + 1, 'map above the panel, no overlap');
    assert.ok(panel.width <= 390 && map.width <= 390);
    assert.ok(await rendered(['towers']) > 0);
    await shot('08-phone');
    // The panel folds away for a full-screen map.
    await page.click('#panel-toggle');
    assert.equal(await page.locator('#panel').isVisible(), false);
    await page.click('#panel-toggle');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  test('7. the page made no request outside the service', () => {
    assert.ok(requests.length > 10);
    const outside = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:') && !u.startsWith('blob:'));
    assert.deepEqual(outside, []);
    // The token (rate-limited per token) went with writes and fibre-route reads only.
    const needless = authorised.filter((r) => r.method === 'GET' && !perViewer(r.url));
    assert.deepEqual(needless, []);
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
    assert.deepEqual(consoleErrors, [], 'no console errors');
  });
});
