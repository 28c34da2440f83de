#!/usr/bin/env node
// The CLI. An installed package runs the compiled JavaScript in dist/ with plain node. A checkout
// (src/ present) runs the TypeScript sources through tsx, a devDependency, so a stale dist/ is never
// run by accident; SWITCHBOARD_COMPILED=1 runs dist/ there too (after `npm run build`).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(compiled) && (!existsSync(source) || process.env.SWITCHBOARD_COMPILED === '1')) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
}
