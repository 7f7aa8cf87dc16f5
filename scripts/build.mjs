// Bundles the CLI and the library into dist/ with esbuild (one file each, so bin/charrnn needs nothing else).
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import './build-wasm.mjs';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: false,
  logLevel: 'warning',
  define: { CHARRNN_VERSION: JSON.stringify(version) },
  // Bundled CommonJS packages (cli-progress) call require() for Node built-ins.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
};

await build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js' });
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js' });
