/**
 * The package as a user gets it: `npm pack`, installed into an empty project with no network, then
 * the CLI run through npx and the library imported by its package name and type-checked against the
 * shipped declarations.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

let project: string;
let packedFiles: string[];

const USER_SCRIPT = `
import { exportWeb, LoadedModel, readCorpus, trainModel } from 'charrnn';
import { load } from 'charrnn/web';
import { readFileSync, writeFileSync } from 'node:fs';

const corpus: { text: string; source: string } = { text: 'the cat sat on the mat. '.repeat(80), source: 'mats.txt' };
writeFileSync('mats.txt', corpus.text);
const events: string[] = [];
let threads = 0;
const controller = new AbortController();
const summary = await trainModel(readCorpus('mats.txt'), { hidden: 16, layers: 1, batch: 4, seqLength: 16, iterations: 1000, evalEvery: 0 }, {
  output: 'checkpoints/mats.json',
  threads: 2,
  signal: controller.signal,
  onEvent: (event) => {
    events.push(event.event);
    if (event.event === 'start') threads = event.threads;
    if (event.event === 'progress' && event.iteration === 30) controller.abort();
  },
});
const model = await LoadedModel.load('checkpoints/mats.json');
const text: string = model.sample({ length: 40, temperature: 0.5, seed: 3 });
let streamed = '';
for await (const { char, probability } of model.stream({ length: 40, temperature: 0.5, seed: 3 })) {
  if (!(probability > 0 && probability <= 1)) throw new Error('bad probability');
  streamed += char;
}
const { loss, bpc } = model.evaluate(corpus.text.slice(0, 200));
// The browser module, from the package's charrnn/web, on what the library exported, samples the library's text.
const exported = await exportWeb('checkpoints/mats.json', 'site');
const web = await load(readFileSync('site/model.bin'), { kernel: 'js' });
const webSame = web.sample({ length: 40, seed: 3 }) === (await LoadedModel.load('checkpoints/mats.json', 'js')).sample({ length: 40, seed: 3 });
const files = exported.files.map((file) => file.name);
console.log(JSON.stringify({ threads, iterations: summary.iterations, stop: summary.reason, text, streamed, loss, bpc, events: [...new Set(events)], webSame, files }));
`;

beforeAll(() => {
  const packDir = mkdtempSync(join(tmpdir(), 'charrnn-pack-'));
  // The build ran before the tests (npm test), so packing skips prepack's second build.
  const [packed] = JSON.parse(
    execFileSync(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], {
      cwd: ROOT,
      encoding: 'utf8',
    }),
  );
  packedFiles = packed.files.map((file: { path: string }) => file.path);
  project = mkdtempSync(join(tmpdir(), 'charrnn-user-'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user', private: true, type: 'module' }));
  execFileSync(
    NPM,
    ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(packDir, packed.filename)],
    { cwd: project, stdio: 'pipe' },
  );
}, 120_000);

describe('the npm package', () => {
  it('holds the bundled CLI, the library, its types, the browser module and page, the native sources and their build, the PyTorch engine, the README and the small corpus only', () => {
    for (const file of [
      'bin/charrnn',
      'dist/cli.js',
      'dist/index.js',
      'dist/worker.js',
      'dist/types/index.d.ts',
      'dist/web/charrnn.js',
      'dist/web/index.html',
      'dist/types/web/index.d.ts',
      'native/kernels.c',
      'native/addon.c',
      'scripts/build-native.mjs',
      'torch-engine/charrnn_torch.py',
      'README.md',
      'corpora/moby-dick-small.txt',
      'package.json',
    ]) {
      expect(packedFiles).toContain(file);
    }
    const unwanted = (file: string) =>
      /^(src|test|bench)\//.test(file) || /^scripts\/(?!build-native\.mjs$)/.test(file);
    expect(packedFiles.filter(unwanted)).toEqual([]);
    expect(packedFiles).not.toContain('corpora/moby-dick.txt');
    // Everything is bundled: installing needs no other package.
    expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies).toBeUndefined();
  });

  it.runIf(existsSync(join(ROOT, 'dist', 'native', 'charrnn-kernels.node')))(
    'its install script keeps the addon it was packed with where that loads, and builds one where there is none',
    () => {
      const installed = join(project, 'node_modules', 'charrnn');
      const install = () => spawnSync(NPM, ['run', 'install'], { cwd: installed, encoding: 'utf8' });
      expect(install().stdout).toMatch(/native kernels: dist\/native\/charrnn-kernels\.node \(up to date\)/);
      const addon = join(installed, 'dist', 'native', 'charrnn-kernels.node');
      rmSync(addon);
      const rebuilt = install();
      expect(rebuilt.status).toBe(0);
      expect(existsSync(addon)).toBe(rebuilt.stdout.includes('native kernels: dist/native/charrnn-kernels.node\n'));
      writeFileSync(join(project, 'dogs.txt'), 'the dog sat on the log. '.repeat(80));
      const trained = spawnSync(
        'npx',
        [
          '--no-install',
          'charrnn',
          'train',
          'dogs.txt',
          '--hidden',
          '8',
          '--iters',
          '1',
          '--json',
          '-q',
          '-o',
          'n.json',
        ],
        { cwd: project, encoding: 'utf8' },
      );
      expect(JSON.parse(trained.stdout.split('\n')[0]!).kernel).toMatch(existsSync(addon) ? /^native-/ : /^wasm-/);
    },
  );

  it('runs with npx from the installed tarball', () => {
    const result = spawnSync('npx', ['--no-install', 'charrnn', '--version'], { cwd: project, encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });

  it('is imported by its package name (and charrnn/web), type-checks against its declarations, trains, aborts, samples, evaluates and exports for the web', () => {
    writeFileSync(join(project, 'user.mts'), USER_SCRIPT);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        files: ['user.mts'],
      }),
    );
    const typecheck = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' });
    expect(typecheck.stdout + typecheck.stderr).toBe('');
    expect(typecheck.status).toBe(0);
    // Node 20 runs the script once its types are stripped: the same file as plain JavaScript.
    const plain = USER_SCRIPT.replace(': { text: string; source: string }', '')
      .replace(': string[]', '')
      .replace('const text: string', 'const text');
    writeFileSync(join(project, 'user.mjs'), plain);
    const result = spawnSync(process.execPath, ['user.mjs'], { cwd: project, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    const output = JSON.parse(result.stdout);
    // The worker threads' script ships beside the library and runs from the installed package.
    expect(output.threads).toBe(2);
    expect(output.iterations).toBe(30);
    expect(output.stop).toBe('interrupted');
    expect(output.text).toHaveLength(40);
    expect(output.streamed).toBe(output.text);
    expect(output.bpc).toBeCloseTo(output.loss / Math.LN2, 10);
    expect(output.events).toEqual(expect.arrayContaining(['start', 'progress', 'checkpoint', 'done']));
    expect(output.webSame).toBe(true);
    expect(output.files).toEqual(['model.bin', 'charrnn.js', 'index.html']);
  });
});
