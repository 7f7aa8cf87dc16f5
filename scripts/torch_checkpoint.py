#!/usr/bin/env python3
"""Move models between charrnn and PyTorch (needs torch; optional for charrnn users).

  torch_checkpoint.py export CHECKPOINT.json OUT.pt
      Writes {"model": {...}, "vocab": [...], "state_dict": {name: tensor}} with PyTorch's names:
      nn.RNN/nn.LSTM/nn.GRU parameters (weight_ih_l0, ...) and an nn.Linear decoder (decoder.*).

  torch_checkpoint.py import MODEL.pt OUT.json [--vocab-from CORPUS | --vocab VOCAB.json]
      Reads a file written by `export`, or a trained model's state_dict (any prefix before the
      recurrent names, e.g. "rnn.weight_ih_l0"; the decoder as decoder.*, out.*, fc.*, linear.* or
      head.*). A bare state_dict carries no vocabulary: give the training corpus (--vocab-from: its
      sorted set of code points, as charrnn and char-rnn build it) or a JSON list (--vocab).

Tensors are copied bit for bit as little-endian float32, so export then import is exact.
"""
import argparse
import base64
import json
import os
import re
import sys
import tempfile

import torch

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
DECODER_PREFIXES = ("decoder", "out", "fc", "linear", "head")


def tensor_to_json(tensor):
    data = tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
    return {"shape": list(tensor.shape), "data": base64.b64encode(data).decode("ascii")}


def tensor_from_json(entry):
    import numpy as np

    values = np.frombuffer(base64.b64decode(entry["data"]), dtype="<f4").copy()
    return torch.from_numpy(values.reshape(entry["shape"]))


def fail(message):
    print("torch_checkpoint: " + message, file=sys.stderr)
    sys.exit(1)


def export(args):
    with open(args.checkpoint, encoding="utf-8") as f:
        checkpoint = json.load(f)
    if checkpoint.get("format") != "charrnn-checkpoint":
        fail(args.checkpoint + " is not a charrnn checkpoint")
    state_dict = {name: tensor_from_json(entry) for name, entry in checkpoint["tensors"].items()}
    torch.save({"model": checkpoint["model"], "vocab": checkpoint["vocab"], "state_dict": state_dict}, args.out)


def find_tensors(state_dict):
    """Maps charrnn names to tensors in a state_dict with arbitrary module prefixes."""
    found = {}
    for key, value in state_dict.items():
        match = re.search(r"(weight_ih_l\d+|weight_hh_l\d+|bias_ih_l\d+|bias_hh_l\d+)$", key)
        if match:
            found[match.group(1)] = value
            continue
        parts = key.split(".")
        if len(parts) >= 2 and parts[-2] in DECODER_PREFIXES and parts[-1] in ("weight", "bias"):
            found["decoder." + parts[-1]] = value
    return found


def import_model(args):
    loaded = torch.load(args.model, map_location="cpu")
    vocab = None
    if isinstance(loaded, dict) and "state_dict" in loaded:
        vocab = loaded.get("vocab")
        loaded = loaded["state_dict"]
    elif isinstance(loaded, torch.nn.Module):
        loaded = loaded.state_dict()
    if args.vocab_from:
        with open(args.vocab_from, encoding="utf-8") as f:
            vocab = sorted(set(f.read()))
    elif args.vocab:
        with open(args.vocab, encoding="utf-8") as f:
            vocab = json.load(f)
    if vocab is None:
        fail(args.model + " has no vocabulary; pass --vocab-from CORPUS or --vocab VOCAB.json")
    tensors = find_tensors(loaded)
    if "weight_ih_l0" not in tensors or "decoder.weight" not in tensors:
        fail(args.model + ": found no recurrent weights (weight_ih_l0) or no decoder"
             " (decoder/out/fc/linear/head .weight)")
    layers = 1 + max(int(re.search(r"\d+$", name).group()) for name in tensors if name.startswith("weight_ih_l"))
    hidden = tensors["weight_hh_l0"].shape[1]
    gates = tensors["weight_ih_l0"].shape[0] // hidden
    cell = {1: "rnn", 3: "gru", 4: "lstm"}.get(gates)
    if cell is None:
        rows = tensors["weight_ih_l0"].shape[0]
        fail("weight_ih_l0 has %d rows for hidden %d: not an RNN, GRU or LSTM" % (rows, hidden))
    if tensors["weight_ih_l0"].shape[1] != len(vocab) or tensors["decoder.weight"].shape[0] != len(vocab):
        fail("the model's input/output size (%d/%d) does not match the vocabulary (%d symbols)" % (
            tensors["weight_ih_l0"].shape[1], tensors["decoder.weight"].shape[0], len(vocab)))
    names = []
    for k in range(layers):
        names += ["weight_ih_l%d" % k, "weight_hh_l%d" % k, "bias_ih_l%d" % k, "bias_hh_l%d" % k]
    names += ["decoder.weight", "decoder.bias"]
    missing = [name for name in names if name not in tensors]
    if missing:
        fail(args.model + ": missing " + ", ".join(missing))
    checkpoint = {
        "format": "charrnn-checkpoint",
        "version": 1,
        "model": {"cell": cell, "layers": layers, "hidden": hidden, "vocab": len(vocab), "dropout": 0},
        "vocab": vocab,
        "tensors": {name: tensor_to_json(tensors[name]) for name in names},
    }
    directory = os.path.dirname(os.path.abspath(args.out))
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp", encoding="utf-8") as f:
        json.dump(checkpoint, f)
        temporary = f.name
    os.replace(temporary, args.out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    exporter = commands.add_parser("export", help="charrnn checkpoint -> PyTorch .pt")
    exporter.add_argument("checkpoint")
    exporter.add_argument("out")
    importer = commands.add_parser("import", help="PyTorch .pt -> charrnn checkpoint")
    importer.add_argument("model")
    importer.add_argument("out")
    vocab = importer.add_mutually_exclusive_group()
    vocab.add_argument("--vocab-from", help="the training corpus (its sorted code points)")
    vocab.add_argument("--vocab", help="a JSON list of symbols, index = id")
    args = parser.parse_args()
    export(args) if args.command == "export" else import_model(args)


if __name__ == "__main__":
    main()
