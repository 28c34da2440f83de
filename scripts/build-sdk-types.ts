/**
 * Generates the SDK's declarations, src/web/sdk/switchboard.d.ts (served at /sdk/switchboard.d.ts
 * and copied beside the bundle by build-sdk.mjs), from the SDK's own sources with
 * dts-bundle-generator: one self-contained file, so the types can never drift from the code.
 *
 * Runs on `npm install` (the `prepare` script); the file is not committed. As a module:
 * `buildSdkTypes()` resolves the text without writing it (the server uses that when the file is
 * missing).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const typesPath = join(root, 'src/web/sdk/switchboard.d.ts');

const BANNER = `// Switchboard client SDK — types of /sdk/switchboard.js.
// Generated from src/client by scripts/build-sdk-types.ts (dts-bundle-generator); do not edit.
`;

export async function buildSdkTypes(): Promise<string> {
  const { generateDtsBundle } = await import('dts-bundle-generator');
  const [text] = generateDtsBundle([{ filePath: join(root, 'src/client/index.ts'), output: { noBanner: true } }], { preferredConfigPath: join(root, 'tsconfig.json') });
  return BANNER + text;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const text = await buildSdkTypes();
  mkdirSync(dirname(typesPath), { recursive: true }); // the folder holds only this generated file, so a fresh clone lacks it
  writeFileSync(typesPath, text);
  console.log(`sdk types: wrote ${typesPath} in ${Date.now() - started} ms`);
}
