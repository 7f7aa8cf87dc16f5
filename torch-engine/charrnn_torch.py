#!/usr/bin/env python3
"""charrnn's PyTorch engine: a step server, one process per rank.

Node keeps the training loop, data, schedule, events and checkpoints; this process holds the model and its
optimizer on a device and, per command read from stdin, trains one iteration, validates, agrees on a stop
with the other ranks, or hands its state back. Run as `python charrnn_torch.py` (no arguments). The protocol
is in README.md beside this file: every message is a 4-byte little-endian length, a UTF-8 JSON header, then
the raw little-endian buffers the header lists. Needs only torch (1.13 or 2.x).
"""

import datetime
import json
import math
import os
import re
import signal
import struct
import sys
import warnings

DTYPES = {"f32": "float32", "i32": "int32"}
# The optimizer state buffers charrnn keeps, one flat buffer each (src/core/optim.ts BUFFER_NAMES).
BUFFER_NAMES = {
    "sgd": ["momentum_buffer"],
    "adagrad": ["sum"],
    "rmsprop": ["square_avg"],
    "adam": ["exp_avg", "exp_avg_sq"],
}
STOP_CODES = (0, 1, 2, 3)


class ProtocolError(Exception):
    """A command this server cannot carry out; its message is the one line Node shows."""


def tensor_specs(cell, layers, hidden, vocab):
    """The model's tensors as (name, shape), in state_dict order: charrnn's layout (src/core/config.ts)."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell] * hidden
    specs = []
    for layer in range(layers):
        inputs = vocab if layer == 0 else hidden
        specs += [
            (f"rnn.weight_ih_l{layer}", (gates, inputs)),
            (f"rnn.weight_hh_l{layer}", (gates, hidden)),
            (f"rnn.bias_ih_l{layer}", (gates,)),
            (f"rnn.bias_hh_l{layer}", (gates,)),
        ]
    return specs + [("decoder.weight", (vocab, hidden)), ("decoder.bias", (vocab,))]


class Channel:
    """Length-prefixed JSON headers with raw buffers after them, over a pair of binary streams."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    def read(self):
        """The next message as (header, {name: bytes}), or None at end of input (Node closed our stdin)."""
        prefix = self._read_exactly(4)
        if prefix is None:
            return None
        header = json.loads(self._read_exactly(struct.unpack("<I", prefix)[0], required=True))
        buffers = {}
        for spec in header.get("buffers", []):
            if spec["dtype"] not in DTYPES:
                raise ProtocolError(f"buffer {spec['name']} has unknown dtype {spec['dtype']}")
            buffers[spec["name"]] = (spec["dtype"], self._read_exactly(4 * int(spec["count"]), required=True))
        return header, buffers

    def write(self, header, buffers=()):
        """Sends one reply: `buffers` are (name, dtype, bytes) in the order they follow the header."""
        header = dict(header, buffers=[{"name": n, "dtype": d, "count": len(b) // 4} for n, d, b in buffers])
        if not buffers:
            del header["buffers"]
        encoded = json.dumps(header, allow_nan=False).encode("utf-8")
        self.writer.write(struct.pack("<I", len(encoded)) + encoded)
        for _, _, data in buffers:
            self.writer.write(data)
        self.writer.flush()

    def _read_exactly(self, size, required=False):
        """Reads size bytes; a clean EOF before the first is None, a short read inside a message an error."""
        chunks, left = [], size
        while left > 0:
            chunk = self.reader.read(left)
            if not chunk:
                if left == size and not required:
                    return None
                raise ProtocolError("stdin closed in the middle of a message")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


def import_torch(threads):
    """Imports torch at init: a missing torch is then one clear line, and the BLAS and OpenMP pools it starts
    are sized from `threads` (torch.set_num_threads does not reach OpenBLAS's own pool; the user's
    environment, where it sets them, wins)."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))
    try:
        import torch  # noqa: PLC0415
    except ImportError as error:
        raise ProtocolError(f"{sys.executable} cannot import torch ({plain_text(error)})") from error
    return torch


def define_model(torch):
    """The char-RNN module: one-hot input, nn.RNN/LSTM/GRU (time-major), linear decoder to logits."""
    nn = torch.nn
    functional = torch.nn.functional

    class CharRNN(nn.Module):
        """The model; its state_dict names are charrnn's (`rnn.weight_ih_l0`, `decoder.weight`…)."""

        def __init__(self, cell, layers, hidden, vocab, dropout):
            super().__init__()
            kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
            extra = {"nonlinearity": "tanh"} if cell == "rnn" else {}
            self.vocab = vocab
            self.rnn = kind(vocab, hidden, layers, dropout=dropout, batch_first=False, **extra)
            self.decoder = nn.Linear(hidden, vocab)

        def forward(self, ids, state):
            """Logits [T, B, V] for time-major ids [T, B] from state; returns the state after the last step."""
            outputs, state = self.rnn(functional.one_hot(ids, self.vocab).float(), state)
            return self.decoder(outputs), state

    return CharRNN


def pick_device(torch, asked, local_rank):
    """The torch.device for `asked` (auto: cuda where available, else cpu); a missing one is an error."""
    if asked not in ("auto", "cpu", "cuda", "mps"):
        raise ProtocolError(f'unknown device "{asked}" (expected auto, cpu, cuda or mps)')
    if asked == "auto":
        asked = "cuda" if torch.cuda.is_available() else "cpu"
    if asked == "cuda":
        if not torch.cuda.is_available():
            raise ProtocolError(f"--device cuda: torch {torch.__version__} sees no CUDA device here")
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise ProtocolError(f"--device cuda: local rank {local_rank} needs {local_rank + 1} GPUs, found {count}")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    if asked == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ProtocolError(f"--device mps: torch {torch.__version__} has no MPS device here")
    return torch.device(asked)


class Layout:
    """Where each tensor lies in a flat buffer: packed end to end, or at charrnn's 16-float alignment."""

    ALIGN = 16

    def __init__(self, specs, aligned):
        self.specs = specs
        self.aligned = aligned
        self.offsets = []
        offset = 0
        for _, shape in specs:
            self.offsets.append(offset)
            size = math.prod(shape)
            offset += -(-size // self.ALIGN) * self.ALIGN if aligned else size
        self.size = offset

    @classmethod
    def matching(cls, specs, count):
        """The layout a flat buffer of `count` floats was written in (Node may send either)."""
        for aligned in (False, True):
            layout = cls(specs, aligned)
            if layout.size == count:
                return layout
        sizes = f"{cls(specs, False).size} packed or {cls(specs, True).size} aligned"
        raise ProtocolError(f"parameters have {count} floats; the model needs {sizes}")

    def split(self, flat):
        """Views of each tensor, shaped, in a flat tensor laid out this way."""
        return [flat[o:o + math.prod(s)].view(s) for o, (_, s) in zip(self.offsets, self.specs)]

    def join(self, torch, tensors):
        """One flat float32 CPU tensor (zero gaps) of per-tensor values, in this layout."""
        flat = torch.zeros(self.size, dtype=torch.float32)
        for offset, tensor in zip(self.offsets, tensors):
            flat[offset:offset + tensor.numel()] = tensor.detach().reshape(-1).float().cpu()
        return flat


def to_tensor(torch, buffer, device):
    """A received (dtype, bytes) buffer as a tensor on `device` (float32, or int64 for ids)."""
    dtype, data = buffer
    if not data:
        tensor = torch.zeros(0, dtype=torch.float32 if dtype == "f32" else torch.int32)
    else:
        tensor = torch.frombuffer(bytearray(data), dtype=getattr(torch, DTYPES[dtype]))
    return tensor.to(device=device, dtype=torch.float32 if dtype == "f32" else torch.int64)


def to_bytes(tensor):
    """Raw little-endian bytes of a float32 CPU tensor (numpy where present, else through a Python array)."""
    tensor = tensor.detach().to("cpu").contiguous()
    try:
        return tensor.numpy().tobytes()
    except (ImportError, RuntimeError):
        import array  # noqa: PLC0415

        return array.array("f", tensor.tolist()).tobytes()


def make_optimizer(torch, kind, momentum, parameters):
    """charrnn's optimizers with its constants, as torch has them (the lr is set before each step)."""
    optim = torch.optim
    if kind == "sgd":
        return optim.SGD(parameters, lr=0.0, momentum=momentum, dampening=0.0)
    if kind == "adagrad":
        return optim.Adagrad(parameters, lr=0.0, eps=1e-10)
    if kind == "rmsprop":
        return optim.RMSprop(parameters, lr=0.0, alpha=0.99, eps=1e-8)
    if kind == "adam":
        return optim.Adam(parameters, lr=0.0, betas=(0.9, 0.999), eps=1e-8)
    raise ProtocolError(f'unknown optimizer "{kind}" (expected sgd, adagrad, rmsprop or adam)')


class Engine:
    """One rank's model, optimizer, carried state and validation ids, and the commands it answers."""

    def __init__(self, torch, header, buffers):
        self.torch = torch
        model, world = header["model"], header.get("world")
        self.cell, self.layers, self.hidden = model["cell"], int(model["layers"]), int(model["hidden"])
        self.vocab, self.dropout = int(model["vocab"]), float(model.get("dropout") or 0)
        self.batch, self.seq_length = int(header["batch"]), int(header["seqLength"])
        self.stream_length = int(header["streamLength"])
        self.start, self.end = (int(s) for s in header["streams"])
        self.clip, self.clip_value = float(header.get("clip") or 0), float(header.get("clipValue") or 0)
        self.rank, self.world_size = (int(world["rank"]), int(world["worldSize"])) if world else (0, 1)
        torch.set_num_threads(max(1, int(header.get("threads") or 1)))
        self.device = pick_device(torch, header.get("device", "auto"), int(world["localRank"]) if world else 0)
        if world and self.device.type == "mps":
            raise ProtocolError("--device mps runs one process: DistributedDataParallel needs cpu or cuda")
        # Sums and collectives in double precision, except on MPS, which has none.
        self.wide = torch.float32 if self.device.type == "mps" else torch.float64
        specs = tensor_specs(self.cell, self.layers, self.hidden, self.vocab)
        self.layout = Layout.matching(specs, len(buffers["parameters"][1]) // 4)
        self.model = self._load_model(buffers["parameters"])
        self.net = self._join_world(world) if world else self.model
        self.params = list(self.model.parameters())
        self._load_optimizer(header["optimizer"], buffers)
        self.carried = self._load_carried(buffers)
        self.validation = to_tensor(torch, buffers.get("validation", ("i32", b"")), self.device)
        self.validation_streams = None
        # Our streams of the training text, on the device in the narrowest type its ids fit ("corpus" fills it).
        id_type = torch.uint8 if self.vocab <= 256 else torch.int16 if self.vocab <= 32768 else torch.int32
        self.train_ids = torch.empty((self.end - self.start) * self.stream_length + 1, dtype=id_type,
                                     device=self.device)
        self.train_ids_received = 0
        # Steps whose loss and norm are on their way to the host, oldest first.
        self.pending = []

    # Set-up.

    def _load_model(self, parameters):
        """The module on our device, its weights those Node sent (so a seed starts both engines alike)."""
        torch = self.torch
        if self.start == self.end:
            raise ProtocolError(f"no streams for this rank: batch {self.batch} < {self.world_size} processes")
        if not 0 <= self.start < self.end <= self.batch:
            raise ProtocolError(f"streams [{self.start}, {self.end}) do not fit a batch of {self.batch}")
        module = define_model(torch)(self.cell, self.layers, self.hidden, self.vocab, self.dropout)
        named = dict(module.named_parameters())
        flat = to_tensor(torch, parameters, "cpu")
        with torch.no_grad():
            for (name, _), values in zip(self.layout.specs, self.layout.split(flat)):
                named[name].copy_(values)
        return module.to(self.device)

    def _join_world(self, world):
        """Joins the process group (gloo on CPU, nccl on CUDA) and wraps the module in DDP."""
        torch = self.torch
        dist = torch.distributed
        backend = "nccl" if self.device.type == "cuda" else "gloo"
        address, port, seconds = str(world["masterAddr"]), int(world["masterPort"]), world.get("timeoutSeconds") or 300
        host = f"[{address}]" if ":" in address else address
        try:
            dist.init_process_group(backend, init_method=f"tcp://{host}:{port}", rank=self.rank,
                                    world_size=self.world_size, timeout=datetime.timedelta(seconds=float(seconds)))
        except Exception as error:  # noqa: BLE001 - said as the one line, with where we waited
            reason = plain_text(error)
            raise ProtocolError(f"could not join the {self.world_size} ranks at {host}:{port} "
                                f"within {seconds} s ({reason})") from error
        # agree's collective runs on the host (gloo), so deciding to stop never waits for a GPU.
        self.control_group = dist.new_group(backend="gloo") if backend == "nccl" else None
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)

    def _load_optimizer(self, options, buffers):
        """torch's optimizer with charrnn's state: step count and flat buffers mapped per parameter."""
        torch = self.torch
        self.kind, self.momentum = options["kind"], float(options.get("momentum") or 0)
        self.optimizer = make_optimizer(torch, self.kind, self.momentum, self.params)
        self.step_count = int(options.get("step") or 0)
        if self.step_count == 0:
            return
        for name in BUFFER_NAMES[self.kind]:
            if name == "momentum_buffer" and self.momentum == 0:
                continue  # torch keeps no buffer without momentum
            if name not in buffers:
                raise ProtocolError(f"init: optimizer step {self.step_count} but no {name} buffer")
            flat = to_tensor(torch, buffers[name], "cpu")
            if flat.numel() != self.layout.size:
                raise ProtocolError(f"init: {name} has {flat.numel()} floats, the parameters {self.layout.size}")
            for param, values in zip(self.params, self.layout.split(flat)):
                self.optimizer.state[param][name] = values.clone().to(self.device)
        if self.kind != "sgd":
            for param in self.params:
                self.optimizer.state[param]["step"] = torch.tensor(float(self.step_count))

    def _load_carried(self, buffers):
        """This rank's rows of the carried state ([layers, B_r, H]; a pair for lstm), zero where none came."""
        names = ["h", "c"] if self.cell == "lstm" else ["h"]
        states = [self._carried_rows(buffers, name) for name in names]
        return tuple(states) if self.cell == "lstm" else states[0]

    def _carried_rows(self, buffers, name):
        """One of h or c for our streams: each layer's [B, H] rows start..end, stacked."""
        torch = self.torch
        rows = []
        for layer in range(self.layers):
            key = f"carried_{name}_l{layer}"
            if key in buffers:
                full = to_tensor(torch, buffers[key], self.device)
                if full.numel() != self.batch * self.hidden:
                    raise ProtocolError(f"init: {key} has {full.numel()} floats, not batch × hidden")
                rows.append(full.view(self.batch, self.hidden)[self.start:self.end])
            else:
                rows.append(torch.zeros(self.end - self.start, self.hidden, device=self.device))
        return torch.stack(rows).contiguous()

    # Commands.

    def corpus(self, header, buffers):
        """A piece of our streams' training ids, from `offset`; sent once, before the first step."""
        offset, piece = int(header["offset"]), buffers["ids"]
        count = len(piece[1]) // 4
        if offset != self.train_ids_received or offset + count > self.train_ids.numel():
            raise ProtocolError(f"corpus: ids [{offset}, {offset + count}) do not continue the "
                                f"{self.train_ids_received} of {self.train_ids.numel()} received")
        ids = to_tensor(self.torch, piece, "cpu")
        if count and not (0 <= int(ids.min()) and int(ids.max()) < self.vocab):
            raise ProtocolError(f"corpus: an id outside the vocabulary of {self.vocab}")
        self.train_ids[offset:offset + count] = ids.to(device=self.device, dtype=self.train_ids.dtype)
        self.train_ids_received += count
        return {}, []

    def step(self, header, _buffers):
        """Starts one training iteration on our streams (DDP averages the gradients, each rank's loss
        pre-weighted) without waiting for the device; replies with the steps before it that are finished."""
        torch = self.torch
        inputs, targets = self._chunk(int(header["chunk"]))
        if header.get("resetState"):
            self.carried = self._map_state(torch.zeros_like)
        seed = header.get("dropoutSeed")
        if seed is not None and self.dropout > 0:
            torch.manual_seed(int(seed) + self.rank)
        steps = inputs.shape[0]
        self.model.train()
        logits, state = self.net(inputs, self.carried)
        summed = torch.nn.functional.cross_entropy(logits.view(-1, self.vocab), targets.reshape(-1), reduction="sum")
        (summed * (self.world_size / (self.batch * steps))).backward()
        self.carried = self._map_state(lambda s: s.detach(), state)
        self.pending.append(HostCopy(torch, self._loss_and_norm(summed.detach().to(self.wide) / (self.batch * steps))))
        # Not finite: the run ends as Node reads it (a step later), saving nothing, so no check holds the device here.
        self._update(float(header["lr"]))
        self.optimizer.zero_grad(set_to_none=True)
        return self._finished(keep=1), []

    def settle(self, _header, _buffers):
        """Waits for every step started: their results."""
        return self._finished(keep=0), []

    def _finished(self, keep):
        """The results of the pending steps but the newest `keep`, oldest first: [loss, norm], null where not finite."""
        done = self.pending[:len(self.pending) - keep]
        self.pending = self.pending[len(done):]
        return {"results": [[finite_or_none(value) for value in copy.values()] for copy in done]}

    def _chunk(self, chunk):
        """Time-major [T, B_r] inputs and targets of `chunk` of our streams, from the ids on the device."""
        if self.train_ids_received != self.train_ids.numel():
            raise ProtocolError(f"step: {self.train_ids_received} of {self.train_ids.numel()} training ids received")
        if not 0 <= chunk < self.stream_length // self.seq_length:
            raise ProtocolError(f"step: chunk {chunk} is outside the {self.stream_length // self.seq_length} per epoch")
        rows, width = self.end - self.start, self.seq_length + 1
        window = self.train_ids.as_strided((rows, width), (self.stream_length, 1), chunk * self.seq_length)
        window = window.t().long()
        return window[:-1], window[1:]

    def _loss_and_norm(self, local_loss):
        """The global mean loss and the pre-clip gradient norm (clipping to --clip), on the device."""
        torch = self.torch
        if self.world_size > 1:
            torch.distributed.all_reduce(local_loss)
        if self.clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        else:
            norm = torch.norm(torch.stack([torch.norm(p.grad.detach(), 2.0) for p in self.params]), 2.0)
        return torch.stack([local_loss.to(self.wide), norm.to(self.wide)])

    def _update(self, lr):
        """Clips each element (--clip-value) and takes the optimizer step at this iteration's rate."""
        if self.clip_value > 0:
            self.torch.nn.utils.clip_grad_value_(self.params, self.clip_value)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.step_count += 1

    def agree(self, header, _buffers):
        """Every rank's largest stop code and rank 0's schedule length, so all stop at the same step."""
        torch = self.torch
        stop = int(header.get("stop") or 0)
        if stop not in STOP_CODES:
            raise ProtocolError(f"agree: unknown stop code {stop}")
        length = float(header.get("scheduleLength", -1)) if self.rank == 0 else -1.0
        values = torch.tensor([float(stop), length], dtype=torch.float64)
        if self.world_size > 1:
            torch.distributed.all_reduce(values, op=torch.distributed.ReduceOp.MAX, group=self.control_group)
        stop, length = values.tolist()
        return {"stop": int(stop), "scheduleLength": int(length) if length == int(length) else length}, []

    def evaluate(self, _header, _buffers):
        """Validation as charrnn does it (B streams, seqLength chunks, state from zero), our streams only."""
        torch = self.torch
        streams = self._validation_streams()
        summed = torch.zeros((), dtype=self.wide, device=self.device)
        if streams is not None:
            self.model.eval()
            with torch.no_grad():
                summed += self._validation_loss(streams)
        chars = 0 if streams is None else (streams.shape[1] - 1) * (self.end - self.start)
        totals = torch.stack([summed, torch.tensor(float(chars), dtype=self.wide, device=self.device)])
        if self.world_size > 1:
            torch.distributed.all_reduce(totals)
        summed, chars = totals.tolist()
        return {"chars": int(chars), "loss": summed / chars if chars > 0 else None}, []

    def _validation_streams(self):
        """Our streams of the validation ids as [B_r, streamLength + 1] (made once), None when too short."""
        if self.validation_streams is None:
            torch = self.torch
            stream_length = (self.validation.numel() - 1) // self.batch
            if stream_length < 1:
                return None
            starts = torch.arange(self.start, self.end, device=self.device) * stream_length
            self.validation_streams = self.validation[starts[:, None] + torch.arange(stream_length + 1,
                                                                                      device=self.device)]
        return self.validation_streams

    def _validation_loss(self, streams):
        """Summed cross entropy over the streams, chunk by chunk, the state carried from zero."""
        torch = self.torch
        functional = torch.nn.functional
        stream_length = streams.shape[1] - 1
        state, summed = None, torch.zeros((), dtype=self.wide, device=self.device)
        for position in range(0, stream_length, self.seq_length):
            steps = min(self.seq_length, stream_length - position)
            inputs = streams[:, position:position + steps].t()
            targets = streams[:, position + 1:position + 1 + steps].t()
            logits, state = self.model(inputs, state)
            loss = functional.cross_entropy(logits.reshape(-1, self.vocab), targets.reshape(-1), reduction="sum")
            summed += loss.to(self.wide)
        return summed

    def state(self, header, _buffers):
        """Weights (+ optimizer state, + every stream's carried rows) for rank 0 to give Node; others gather."""
        carried = self._gather_carried() if header.get("carried") else []
        if self.rank != 0:
            return {}, []
        buffers = [("parameters", "f32", to_bytes(self.layout.join(self.torch, self.params)))]
        reply = {}
        if header.get("optimizer"):
            reply["step"] = self.step_count
            buffers += [(name, "f32", to_bytes(self._optimizer_buffer(name))) for name in BUFFER_NAMES[self.kind]]
        return reply, buffers + carried

    def _optimizer_buffer(self, name):
        """One optimizer buffer, flat in the parameter layout (zeros where torch keeps none yet)."""
        torch = self.torch
        values = [self.optimizer.state.get(p, {}).get(name) for p in self.params]
        return self.layout.join(torch, [torch.zeros_like(p) if v is None else v for v, p in zip(values, self.params)])

    def _gather_carried(self):
        """All B streams' carried rows, each layer [B, H], summed over ranks that each fill only theirs."""
        torch = self.torch
        names = ["h", "c"] if self.cell == "lstm" else ["h"]
        states = self.carried if self.cell == "lstm" else (self.carried,)
        full = torch.zeros(len(names), self.layers, self.batch, self.hidden, device=self.device)
        for index, state in enumerate(states):
            full[index, :, self.start:self.end] = state
        if self.world_size > 1:
            self.torch.distributed.all_reduce(full)
        return [(f"carried_{name}_l{layer}", "f32", to_bytes(full[index, layer]))
                for index, name in enumerate(names) for layer in range(self.layers)]

    def _map_state(self, transform, state=None):
        """Applies transform to the carried state (h, or lstm's pair)."""
        state = self.carried if state is None else state
        return tuple(transform(s) for s in state) if isinstance(state, tuple) else transform(state)


class HostCopy:
    """A small device tensor on its way to the host: the copy is queued behind the step that computes it, and
    read once the next step is queued too, so the device never idles while the host waits for it."""

    def __init__(self, torch, values):
        self.done = None
        if values.is_cuda:
            self.host = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
            self.host.copy_(values, non_blocking=True)
            self.done = torch.cuda.Event()
            self.done.record()
        else:
            self.host = values

    def values(self):
        """The values, waiting for the copy (and the step before it) where it is not done."""
        if self.done is not None:
            self.done.synchronize()
        return self.host.tolist()


def finite_or_none(value):
    """JSON has no NaN or Infinity: a non-finite number goes as null."""
    return value if math.isfinite(value) else None


def plain_text(error):
    """An exception's message on one line, without the C++ source locations torch puts in front."""
    return re.sub(r"\[[^\]\s]+:\d+\] ", "", " ".join(str(error).split()))[:300] or type(error).__name__


def one_line(error):
    """An exception as the single line Node shows after naming the rank: what went wrong in a few words."""
    text = plain_text(error)
    lost = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "Timed out", "timed out")
    if isinstance(error, ProtocolError):
        pass
    elif any(mark in text for mark in lost):
        text = f"lost contact with another rank ({text})"
    else:
        text = f"{type(error).__name__}: {text}"
    return text


def protocol_channel():
    """The channel on stdin/stdout; fd 1 is then pointed at stderr so no library print corrupts a reply."""
    writer = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return Channel(sys.stdin.buffer, writer)


def serve(channel):
    """The main loop: one reply per command until close or the end of input."""
    engine = None
    try:
        while (message := channel.read()) is not None:
            header, buffers = message
            if header.get("cmd") == "close":
                channel.write({"ok": True})
                break
            engine, reply, out = answer(engine, header, buffers)
            channel.write(dict({"ok": True}, **reply), out)
    except Exception as error:  # noqa: BLE001 - every failure becomes Node's one line
        fail(channel, one_line(error))
    sys.stderr.flush()
    os._exit(0)  # torch 1.13 can deadlock at interpreter exit tearing down DDP's gloo group (GIL vs. its thread)


def answer(engine, header, buffers):
    """One command's reply as (engine, header fields, buffers): init makes the engine, the rest go to it."""
    command = header.get("cmd")
    if command == "init":
        if engine is not None:
            raise ProtocolError("init sent twice")
        return start(header, buffers)
    if engine is None:
        raise ProtocolError(f'"{command}" before init')
    handler = {"corpus": engine.corpus, "step": engine.step, "settle": engine.settle, "agree": engine.agree,
               "evaluate": engine.evaluate, "state": engine.state}
    if command not in handler:
        raise ProtocolError(f'unknown command "{command}"')
    return (engine, *handler[command](header, buffers))


def start(header, buffers):
    """The engine init asks for, and the reply saying which torch, device and threads it runs on."""
    torch = import_torch(max(1, int(header.get("threads") or 1)))
    engine = Engine(torch, header, buffers)
    device = f"cuda:{engine.device.index}" if engine.device.type == "cuda" else str(engine.device)
    return engine, {"torch": torch.__version__, "device": device, "threads": torch.get_num_threads()}, []


def fail(channel, line):
    """Tells Node (a reply if it can still read one, and stderr's last line) and exits 1 without cleanup."""
    try:
        channel.write({"ok": False, "error": line})
    except (OSError, ValueError):
        pass
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    os._exit(1)  # a process group in a broken state can hang an orderly exit


def main():
    """Ignores Ctrl-C (Node decides when to stop), quiets warnings, and serves stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.filterwarnings("ignore")
    serve(protocol_channel())


if __name__ == "__main__":
    main()
