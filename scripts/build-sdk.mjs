#!/usr/bin/env node
/**
 * Builds the browser bundle of the client SDK (src/client/index.ts) with esbuild's JS API: one ESM
 * file, browser platform, no Node modules (the SDK loads `ws` only through a variable dynamic
 * import, which esbuild leaves alone and browsers never reach).
 *
 * - As a module: `buildSdk()` resolves `{ js }` in memory. The server (src/web/sdk.ts) calls it on
 *   the first request to /sdk/switchboard.js and caches the result, so `npm install && npm start`
 *   needs no build step.
 * - As a script: `node scripts/build-sdk.mjs [outdir]` writes `switchboard.js` and
 *   `switchboard.d.ts` (the hand-written declarations, src/web/sdk/switchboard.d.ts) to `outdir`
 *   (default dist/sdk), for hosting the SDK elsewhere.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** esbuild options of the bundle. */
export const sdkBuildOptions = {
  entryPoints: [join(root, 'src/client/index.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome100', 'firefox100', 'safari15'],
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  // The SDK is browser-safe by construction; this makes a Node built-in creeping in a build error.
  external: [],
  logLevel: 'silent',
  banner: { js: '// Switchboard client SDK (browser ESM bundle). Types: /sdk/switchboard.d.ts' },
};

/**
 * Builds the bundle in memory.
 * @returns {Promise<{ js: string, warnings: string[] }>}
 */
export async function buildSdk() {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({ ...sdkBuildOptions, write: false });
  const out = result.outputFiles?.[0];
  if (!out) throw new Error('esbuild produced no output');
  return { js: out.text, warnings: result.warnings.map((w) => w.text) };
}

/** Path of the hand-written declarations. */
export const sdkTypesPath = join(root, 'src/web/sdk/switchboard.d.ts');

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outdir = resolve(process.argv[2] ?? join(root, 'dist/sdk'));
  const t0 = Date.now();
  const { js, warnings } = await buildSdk();
  mkdirSync(outdir, { recursive: true });
  writeFileSync(join(outdir, 'switchboard.js'), js);
  copyFileSync(sdkTypesPath, join(outdir, 'switchboard.d.ts'));
  for (const w of warnings) console.warn(`warning: ${w}`);
  console.log(`wrote ${join(outdir, 'switchboard.js')} (${(js.length / 1024).toFixed(1)} KiB, ${Date.now() - t0} ms) and switchboard.d.ts`);
}
