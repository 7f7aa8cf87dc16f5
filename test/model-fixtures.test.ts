/** The model against PyTorch: logits, loss, final states and every gradient (fixtures in test/fixtures/pytorch). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CellType, ModelConfig } from '../src/core/config.js';
import type { Kernels } from '../src/core/kernels.js';
import { CharModel } from '../src/core/model.js';
import { kernelBackends } from './helpers/backends.js';
import { passGradients } from './helpers/pass-gradients.js';

interface FixtureTensor {
  shape: number[];
  data: number[];
}
interface Fixture {
  model: CellType;
  layers: number;
  hidden: number;
  vocab: number;
  batch: number;
  seq: number;
  inputs: number[][];
  targets: number[][];
  h0: FixtureTensor;
  c0?: FixtureTensor;
  params: Record<string, FixtureTensor>;
  expected: {
    logits: FixtureTensor;
    loss: number;
    grads: Record<string, FixtureTensor>;
    dh0: FixtureTensor;
    dc0?: FixtureTensor;
    hT: FixtureTensor;
    cT?: FixtureTensor;
  };
}

const fixtureDir = join(import.meta.dirname, 'fixtures', 'pytorch');
const fixtures = readdirSync(fixtureDir).filter((name) => name.endsWith('.json'));

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = 1e-5 + 1e-4 * Math.abs(expected[i]!);
    if (!(Math.abs(actual[i]! - expected[i]!) <= tolerance)) {
      throw new Error(`${what}[${i}]: got ${actual[i]}, PyTorch ${expected[i]} (tolerance ${tolerance})`);
    }
  }
}

/** [B, T, ...] batch-major rows to the model's time-major [T, B, ...] layout. */
function toTimeMajor(data: ArrayLike<number>, batch: number, seq: number, width: number): Float64Array {
  const out = new Float64Array(batch * seq * width);
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < seq; t++)
      for (let j = 0; j < width; j++) {
        out[(t * batch + b) * width + j] = data[(b * seq + t) * width + j]!;
      }
  return out;
}

function runFixture(fixture: Fixture, kernels: Kernels): void {
  const config: ModelConfig = {
    cell: fixture.model,
    layers: fixture.layers,
    hidden: fixture.hidden,
    vocab: fixture.vocab,
    dropout: 0,
  };
  const { batch, seq: seqLength, hidden, vocab } = fixture;
  const model = new CharModel(config, kernels);
  model.load(Object.fromEntries(Object.entries(fixture.params).map(([name, t]) => [name, Float32Array.from(t.data)])));
  const pass = model.createTrainingPass(batch, seqLength);
  pass.inputs.set(toTimeMajor(fixture.inputs.flat(), batch, seqLength, 1));
  pass.targets.set(toTimeMajor(fixture.targets.flat(), batch, seqLength, 1));
  const stateSize = batch * hidden;
  for (let layer = 0; layer < fixture.layers; layer++) {
    pass.carried[layer]!.h.set(fixture.h0.data.slice(layer * stateSize, (layer + 1) * stateSize));
    pass.carried[layer]!.c?.set(fixture.c0!.data.slice(layer * stateSize, (layer + 1) * stateSize));
  }
  pass.forward();
  expectClose(pass.logits, toTimeMajor(fixture.expected.logits.data, batch, seqLength, vocab), 'logits');
  const loss = pass.loss();
  expect(Math.abs(loss - fixture.expected.loss)).toBeLessThanOrEqual(1e-5 + 1e-4 * Math.abs(fixture.expected.loss));
  const gradients = passGradients(model, pass, false);
  for (const [name, expected] of Object.entries(fixture.expected.grads)) {
    expectClose(gradients.get(name)!, expected.data, `grad ${name}`);
  }
  for (let layer = 0; layer < fixture.layers; layer++) {
    const slice = (t: FixtureTensor) => t.data.slice(layer * stateSize, (layer + 1) * stateSize);
    expectClose(pass.carried[layer]!.h, slice(fixture.expected.hT), `hT layer ${layer}`);
    expectClose(pass.dCarried[layer]!.h, slice(fixture.expected.dh0), `dh0 layer ${layer}`);
    if (fixture.model === 'lstm') {
      expectClose(pass.carried[layer]!.c!, slice(fixture.expected.cT!), `cT layer ${layer}`);
      expectClose(pass.dCarried[layer]!.c!, slice(fixture.expected.dc0!), `dc0 layer ${layer}`);
    }
  }
}

describe.each(kernelBackends())('PyTorch fixtures, $name kernels', ({ create }) => {
  it('finds the fixtures', () => expect(fixtures.length).toBeGreaterThanOrEqual(7));
  it.each(fixtures)('%s', (name) => {
    runFixture(JSON.parse(readFileSync(join(fixtureDir, name), 'utf8')) as Fixture, create());
  });
});
