/**
 * The browser bundle of the SDK, built once per process by scripts/build-sdk.mjs (esbuild) and
 * shared by every node in it.
 *
 * Why the import specifier is a variable: the build script is plain JS outside `src/`, and esbuild
 * is a devDependency. Loading it only here, on the first `/sdk/switchboard.js` request, keeps a node
 * started without devDependencies working (that one route answers 503 with the reason).
 */

import { readFile } from 'node:fs/promises';

interface SdkBuild {
  js: string;
  warnings: string[];
}

let build: Promise<SdkBuild> | undefined;

/** The bundle: the prebuilt file of a compiled package, or built on the first call (≈ 100–200 ms), then cached. A failed build is retried on the next call. */
export function loadSdk(): Promise<SdkBuild> {
  build ??= (async () => {
    // The compiled package (npm run build) ships the bundle beside this module: dist/web/sdk/.
    try {
      return { js: await readFile(new URL('./sdk/switchboard.js', import.meta.url), 'utf8'), warnings: [] };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const script = new URL('../../scripts/build-sdk.mjs', import.meta.url).href;
    const mod = (await import(script)) as { buildSdk(): Promise<SdkBuild> };
    return mod.buildSdk();
  })();
  build.catch(() => {
    build = undefined;
  });
  return build;
}

const types = new Map<string, Promise<string>>();

/**
 * The bundle's declarations: the file `npm install` generated (scripts/build-sdk-types.ts), or,
 * when it is missing, generated now (≈ 5 s, once per process). A failure is retried next call.
 */
export function loadSdkTypes(file: URL): Promise<string> {
  let p = types.get(file.href);
  if (!p) {
    p = (async () => {
      try {
        return await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        const script = new URL('../../scripts/build-sdk-types.ts', import.meta.url).href;
        const mod = (await import(script)) as { buildSdkTypes(): Promise<string> };
        return mod.buildSdkTypes();
      }
    })();
    types.set(file.href, p);
    p.catch(() => types.delete(file.href));
  }
  return p;
}
