#!/usr/bin/env node
// Sampling speed in a real browser: an LSTM 2x128 (the default model) trained a few steps on
// corpora/moby-dick-small.txt, exported with `charrnn export --web`, served on 127.0.0.1 and sampled in
// headless Chromium (test/helpers/browser.ts: Debian's chromium, or CHROMIUM_PATH). Every time is the
// driver's real clock (Node's, around the browser's work), never the page's own or a virtual one. After
// load, best of --runs: model.sample() called in the page (the library, synchronous), and the demo page's
// Generate button to the finished text (streamed into the page, yielding to it every 1024 characters).
// Needs the build (`npm run build`); prints one JSON line per measurement.
//
//   npm run build && node bench/web.mjs [--chars 200000] [--runs 3] [--js-chars 20000]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({
  options: {
    chars: { type: 'string', default: '200000' },
    runs: { type: 'string', default: '3' },
    'js-chars': { type: 'string', default: '20000' },
  },
});
const runs = Number(flags.runs);

/** The browser helper the tests use, bundled from TypeScript for this script (playwright-core stays outside). */
async function browserHelper() {
  const entry = join(root, 'dist', `.web-bench-${process.pid}.mjs`);
  try {
    await build({
      entryPoints: [join(root, 'test', 'helpers', 'browser.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      outfile: entry,
      logLevel: 'warning',
    });
    return await import(pathToFileURL(entry).href);
  } finally {
    rmSync(entry, { force: true });
  }
}

function charrnn(args, cwd) {
  const result = spawnSync(process.execPath, [join(root, 'bin', 'charrnn'), ...args], { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`charrnn ${args.join(' ')}: ${result.stderr}`);
}

const { chromiumMissing, launchChromium, serveDirectory } = await browserHelper();
const missing = chromiumMissing();
if (missing) {
  console.error(`bench/web.mjs: ${missing}`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'charrnn-web-bench-'));
const corpus = join(root, 'corpora', 'moby-dick-small.txt');
charrnn(['train', corpus, '--hidden', '128', '--layers', '2', '--iters', '20', '-q', '-o', 'model.json'], dir);
charrnn(['export', '--web', '-q', 'model.json', 'site'], dir);
charrnn(['export', '--web', '-q', '--half', 'model.json', 'half'], dir);
const sizes = {
  float32: statSync(join(dir, 'site', 'model.bin')).size,
  float16: statSync(join(dir, 'half', 'model.bin')).size,
};
console.log(JSON.stringify({ model: 'lstm 2x128', modelBytes: sizes }));

const server = await serveDirectory(dir);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  for (const kernel of ['auto', 'js']) {
    const chars = Number(kernel === 'js' ? flags['js-chars'] : flags.chars);
    const loadStart = performance.now();
    await page.goto(`${server.origin}/site/?kernel=${kernel}&length=${chars}&temp=0.8`);
    await page.waitForSelector('body[data-state=ready]');
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const name = await page.evaluate(`import('./charrnn.js').then(async ({ load }) => {
      globalThis.model = await load('model.bin', { kernel: '${kernel}' });
      model.sample({ length: 2000, seed: 1 });
      return model.kernel;
    })`);
    const best = async (measure) => {
      let fastest = Infinity;
      for (let run = 0; run < runs; run++) fastest = Math.min(fastest, await measure(run));
      return Math.round(chars / fastest);
    };
    const sample = await best(async (run) => {
      const started = performance.now();
      await page.evaluate(`model.sample({ length: ${chars}, seed: ${run + 1}, temperature: 0.8 }).length`);
      return (performance.now() - started) / 1000;
    });
    const demo = await best(async () => {
      const started = performance.now();
      await page.click('#generate');
      await page.waitForSelector('body[data-state=done]');
      return (performance.now() - started) / 1000;
    });
    console.log(
      JSON.stringify({
        kernel: name,
        chars,
        loadSeconds: Number(loadSeconds.toFixed(2)),
        sampleCharsPerSecond: sample,
        demoCharsPerSecond: demo,
      }),
    );
  }
} finally {
  await browser.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
