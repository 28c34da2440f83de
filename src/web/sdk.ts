/**
 * The browser bundle of the SDK, built once per process by scripts/build-sdk.mjs (esbuild) and
 * shared by every node in it.
 *
 * Why the import specifier is a variable: the build script is plain JS outside `src/`, and esbuild
 * is a devDependency. Loading it only here, on the first `/sdk/switchboard.js` request, keeps a node
 * started without devDependencies working (that one route answers 503 with the reason).
 */

interface SdkBuild {
  js: string;
  warnings: string[];
}

let build: Promise<SdkBuild> | undefined;

/** The bundle; built on the first call (≈ 100–200 ms), then cached. A failed build is retried on the next call. */
export function loadSdk(): Promise<SdkBuild> {
  build ??= (async () => {
    const script = new URL('../../scripts/build-sdk.mjs', import.meta.url).href;
    const mod = (await import(script)) as { buildSdk(): Promise<SdkBuild> };
    return mod.buildSdk();
  })();
  build.catch(() => {
    build = undefined;
  });
  return build;
}
