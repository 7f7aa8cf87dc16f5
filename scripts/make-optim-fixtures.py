#!/usr/bin/python3
"""PyTorch reference for charrnn's optimizers and clipping: test/fixtures/optim.json.

For each optimizer: two float32 parameter tensors, six steps of given gradients, with
clip_grad_norm_ applied before the step in one case; records parameters after every step.
usage: make-optim-fixtures.py OUT.json   (needs python3-torch)
"""
import json, sys

import torch

torch.manual_seed(0)
CASES = [
    ("sgd", {"lr": 0.05}, None),
    ("sgd", {"lr": 0.05, "momentum": 0.9}, None),
    ("adagrad", {"lr": 0.1}, None),
    ("rmsprop", {"lr": 1e-2}, None),
    ("adam", {"lr": 2e-3}, None),
    ("adam", {"lr": 2e-3}, 1.0),
]
OPT = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam}

cases = []
for kind, kwargs, clip in CASES:
    params = [torch.randn(shape, dtype=torch.float32, requires_grad=True) for shape in [(7,), (3, 4)]]
    initial = [p.detach().reshape(-1).tolist() for p in params]
    opt = OPT[kind](params, **kwargs)
    steps = []
    for _ in range(6):
        grads = [torch.randn(p.shape, dtype=torch.float32) * 0.7 for p in params]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        norm = None
        if clip is not None:
            norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        opt.step()
        steps.append({
            "grads": [g.reshape(-1).tolist() for g in grads],
            "norm": norm,
            "params": [p.detach().reshape(-1).tolist() for p in params],
        })
    cases.append({"kind": kind, "options": kwargs, "clip": clip, "initial": initial, "steps": steps})

with open(sys.argv[1], "w") as f:
    json.dump({"about": "torch %s optimizer reference, float32" % torch.__version__, "cases": cases}, f)
