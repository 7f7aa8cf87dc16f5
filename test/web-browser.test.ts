/**
 * The page `charrnn export --web` writes, in a real browser (Chromium, see helpers/browser.ts): served
 * from 127.0.0.1, it must write into #output exactly the text `charrnn sample` prints for the same
 * checkpoint, options and seed on the same kernel family (WebAssembly: Node's `--kernel wasm`; plain JS:
 * `kernel=js` and `--kernel js`), for an English model with a prime and a stop, a CJK model and a 3×512
 * one; in a Web Worker too, and in a headless DOM dump. A link it makes reproduces its sample; a bad
 * model file and a bad setting are a clear message on the page. Screenshots go to /tmp for a person to
 * look at. Skipped, with one warning, where there is no Chromium.
 */
import { execFile, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernels } from '../src/core/backend.js';
import { wasmSimdSupported } from '../src/core/wasm/kernels-wasm.js';
import { CHROMIUM, chromiumMissing, launchChromium, serveDirectory, type StaticServer } from './helpers/browser.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const ENGLISH =
  'It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness,\n'.repeat(
    30,
  );
const CJK = '春眠不覺曉，處處聞啼鳥。夜來風雨聲，花落知多少。🌸🐦\n'.repeat(40);
const SMALL = ['--hidden', '16', '--layers', '2', '--seq', '16', '--batch', '4', '--iters', '30'];
/** A 3×512 LSTM, one step trained: its weights are as big as a real one's, which is what the page must load. */
const BIG = ['--hidden', '512', '--layers', '3', '--seq', '8', '--batch', '2', '--iters', '1'];
const execFileAsync = promisify(execFile);
const SCREENSHOTS = { demo: '/tmp/charrnn-web-demo.png', badModel: '/tmp/charrnn-web-bad-model.png' };

const missing = chromiumMissing() ?? (wasmSimdSupported() ? null : 'this Node.js runs no WebAssembly SIMD');
if (missing) console.warn(`warning: the web page is not tested in a browser: ${missing}`);

let dir: string;
let site: string;
let server: StaticServer;
let browser: Browser;

function run(args: string[]): SpawnSyncReturns<string> {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result;
}

/** What `charrnn sample` prints for `flags`, without the delimiter after the sample. */
function cliText(checkpoint: string, flags: string[]): string {
  return run(['sample', '-c', checkpoint, ...flags]).stdout.replace(/\n$/, '');
}

interface PageResult {
  state: string;
  text: string;
  status: string;
  model: string;
  url: string;
}

/** Opens `path` (a page and its query), waits until it is done or failed, and reads it. */
async function openPage(path: string, page?: Page): Promise<PageResult & { page: Page }> {
  const opened = page ?? (await browser.newPage());
  await opened.goto(`${server.origin}${path}`);
  return { page: opened, ...(await settled(opened)) };
}

async function settled(page: Page): Promise<PageResult> {
  await page.waitForSelector('body[data-state=done], body[data-state=error]');
  const read = (id: string) => page.evaluate(`document.getElementById('${id}').textContent`) as Promise<string>;
  return {
    state: (await page.evaluate('document.body.dataset.state')) as string,
    text: await read('output'),
    status: await read('status'),
    model: await read('model'),
    url: page.url(),
  };
}

const query = (settings: Record<string, string>): string => `?${new URLSearchParams({ ...settings, autorun: '1' })}`;

beforeAll(async () => {
  if (missing) return;
  dir = mkdtempSync(join(tmpdir(), 'charrnn-web-'));
  site = join(dir, 'site');
  writeFileSync(join(dir, 'english.txt'), ENGLISH);
  writeFileSync(join(dir, 'poem.txt'), CJK);
  run(['train', 'english.txt', ...SMALL, '-q', '-o', 'english.json']);
  run(['train', 'poem.txt', ...SMALL, '-q', '-o', 'poem.json']);
  run(['train', 'english.txt', ...BIG, '-q', '-o', 'big.json']);
  for (const name of ['english', 'poem', 'big']) run(['export', '--web', '-q', `${name}.json`, join(site, name)]);
  cpSync(join(site, 'english'), join(site, 'bad'), { recursive: true });
  writeFileSync(join(site, 'bad', 'model.bin'), readFileSync(join(site, 'english', 'model.bin')).subarray(0, 1000));
  server = await serveDirectory(site);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(missing)('the exported page, in Chromium', () => {
  it("writes the CLI's text on WebAssembly, the variant Node picks, with a prime and a stop", async () => {
    const settings = { prime: 'it was', temp: '0.9', seed: '7', length: '2000', stop: ', i' };
    const { page, ...result } = await openPage(`/english/${query(settings)}`);
    await page.screenshot({ path: SCREENSHOTS.demo, fullPage: true });
    expect(result.state).toBe('done');
    expect(result.model).toContain(`on ${createKernels('wasm').name};`);
    const expected = cliText('english.json', [
      ...['--kernel', 'wasm', '--prime', 'it was', '--temp', '0.9', '--seed', '7', '--length', '2000'],
      ...['--stop', ', i'],
    ]);
    expect(result.text).toBe(expected);
    expect(result.text).toMatch(/^it was[\s\S]*, i$/);
    expect(result.text.length).toBeLessThan(2000);
    await page.close();
  });

  it("writes the CLI's text on the plain-JS kernels with kernel=js", async () => {
    const settings = { temp: '0.7', 'top-k': '5', seed: '3', length: '400', kernel: 'js' };
    const { page, ...result } = await openPage(`/english/${query(settings)}`);
    expect(result.model).toContain('on js;');
    const flags = ['--kernel', 'js', '--temp', '0.7', '--top-k', '5', '--seed', '3', '--length', '400'];
    expect(result.text).toBe(cliText('english.json', flags));
    await page.close();
  });

  it("writes a CJK model's text, and a 3×512 model's", async () => {
    const poem = await openPage(`/poem/${query({ prime: '春眠', 'top-p': '0.9', seed: '5', length: '500' })}`);
    const poemFlags = ['--prime', '春眠', '--top-p', '0.9', '--seed', '5', '--length', '500'];
    expect(poem.text).toBe(cliText('poem.json', ['--kernel', 'wasm', ...poemFlags]));
    expect(poem.text).toMatch(/^春眠[\p{Script=Han}，。🌸🐦\n]+$/u);
    const big = await openPage(`/big/${query({ seed: '9', length: '300' })}`, poem.page);
    expect(big.model).toContain('lstm 3×512, float32 weights');
    expect(big.text).toBe(cliText('big.json', ['--kernel', 'wasm', '--seed', '9', '--length', '300']));
    await poem.page.close();
  });

  it('puts the settings and the seed it drew into the address, so the link gives the same text again', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.origin}/english/`);
    await page.waitForSelector('body[data-state=ready]');
    await page.fill('textarea[name=prime]', 'it was the');
    await page.fill('input[name=temp]', '0.8');
    await page.fill('input[name=length]', '300');
    await page.click('#generate');
    const first = await settled(page);
    const link = new URL(first.url);
    expect(link.searchParams.get('autorun')).toBe('1');
    const seed = link.searchParams.get('seed')!;
    expect(seed).toMatch(/^\d+$/);
    const again = await openPage(`/english/${link.search}`, page);
    expect(again.text).toBe(first.text);
    const flags = ['--prime', 'it was the', '--temp', '0.8', '--length', '300', '--seed', seed];
    expect(first.text).toBe(cliText('english.json', ['--kernel', 'wasm', ...flags]));
    await page.close();
  });

  it('says what is wrong on the page: a cut-off model file, a misspelled setting, a prime it cannot write', async () => {
    const bad = await openPage(`/bad/${query({ seed: '1' })}`);
    await bad.page.screenshot({ path: SCREENSHOTS.badModel, fullPage: true });
    expect(bad.state).toBe('error');
    expect(bad.status).toBe(
      'model.bin is cut off: it has 1000 bytes, and its contents need ' +
        `${readFileSync(join(site, 'english', 'model.bin')).length}; download or export it again`,
    );
    const misspelled = await openPage(`/english/${query({ tmp: '0.5' })}`, bad.page);
    expect([misspelled.state, misspelled.status]).toEqual(['error', 'tmp is not a setting (did you mean temp?)']);
    const prime = await openPage(`/english/${query({ prime: 'Quiz' })}`, bad.page);
    expect(prime.status).toBe(
      `prime has characters the model never saw: "Q", "u", "z"; the model's characters are listed by its vocab.symbols`,
    );
    await bad.page.close();
  });

  it("samples the CLI's text in a Web Worker", async () => {
    const page = await browser.newPage();
    await page.goto(`${server.origin}/english/`);
    const origin = server.origin;
    const script =
      `import { load } from '${origin}/english/charrnn.js';` +
      `const model = await load('${origin}/english/model.bin');` +
      "postMessage([model.kernel, model.sample({ seed: 21, length: 500, temperature: 0.6, prime: 'it' })]);";
    const [kernel, text] = (await page.evaluate(`new Promise((resolve, reject) => {
      const source = URL.createObjectURL(new Blob([${JSON.stringify(script)}], { type: 'text/javascript' }));
      const worker = new Worker(source, { type: 'module' });
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => reject(new Error(event.message));
    })`)) as [string, string];
    expect(kernel).toBe(createKernels('wasm').name);
    const flags = ['--kernel', 'wasm', '--seed', '21', '--length', '500', '--temp', '0.6', '--prime', 'it'];
    expect(`it${text}`).toBe(cliText('english.json', flags));
    await page.close();
  });

  it("leaves the finished text in a headless browser's DOM dump (virtual time)", async () => {
    const url = `${server.origin}/english/${query({ seed: '4', length: '3000' })}`;
    // Not spawnSync: the server answering Chromium runs in this process.
    const { stdout } = await execFileAsync(
      CHROMIUM,
      ['--headless', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=60000', '--dump-dom', url],
      { encoding: 'utf8', timeout: 60_000, maxBuffer: 16 << 20 },
    );
    expect(stdout).toContain('<body data-state="done">');
    const output = /<pre id="output"[^>]*>([\s\S]*?)<\/pre>/.exec(stdout)![1]!;
    const text = output.replace(/&(lt|gt|quot|amp);/g, (_, name: string) =>
      name === 'lt' ? '<' : name === 'gt' ? '>' : name === 'quot' ? '"' : '&',
    );
    expect(text).toBe(cliText('english.json', ['--kernel', 'wasm', '--seed', '4', '--length', '3000']));
  });

  it('tells whoever opens it as a file to serve its folder', async () => {
    const page = await browser.newPage();
    await page.goto(pathToFileURL(join(site, 'english', 'index.html')).href);
    expect(await page.evaluate("document.getElementById('status').textContent")).toBe(
      'Browsers do not run this page from a file: serve its folder (python3 -m http.server) and open it from there.',
    );
    await page.close();
  });
});
