// Compiles the native kernels (native/*.c) into dist/native/charrnn-kernels.node with the C compiler on
// this machine (gcc, or $CC), against the Node-API headers that ship with Node: no node-gyp, no download.
// kernels.c is compiled once per instruction set (AVX-512, AVX2+FMA and SSE2 on x86-64; NEON on arm64),
// and the addon picks one at load. Run by `npm run build` (scripts/build.mjs imports it) or alone.
// Without a compiler, or when compiling fails, it says so in one line and the build goes on: charrnn
// then runs on its WebAssembly kernels.
//
// It builds only when needed: when there is no addon, a source is newer than it, or it does not load on
// this machine (a package installed on another architecture or libc than the one it was packed on).
// `npm install` runs it too (package.json's install script), so an installed package keeps the addon it
// was packed with where that loads, and compiles its own where a compiler is at hand; a failed compile
// leaves whatever addon was there. --force builds anyway.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const sources = join(root, 'native');
const output = join(root, 'dist', 'native', 'charrnn-kernels.node');
const compiler = process.env.CC || 'gcc';

// Deterministic arithmetic: no -ffast-math, and no fused multiply-add the source does not ask for.
const COMMON = ['-std=c11', '-O3', '-fPIC', '-fvisibility=hidden', '-ffp-contract=off', '-fno-math-errno', '-Wall'];
const X64_BUILDS = {
  avx512: ['-DCHARRNN_ISA_AVX512', '-mavx512f', '-mavx512vl', '-mavx512bw', '-mavx512dq', '-mfma'],
  avx2: ['-DCHARRNN_ISA_AVX2', '-mavx2', '-mfma'],
  baseline: ['-DCHARRNN_ISA_BASELINE'],
};

/** Node's own headers: beside the running node (official tarballs), else the system's (Debian's nodejs). */
function nodeHeaders() {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'];
  return candidates.find((dir) => existsSync(join(dir, 'node_api.h'))) ?? null;
}

/** Why the addon must be built, or null when the one there is current and loads. */
function buildNeeded() {
  if (process.argv.includes('--force')) return 'asked';
  if (!existsSync(output)) return 'none built';
  const built = statSync(output).mtimeMs;
  const inputs = [...readdirSync(sources).map((name) => join(sources, name)), fileURLToPath(import.meta.url)];
  if (inputs.some((input) => statSync(input).mtimeMs > built)) return 'sources changed';
  try {
    createRequire(import.meta.url)(output);
    return null;
  } catch {
    return 'the one there does not load';
  }
}

async function buildNative() {
  const headers = nodeHeaders();
  if (!headers) return 'no Node-API headers (node_api.h) found beside node or in /usr/include/node';
  const builds = process.arch === 'x64' ? X64_BUILDS : process.arch === 'arm64' ? { baseline: [] } : null;
  if (!builds) return `no native kernels for ${process.arch}`;
  const objects = mkdtempSync(join(tmpdir(), 'charrnn-native-'));
  try {
    const compile = (source, flags, object) =>
      run(compiler, [...COMMON, ...flags, `-I${headers}`, '-c', join(sources, source), '-o', join(objects, object)]);
    await Promise.all([
      ...Object.entries(builds).map(([isa, flags]) => compile('kernels.c', flags, `kernels-${isa}.o`)),
      compile('addon.c', [], 'addon.o'),
    ]);
    mkdirSync(dirname(output), { recursive: true });
    const linked = [...Object.keys(builds).map((isa) => `kernels-${isa}.o`), 'addon.o'].map((o) => join(objects, o));
    // Linked beside it and renamed into place: a reader never sees half an addon, a failure leaves the old one.
    const linking = `${output}.${process.pid}`;
    await run(compiler, ['-shared', '-o', linking, ...linked]);
    renameSync(linking, output);
    return null;
  } catch (error) {
    if (error.code === 'ENOENT') return `no C compiler (${compiler}) found`;
    return `${compiler} failed: ${(error.stderr || error.message).trim().split('\n').slice(0, 20).join('\n')}`;
  } finally {
    rmSync(objects, { recursive: true, force: true });
    rmSync(`${output}.${process.pid}`, { force: true });
  }
}

const need = buildNeeded();
const failure = need === null ? null : await buildNative();
if (failure) {
  const fallback = existsSync(output) ? 'the addon already there stays' : 'charrnn will run on its WebAssembly kernels';
  console.log(`native kernels not built (${failure}); ${fallback}`);
} else console.log(`native kernels: ${output.slice(root.length)}${need === null ? ' (up to date)' : ''}`);
