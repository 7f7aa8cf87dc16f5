/** A layer's parameters: PyTorch's weight_ih/weight_hh/bias_ih/bias_hh, as views of the model's flat buffer. */
/** One layer's tensors (or their gradients): views of PyTorch's weight_ih/weight_hh/bias_ih/bias_hh. */
export interface LayerParams {
  weightIh: Float32Array;
  weightHh: Float32Array;
  biasIh: Float32Array;
  biasHh: Float32Array;
}

/** Layer `layer`'s views out of a name → view map (the model's tensors or a pass's gradients). */
export function layerParams(views: ReadonlyMap<string, Float32Array>, layer: number): LayerParams {
  return {
    weightIh: views.get(layerTensorName('weightIh', layer))!,
    weightHh: views.get(layerTensorName('weightHh', layer))!,
    biasIh: views.get(layerTensorName('biasIh', layer))!,
    biasHh: views.get(layerTensorName('biasHh', layer))!,
  };
}

const PYTORCH_NAMES: Record<keyof LayerParams, string> = {
  weightIh: 'weight_ih',
  weightHh: 'weight_hh',
  biasIh: 'bias_ih',
  biasHh: 'bias_hh',
};

/** The PyTorch name of layer `layer`'s parameter `key`. */
export function layerTensorName(key: keyof LayerParams, layer: number): string {
  return `${PYTORCH_NAMES[key]}_l${layer}`;
}
