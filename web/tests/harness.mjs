// Test and benchmark harness: builds the front end and the service, creates
// a fresh database on DATABASE_URL's server, runs the service on a free
// loopback port, and launches Debian's headless Chromium (never downloads a
// browser).
//
// Environment:
//   DATABASE_URL      a PostGIS server URL (required); a database
//                     tgis_e2e_<pid> is created there and dropped at the end
//   CARGO_TARGET_DIR  honoured when locating the built binary
//   TGIS_BIN          use this telecom-gis binary instead of `cargo build`
//   CHROMIUM          browser executable (default /usr/bin/chromium)

import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const run = promisify(execFile);

export const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(WEB, '..');
export const ARTIFACTS = join(ROOT, 'artifacts', 'e2e');

/** Run a command, streaming nothing; throws with its output on failure. */
async function sh(cmd, args, opts = {}) {
  try {
    return await run(cmd, args, { maxBuffer: 64 << 20, ...opts });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${e.stdout || ''}${e.stderr || ''}`);
  }
}

/** `npm run build` equivalent: bundle the front end into web/dist. */
export async function buildFrontEnd() {
  await sh(process.execPath, [join(WEB, 'build.mjs')], { cwd: WEB });
}

/** Build the service (debug) and return the binary's path. */
export async function buildService() {
  if (process.env.TGIS_BIN) return process.env.TGIS_BIN;
  await sh('cargo', ['build', '--bin', 'telecom-gis'], { cwd: ROOT });
  const target = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
  return join(target, 'debug', 'telecom-gis');
}

/** Create a fresh database on DATABASE_URL's server; returns { url, drop() }. */
export async function createDatabase(prefix = 'tgis_e2e') {
  const admin = process.env.DATABASE_URL;
  if (!admin) throw new Error('DATABASE_URL must point at a PostGIS server (the tests create their own database there)');
  const name = `${prefix}_${process.pid}`;
  const psql = (sql) => sh('psql', [admin, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql]).catch((e) => {
    if (/ENOENT/.test(e.message)) throw new Error('psql not found: install postgresql-client');
    throw e;
  });
  await psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await psql(`CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** A free TCP port on the loopback interface. */
function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

/** Create an API token with the binary (`token create`): the last line of its stdout. */
export async function createToken(bin, env, role, name, operator = null) {
  const args = ['token', 'create', '--role', role, '--name', name, ...(operator ? ['--operator', operator] : [])];
  const { stdout } = await sh(bin, args, { cwd: ROOT, env });
  const token = stdout.trim().split('\n').pop().trim();
  if (!token || /\s/.test(token)) throw new Error(`token create printed no token:\n${stdout}`);
  return token;
}

/**
 * Migrate and load the sample into `dbUrl`, create the tests' API tokens,
 * then serve web/dist on a free loopback port. Returns { origin, tokens,
 * stop() } once /readyz answers (the coverage index, terrain footprints
 * included, is loaded); `tokens` holds `admin` (the Department)
 * and `viettel` (a carrier token of Viettel).
 */
export async function startService(bin, dbUrl) {
  const env = { ...process.env, DATABASE_URL: dbUrl, RUST_LOG: 'warn', LOG_FORMAT: 'text' };
  await sh(bin, ['migrate'], { cwd: ROOT, env });
  await sh(bin, ['load-sample'], { cwd: ROOT, env });
  const [admin, viettel] = await Promise.all([
    createToken(bin, env, 'admin', 'e2e admin'),
    createToken(bin, env, 'carrier', 'e2e viettel', 'viettel'),
  ]);
  const tokens = { admin, viettel };
  const port = await freePort();
  await mkdir(ARTIFACTS, { recursive: true });
  const log = createWriteStream(join(ARTIFACTS, 'service.log'));
  const proc = spawn(bin, ['serve', '--bind', '127.0.0.1', '--port', String(port), '--web-dir', join(WEB, 'dist')], {
    cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  let exited = null;
  proc.on('exit', (code) => { exited = code; });
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== null) throw new Error(`telecom-gis serve exited with ${exited}; see ${join(ARTIFACTS, 'service.log')}`);
    try {
      if ((await fetch(`${origin}/readyz`)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error('telecom-gis serve was not ready (/readyz) within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    origin,
    tokens,
    async stop() {
      if (exited !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    },
  };
}

/** Chromium flags: software WebGL, no network chatter, no first-run UI. */
const CHROMIUM_ARGS = [
  '--headless=new', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--no-sandbox',
  '--disable-gpu-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
];

/** Launch headless Chromium with a fresh profile; returns { context, page, close() }. */
export async function launchBrowser({ viewport = { width: 1280, height: 800 } } = {}) {
  const profile = await mkdtemp(join(tmpdir(), 'tgis-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
  });
  const page = context.pages()[0] || (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
