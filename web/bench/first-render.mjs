// Time from navigation to the map's first `idle` event (everything of the
// first view loaded and drawn), in headless Chromium with software WebGL.
//
//   node bench/first-render.mjs [--runs 10] [--url http://127.0.0.1:8080] [--warm]
//
// Without --url it does what the tests do: builds the front end and the
// service, loads the sample into a fresh database on DATABASE_URL's server
// and serves it on a free port. Each run opens a new page with the HTTP
// cache disabled (cold), unless --warm. Prints each run, then median and p90.

import { parseArgs } from 'node:util';
import {
  buildFrontEnd, buildService, createDatabase, launchBrowser, startService,
} from '../tests/harness.mjs';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    url: { type: 'string' },
    warm: { type: 'boolean', default: false },
  },
});
const runs = Number(opts.runs);

/** The q-quantile (0–1) of sorted numbers, nearest rank. */
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];

let db = null;
let service = null;
let origin = opts.url?.replace(/\/$/, '');
if (!origin) {
  const [, bin] = await Promise.all([buildFrontEnd(), buildService()]);
  db = await createDatabase('tgis_bench');
  service = await startService(bin, db.url);
  origin = service.origin;
}
const browser = await launchBrowser();
try {
  const idle = [];
  const wall = [];
  // One unmeasured run warms the service (and, with --warm, the cache).
  for (let i = -1; i < runs; i++) {
    const page = await browser.context.newPage();
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: !opts.warm });
    const t0 = performance.now();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => window.tgis?.firstIdleMs != null, null, { timeout: 120_000, polling: 50 });
    const ms = await page.evaluate(() => window.tgis.firstIdleMs);
    const w = performance.now() - t0;
    await page.close();
    if (i < 0) continue;
    idle.push(ms);
    wall.push(w);
    console.log(`run ${i + 1}: first idle ${ms.toFixed(0)} ms after navigation start (harness wall clock ${w.toFixed(0)} ms)`);
  }
  const s = [...idle].sort((a, b) => a - b);
  const sw = [...wall].sort((a, b) => a - b);
  const sources = await (async () => {
    const p = await browser.context.newPage();
    await p.goto(`${origin}/`);
    await p.evaluate(() => window.tgis.ready);
    const types = await p.evaluate(() => ['towers', 'sectors', 'fibre'].map((k) => `${k}:${window.map.getSource(k).type}`).join(' '));
    await p.close();
    return types;
  })();
  console.log(`\nfirst render (navigation → first idle), ${runs} runs, ${opts.warm ? 'warm' : 'cold'} cache, ${sources}`);
  console.log(`  median ${quantile(s, 0.5).toFixed(0)} ms   p90 ${quantile(s, 0.9).toFixed(0)} ms   min ${s[0].toFixed(0)} ms   max ${s[s.length - 1].toFixed(0)} ms`);
  console.log(`  harness wall clock: median ${quantile(sw, 0.5).toFixed(0)} ms   p90 ${quantile(sw, 0.9).toFixed(0)} ms`);
} finally {
  await browser.close();
  await service?.stop();
  await db?.drop();
}
