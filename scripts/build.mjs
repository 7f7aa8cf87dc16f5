// Bundles the CLI, the library and the training worker threads' script into dist/ with esbuild (one file
// each, dependencies included, so the package needs nothing at run time), the browser module and its demo
// page into dist/web/ (what `charrnn export --web` copies), and writes the library's type declarations to
// dist/types/.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import './build-wasm.mjs';
import './build-native.mjs';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: false,
  // Without comments and spaces V8 compiles the bundle at every start in half the time (measured: the
  // CLI's 590 KB took 46 ms, 437 KB 26 ms, on a loaded 2-core machine); names are kept, so stack traces
  // (CHARRNN_DEBUG=1) still read.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  define: { CHARRNN_VERSION: JSON.stringify(version) },
  // Bundled CommonJS packages (cli-progress) call require() for Node built-ins.
  banner: {
    js:
      "import { createRequire as __createRequire } from 'node:module'; " +
      'const require = __createRequire(import.meta.url);',
  },
};

/**
 * yargs in the CLI bundle: two of its imports swapped, and one fallback patched (below). cliui (its help
 * layout) as CommonJS: the ES module entry wraps help by cutting words at the column edge
 * ("--lr-decay-ever / y"), the CommonJS one wraps at spaces (wrap-ansi). node:assert, which yargs imports for two invariant checks, by those two checks
 * (scripts/yargs-assert.mjs): node:assert opens stderr for its coloured diffs at every start-up.
 */
const yargsImports = {
  name: 'yargs-imports',
  setup(pluginBuild) {
    // Its ES module shim falls back to process.cwd() when its own path has no node_modules (as in a
    // bundle), at load time, which throws where the working directory was deleted; '/' serves as well.
    pluginBuild.onLoad({ filter: /yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/ }, ({ path }) => {
      const source = readFileSync(path, 'utf8');
      const patched = source.replace(
        'mainFilename: mainFilename || process.cwd()',
        "mainFilename: mainFilename || '/'",
      );
      if (patched === source) throw new Error(`yargs-imports: ${path} changed; update the patch`);
      return { contents: patched, loader: 'js', resolveDir: dirname(path) };
    });
    pluginBuild.onResolve({ filter: /^cliui$/ }, () => ({ path: createRequire(import.meta.url).resolve('cliui') }));
    pluginBuild.onResolve({ filter: /^assert$/ }, () => ({
      path: fileURLToPath(new URL('yargs-assert.mjs', import.meta.url)),
    }));
  },
};

await build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', plugins: [yargsImports] });
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js' });
// Started by both bundles from beside them (src/train/data-parallel.ts).
await build({ ...common, entryPoints: ['src/train/worker-main.ts'], outfile: 'dist/worker.js' });

/**
 * For browsers and Web Workers: platform 'browser', so that an import of a Node built-in fails the build.
 * Minified whole (names too): the page downloads it. Its first line says what it is, which export checks
 * before it replaces a file of that name.
 */
const browser = {
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: common.define,
};
mkdirSync('dist/web', { recursive: true });
await build({
  ...browser,
  entryPoints: ['src/web/index.ts'],
  outfile: 'dist/web/charrnn.js',
  banner: { js: `// charrnn ${version} for browsers (charrnn/web): load a model exported with charrnn export --web` },
});

/** The demo page imports the module exported beside it: `../index.js` is `./charrnn.js` there. */
const besideThePage = {
  name: 'beside-the-page',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^\.\.\/index\.js$/ }, () => ({ path: './charrnn.js', external: true }));
  },
};
const pageScript = await build({
  ...browser,
  entryPoints: ['src/web/page/demo.ts'],
  write: false,
  plugins: [besideThePage],
});
const script = pageScript.outputFiles[0].text.trim();
if (/<\/script|<!--/i.test(script))
  throw new Error('the demo page script holds </script or <!--; it cannot be inlined');
const template = readFileSync('src/web/page/index.html', 'utf8');
if (!template.includes('/* PAGE SCRIPT */')) throw new Error('src/web/page/index.html lost its /* PAGE SCRIPT */ mark');
writeFileSync(
  'dist/web/index.html',
  template
    .replace('content="charrnn export"', `content="charrnn export ${version}"`)
    .replace('/* PAGE SCRIPT */', () => script),
);

rmSync('dist/types', { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const declarations = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.types.json'], { stdio: 'inherit' });
if (declarations.status !== 0) process.exit(declarations.status ?? 1);
