#!/usr/bin/env node
// Builds the trackd web UI into a self-contained static site.
//
//   npm ci --prefix web          (once, or when package-lock.json changes)
//   node web/build.mjs OUTDIR    (writes OUTDIR/index.html, app.js, app.css)
//
// Everything the page needs (Leaflet and uPlot code and CSS, the images
// Leaflet's CSS refers to) is bundled by esbuild; nothing is fetched at run
// time except the map tiles from the tile URL the server announces.

import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const dev = args.includes('--dev');
const outArg = args.find((a) => !a.startsWith('--'));
if (!outArg) {
  console.error('usage: node web/build.mjs [--dev] OUTDIR');
  process.exit(2);
}
const outdir = path.resolve(process.cwd(), outArg);

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.error(`esbuild is missing: run \`npm ci --prefix ${path.relative(process.cwd(), here) || '.'}\` first`);
  process.exit(1);
}

const generated = ['index.html', 'app.js', 'app.css', 'app.js.map', 'app.css.map'];
await mkdir(outdir, { recursive: true });
await Promise.all(generated.map((f) => rm(path.join(outdir, f), { force: true })));

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: 'src/main.js' },
  bundle: true,
  format: 'iife',
  target: ['es2020', 'chrome90', 'firefox88', 'safari14'],
  minify: !dev,
  sourcemap: dev ? 'linked' : false,
  legalComments: 'eof',
  outdir,
  write: false,
  metafile: true,
  logLevel: 'warning',
  loader: { '.png': 'dataurl', '.svg': 'dataurl', '.gif': 'dataurl' },
});

const hashes = {};
for (const f of result.outputFiles) {
  await writeFile(f.path, f.contents);
  hashes[path.basename(f.path)] = createHash('sha256').update(f.contents).digest('hex').slice(0, 10);
}

// index.html refers to the bundles with a content hash, so a new build is
// never hidden by a browser cache.
const html = (await readFile(path.join(here, 'src/index.html'), 'utf8'))
  .replace('%JS%', `app.js?v=${hashes['app.js']}`)
  .replace('%CSS%', `app.css?v=${hashes['app.css']}`);
await writeFile(path.join(outdir, 'index.html'), html);

const sizes = result.outputFiles.map((f) => `${path.basename(f.path)} ${(f.contents.length / 1024).toFixed(0)} KiB`);
console.log(`web UI built in ${path.relative(process.cwd(), outdir) || '.'}: index.html, ${sizes.join(', ')}`);
