#!/usr/bin/env node
/**
 * Checks the house rule of ARCHITECTURE.md over src/: no import runs up from one part to a part above it,
 * and no files import each other in a circle. Parts, top to bottom: cli and web (the browser entry; neither
 * imports the other); the library (src/*.ts but the shared files); train; checkpoint; core and data (neither
 * imports the other); shared: errors.ts and settings.ts, which import nothing above them. Type-only imports
 * count: they are arrows a reader follows. And nothing web/ reaches, through any chain of imports, may
 * import a Node built-in (`node:…`): a browser has none.
 * Run: node scripts/check-imports.mjs [SRC_DIR]. Prints each violation and exits 1, or a summary and exits 0.
 * Written by hand (about 80 lines) because madge needs a TypeScript resolver for the .js specifiers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'src'));
const SHARED = new Set(['errors.ts', 'settings.ts']);
const RANK = { cli: 4, web: 4, library: 3, train: 2, checkpoint: 1, core: 0, data: 0, shared: -1 };

function partOf(file) {
  const [top, ...rest] = file.split('/');
  if (rest.length === 0) return SHARED.has(top) ? 'shared' : 'library';
  return top;
}

function sourceFiles(directory) {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.ts$/.test(entry.name) && !/\.(as|d)\.ts$/.test(entry.name) ? [relative(root, path)] : [];
  });
}

/** Every specifier `file` imports from or re-exports. */
function specifiersOf(file) {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'";]*?from\s*'([^']+)'/g)].map((m) => m[1]);
}

/** The files of src/ that `file` imports (relative specifiers, .js naming the .ts source). */
function importsOf(file) {
  return specifiersOf(file)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => relative(root, resolve(root, dirname(file), specifier)).replace(/\.js$/, '.ts'));
}

const files = sourceFiles(root).sort();
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const problems = [];

// What web/ reaches: a breadth-first walk that remembers how it came, to name the chain to a Node import.
const reachedFrom = new Map(files.filter((file) => partOf(file) === 'web').map((file) => [file, null]));
for (const file of reachedFrom.keys()) {
  for (const target of graph.get(file) ?? []) if (!reachedFrom.has(target)) reachedFrom.set(target, file);
  const builtin = specifiersOf(file).find((specifier) => specifier.startsWith('node:'));
  if (!builtin) continue;
  const chain = [file];
  while (reachedFrom.get(chain[0])) chain.unshift(reachedFrom.get(chain[0]));
  problems.push(`browser: ${chain.join(' → ')} imports ${builtin}, which no browser has`);
}

for (const [file, targets] of graph) {
  for (const target of targets) {
    const from = partOf(file);
    const to = partOf(target);
    const sameRankSiblings = from !== to && RANK[from] === RANK[to];
    if (RANK[to] > RANK[from] || sameRankSiblings) problems.push(`upward: ${file} (${from}) imports ${target} (${to})`);
  }
}

// Tarjan's strongly connected components: any with more than one file is a circle.
let index = 0;
const indices = new Map();
const lowlinks = new Map();
const stack = [];
const onStack = new Set();
function connect(file) {
  indices.set(file, index);
  lowlinks.set(file, index++);
  stack.push(file);
  onStack.add(file);
  for (const target of graph.get(file) ?? []) {
    if (!graph.has(target)) continue;
    if (!indices.has(target)) {
      connect(target);
      lowlinks.set(file, Math.min(lowlinks.get(file), lowlinks.get(target)));
    } else if (onStack.has(target)) lowlinks.set(file, Math.min(lowlinks.get(file), indices.get(target)));
  }
  if (lowlinks.get(file) !== indices.get(file)) return;
  const component = [];
  let member;
  do {
    member = stack.pop();
    onStack.delete(member);
    component.push(member);
  } while (member !== file);
  if (component.length > 1) problems.push(`circle: ${component.sort().join(' ↔ ')}`);
}
for (const file of files) if (!indices.has(file)) connect(file);

const arrows = [...graph.values()].reduce((sum, targets) => sum + targets.length, 0);
for (const problem of problems) console.log(problem);
const verdict = problems.length === 0 ? 'no upward arrow, no circle' : `${problems.length} problems`;
console.log(`${files.length} files, ${arrows} imports: ${verdict}`);
process.exitCode = problems.length === 0 ? 0 : 1;
