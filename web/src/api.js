// Thin client of the telecom-gis HTTP API (same origin only).

const TOKEN_KEY = 'tgis.token';

/** The carrier's access token for this browser session ('' when none). */
export const getToken = () => sessionStorage.getItem(TOKEN_KEY) || '';

/** Store (or clear) the token; tells listeners with a 'tokenchange' event on window. */
export function setToken(token) {
  const before = getToken();
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  if ((token || '') !== before) window.dispatchEvent(new CustomEvent('tokenchange'));
}

/** Paths whose reads depend on who asks (see readNeedsToken). */
const PER_VIEWER = ['/collections/fibre-routes/', '/collections/duct-banks/tiles/', '/ducts/capacity'];

/**
 * Whether a read of `url` depends on who asks: fibre routes (exact for
 * their operator, analysts and admins; generalised for everyone else) and
 * duct-bank capacity (the fill of each duct for the signed-in; the public
 * gets a free-capacity class). Every other read is public, and the service
 * rate-limits each token, so the token goes only with writes and these
 * reads.
 */
export function readNeedsToken(url) {
  const u = new URL(url, location.href);
  return u.origin === location.origin && PER_VIEWER.some((p) => u.pathname.startsWith(p));
}

/** Headers of an API call: Accept, and the bearer token when one is set and `withToken`. */
export function authHeaders(extra = {}, withToken = true) {
  const h = { Accept: 'application/json, application/geo+json, application/problem+json', ...extra };
  const token = getToken();
  if (token && withToken) h.Authorization = `Bearer ${token}`;
  return h;
}

/** MapLibre transformRequest: the token on same-origin per-viewer tiles only. */
export function transformRequest(url) {
  const token = getToken();
  if (token && readNeedsToken(url)) return { url, headers: { Authorization: `Bearer ${token}` } };
  return { url };
}

/** An answer that was not 2xx; `problem` is the RFC 9457 document when the service sent one. */
export class ApiError extends Error {
  constructor(status, problem, url) {
    super(problem?.detail || `HTTP ${status} for ${url}`);
    this.status = status;
    this.problem = problem;
  }
}

async function readBody(res) {
  const type = res.headers.get('content-type') || '';
  if (res.status === 204) return null;
  if (type.includes('json')) return res.json();
  return res.text();
}

/** GET a JSON document; throws ApiError on a non-2xx answer. */
export async function getJSON(path, { signal } = {}) {
  const res = await fetch(path, { headers: authHeaders({}, readNeedsToken(path)), signal });
  const body = await readBody(res);
  if (!res.ok) throw new ApiError(res.status, typeof body === 'object' ? body : null, path);
  return body;
}

/**
 * POST a GeoJSON Feature to a collection's items.
 * Resolves to { ok, status, body } for every HTTP answer (201 or a problem).
 */
export async function createFeature(collection, feature) {
  const res = await fetch(`/collections/${collection}/items`, {
    method: 'POST',
    headers: authHeaders({ 'Content-Type': 'application/geo+json' }),
    body: JSON.stringify(feature),
  });
  return { ok: res.ok, status: res.status, body: await readBody(res) };
}

/**
 * POST a JSON document (with the token). Resolves to { ok, status, body }
 * for every HTTP answer (2xx or a problem).
 */
export async function postJSON(path, doc) {
  const res = await fetch(path, {
    method: 'POST',
    headers: authHeaders({ 'Content-Type': 'application/json' }),
    body: JSON.stringify(doc),
  });
  return { ok: res.ok, status: res.status, body: await readBody(res) };
}

/** One feature of a collection. */
export const getFeature = (collection, id) => getJSON(`/collections/${collection}/items/${encodeURIComponent(id)}`);

/** Every feature of a collection (one request; the service allows up to 10,000). */
export const getAll = (collection, signal) => getJSON(`/collections/${collection}/items?limit=10000`, { signal });

/** The operators: [{ id, name, mcc, mnc }]. */
export const operators = async () => (await getJSON('/operators')).operators;

/**
 * TileJSON of a collection's vector tiles, or null when the service has no
 * tiles for it (404): the caller then falls back to GeoJSON.
 */
export async function tileJSON(tileset) {
  const url = `/collections/${tileset}/tiles/WebMercatorQuad/tilejson.json`;
  const headers = authHeaders({}, readNeedsToken(url));
  const res = await fetch(url, { headers, cache: 'no-cache' });
  if (res.status === 404) return null;
  if (res.status === 401 && headers.Authorization) {
    // A stored token that is no longer valid (revoked, or another
    // database's): forget it and read as the public, instead of failing.
    // (Several TileJSON reads may be refused at once: each retries.)
    if (headers.Authorization === `Bearer ${getToken()}`) {
      console.warn('telecom-gis: the stored API token was refused; continuing without it');
      sessionStorage.removeItem(TOKEN_KEY);
    }
    return tileJSON(tileset);
  }
  if (!res.ok) throw new ApiError(res.status, null, res.url);
  return res.json();
}
