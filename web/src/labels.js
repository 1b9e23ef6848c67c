// District name labels as HTML markers: the page has no glyph server, and
// the browser's own fonts render Vietnamese diacritics correctly.

import maplibregl from 'maplibre-gl';

/** Is [x, y] inside the polygon rings (even-odd rule)? */
function inside([x, y], rings) {
  let c = false;
  for (const ring of rings) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i];
      const [xj, yj] = ring[j];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
    }
  }
  return c;
}

/** Squared distance from p to the segment a–b (lon scaled by cos(lat)). */
function segDist2(p, a, b, k) {
  const ax = a[0] * k, ay = a[1], bx = b[0] * k, by = b[1], px = p[0] * k, py = p[1];
  const dx = bx - ax, dy = by - ay;
  const len = dx * dx + dy * dy;
  const u = len ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len)) : 0;
  const ex = ax + u * dx - px, ey = ay + u * dy - py;
  return ex * ex + ey * ey;
}

/**
 * A good label point of a (multi)polygon: on a grid over its largest part,
 * the inside point farthest from the edges (a cheap pole of inaccessibility).
 */
export function labelPoint(geometry) {
  const polys = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
  let best = null;
  let bestArea = -1;
  for (const rings of polys) {
    const ring = rings[0];
    let area = 0;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) area += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
    if (Math.abs(area) > bestArea) {
      bestArea = Math.abs(area);
      best = rings;
    }
  }
  const xs = best[0].map((c) => c[0]);
  const ys = best[0].map((c) => c[1]);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const k = Math.cos((((minY + maxY) / 2) * Math.PI) / 180);
  const N = 24;
  let point = [(minX + maxX) / 2, (minY + maxY) / 2];
  let far = -1;
  for (let i = 0; i <= N; i++) {
    for (let j = 0; j <= N; j++) {
      const p = [minX + ((maxX - minX) * i) / N, minY + ((maxY - minY) * j) / N];
      if (!inside(p, best)) continue;
      let d = Infinity;
      for (const ring of best) for (let s = 1; s < ring.length; s++) d = Math.min(d, segDist2(p, ring[s - 1], ring[s], k));
      if (d > far) {
        far = d;
        point = p;
      }
    }
  }
  return point;
}

/** HTML labels for the districts; returns { setVisible(bool) }. */
export function districtLabels(map, districts) {
  const markers = districts.features.map((f) => {
    const el = document.createElement('div');
    el.className = 'district-label';
    el.textContent = f.properties.name;
    el.setAttribute('aria-hidden', 'true'); // decorative: a click on the district gives its name
    return new maplibregl.Marker({ element: el, anchor: 'center' }).setLngLat(labelPoint(f.geometry)).addTo(map);
  });
  return {
    setVisible(on) {
      for (const m of markers) m.getElement().style.display = on ? '' : 'none';
    },
  };
}
