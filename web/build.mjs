// Builds the web map into dist/ (served by `telecom-gis serve --web-dir web/dist`):
// app.js + app.css bundled by esbuild, index.html, and the static base-map
// layers copied from the repository's data/ folder. Nothing is fetched from
// the internet at run time.
import { cp, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const web = dirname(fileURLToPath(import.meta.url));
const dist = join(web, 'dist');
const data = join(web, '..', 'data');
const watch = process.argv.includes('--watch');

await rm(dist, { recursive: true, force: true });
await mkdir(join(dist, 'data'), { recursive: true });
await cp(join(web, 'index.html'), join(dist, 'index.html'));
for (const f of ['danang_major_transport_lines.geojson', 'danang_city_boundary.geojson']) {
  await cp(join(data, f), join(dist, 'data', f));
}

const options = {
  entryPoints: { app: join(web, 'src', 'main.js') },
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: !watch,
  sourcemap: true,
  outdir: dist,
  legalComments: 'linked',
  logLevel: 'info',
};
if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
