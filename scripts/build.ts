/**
 * `npm run build` (and `prepack`): the package's dist/.
 *
 * 1. `tsc -p tsconfig.build.json`: ESM JavaScript, `.d.ts` and source maps. The sources import
 *    with `.ts` extensions; `rewriteRelativeImportExtensions` makes the emitted JS import `.js`,
 *    and this script rewrites the relative specifiers of the emitted `.d.ts` files the same way
 *    (tsc leaves them as written), so consumers need no `allowImportingTsExtensions`.
 * 2. Copies the demo (src/web/static) to dist/web/static.
 * 3. Writes the browser SDK bundle and its declarations to dist/web/sdk/ (switchboard.js,
 *    switchboard.d.ts), where the compiled server (dist/web/sdk.js) looks first.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSdkTypes } from './build-sdk-types.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

/** Relative `.ts` / `.mts` specifiers in declarations → `.js` / `.mjs`. */
export function rewriteDeclarationSpecifiers(text: string): string {
  return text.replace(/((?:from\s+|import\s*\(\s*|import\s+)['"])(\.{1,2}\/[^'"]*?)\.(m?)ts(['"])/g, '$1$2.$3js$4');
}

function* walk(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  rmSync(dist, { recursive: true, force: true });
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
  let rewritten = 0;
  for (const file of walk(dist)) {
    if (!file.endsWith('.d.ts')) continue;
    const text = readFileSync(file, 'utf8');
    const out = rewriteDeclarationSpecifiers(text);
    if (out !== text) {
      writeFileSync(file, out);
      rewritten++;
    }
  }
  cpSync(join(root, 'src/web/static'), join(dist, 'web/static'), { recursive: true });
  const sdkDir = join(dist, 'web/sdk');
  mkdirSync(sdkDir, { recursive: true });
  const sdkScript = new URL('./build-sdk.mjs', import.meta.url).href; // plain JS without declarations
  const { buildSdk } = (await import(sdkScript)) as { buildSdk(): Promise<{ js: string; warnings: string[] }> };
  const [{ js, warnings }, types] = await Promise.all([buildSdk(), buildSdkTypes()]);
  for (const w of warnings) console.warn(`warning: ${w}`);
  writeFileSync(join(sdkDir, 'switchboard.js'), js);
  writeFileSync(join(sdkDir, 'switchboard.d.ts'), types);
  console.log(`build: dist/ in ${Date.now() - t0} ms (${rewritten} declaration files rewritten, SDK ${(js.length / 1024).toFixed(1)} KiB)`);
}
