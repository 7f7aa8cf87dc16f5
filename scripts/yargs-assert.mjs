// node:assert's two checks, as yargs uses them for its own invariants (bundled by scripts/build.mjs): loading
// node:assert itself loads its coloured diffs, which open stderr at every start-up (about 10 ms).
export function strictEqual(actual, expected, message) {
  if (actual !== expected) throw new Error(message ?? `${String(actual)} !== ${String(expected)}`);
}

export function notStrictEqual(actual, expected, message) {
  if (actual === expected) throw new Error(message ?? `${String(actual)} === ${String(expected)}`);
}
