/** The parameter gradients of one training pass on its own, through the one gradient API training uses. */
import { tensorViews } from '../../src/core/config.js';
import type { CharModel } from '../../src/core/model.js';
import type { TrainingPass } from '../../src/core/passes.js';
import { WeightGradients } from '../../src/core/weight-gradients.js';

/**
 * Backward through time, then every parameter's gradient summed over the pass's rows, by PyTorch name.
 * Call after forward and loss; `withDropout` as the forward ran.
 */
export function passGradients(
  model: CharModel,
  pass: TrainingPass,
  withDropout: boolean,
): ReadonlyMap<string, Float32Array> {
  pass.backwardThroughTime();
  const gradients = model.kernels.alloc(model.layout.size);
  new WeightGradients(model.kernels, model.layout, gradients, [pass], pass.seqLength).compute(withDropout);
  return tensorViews(gradients, model.layout);
}
