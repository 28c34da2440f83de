/**
 * Builds the SFU's optional native helper (native/: SRTP protect + sendmmsg batch send) with
 * node-gyp against this Node's own headers. Runs from `prepare` (so the repository's own
 * `npm install` builds it, .ci/run included) and as `npm run build:native`.
 *
 * Never fails the install: without a compiler, node-gyp or headers it prints why and exits 0, and
 * the SFU uses its JavaScript path (src/webrtc/sfu/srtp/native.ts loads the binary in a try/catch).
 * `--strict` makes a failed build exit 1 (for checking the build itself).
 *
 * node-gyp: the one npm runs scripts with (`npm_config_node_gyp`), else npm's bundled copy beside
 * this Node, else `node-gyp` on PATH. Headers: `<node prefix>/include/node` when it has
 * node_api.h (Debian and NodeSource packages ship them), else node-gyp's own (a download).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'native');
const strict = process.argv.includes('--strict');
const say = (line) => process.stderr.write(`[build-native] ${line}\n`);

function give(reason) {
  say(`${reason}; the SFU will use its JavaScript SRTP and dgram path`);
  process.exit(strict ? 1 : 0);
}

if (process.env.SWITCHBOARD_SKIP_NATIVE === '1') give('SWITCHBOARD_SKIP_NATIVE=1: not building native/');
if (process.platform !== 'linux') give(`native/ is built on Linux only (this is ${process.platform})`);
if (!existsSync(join(dir, 'binding.gyp'))) give('no native/binding.gyp (not a checkout of the repository)');

const prefix = resolve(dirname(process.execPath), '..');
const candidates = [process.env.npm_config_node_gyp, join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')].filter(Boolean);
const gypJs = candidates.find((p) => existsSync(p));
const headers = [process.config.variables.node_prefix, prefix].map((p) => p && join(p, 'include/node')).find((p) => p && existsSync(join(p, 'node_api.h')));
const args = ['rebuild', '--release'];
if (headers) args.push(`--nodedir=${dirname(dirname(headers))}`);
const [cmd, ...rest] = gypJs ? [process.execPath, gypJs, ...args] : ['node-gyp', ...args];
say(`${cmd} ${rest.join(' ')} (in native/)`);
const r = spawnSync(cmd, rest, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 180_000 });
if (r.error) give(`node-gyp did not run (${r.error.message})`);
if (r.status !== 0) {
  const tail = (r.stderr ?? '').split('\n').filter((l) => !l.startsWith('gyp info')).slice(-12).join('\n');
  process.stderr.write(`${tail}\n`);
  give(`node-gyp exited with ${r.status}`);
}
const binary = join(dir, 'build/Release/sfu_native.node');
if (!existsSync(binary)) give(`node-gyp finished but ${binary} is missing`);
// Load it once here, so a binary that builds but does not load is reported now.
const check = spawnSync(process.execPath, ['-e', `const m = require(${JSON.stringify(binary)}); if (typeof m.protectRtp !== 'function') process.exit(3);`], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (check.status !== 0) give(`native/build/Release/sfu_native.node does not load: ${(check.stderr ?? '').split('\n')[0]}`);
say('built native/build/Release/sfu_native.node');
