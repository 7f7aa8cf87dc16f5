/**
 * The PyTorch round trip (scripts/torch_checkpoint.py): a model trained in PyTorch, imported, gives
 * PyTorch's loss in `charrnn eval`; export then import is exact. Skipped where python3 lacks torch.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const PYTHON = process.env.CHARRNN_PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;
if (!hasTorch)
  console.warn(
    `torch round-trip tests skipped: ${PYTHON} cannot import torch and numpy (apt-get install python3-torch)`,
  );

const TRAIN_IN_TORCH = `
import json, sys, torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0)
text = open(sys.argv[1], encoding="utf-8").read()
vocab = sorted(set(text)); V = len(vocab); ids = torch.tensor([vocab.index(c) for c in text])
kind = sys.argv[3]
class CharRNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](V, 16, 2, batch_first=True)
        self.out = nn.Linear(16, V)
    def forward(self, x, h=None):
        y, h = self.rnn(F.one_hot(x, V).float(), h)
        return self.out(y), h
model = CharRNN(); opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(40):
    start = (step * 32) % (len(ids) - 33)
    x, y = ids[start:start + 32].view(1, -1), ids[start + 1:start + 33].view(1, -1)
    loss = F.cross_entropy(model(x)[0].reshape(-1, V), y.reshape(-1))
    opt.zero_grad(); loss.backward(); opt.step()
torch.save(model.state_dict(), sys.argv[2])
with torch.no_grad():
    logits, _ = model(ids[:-1].view(1, -1))
    print(json.dumps({"loss": F.cross_entropy(logits.reshape(-1, V), ids[1:]).item()}))
`;

function run(command: string, args: string[], cwd: string) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

describe.runIf(hasTorch)('PyTorch round trip', () => {
  it.each(['lstm', 'gru', 'rnn'])(
    'a PyTorch-trained %s evaluates to the same loss, and export/import is exact',
    (cell) => {
      const dir = mkdtempSync(join(tmpdir(), 'charrnn-torch-'));
      writeFileSync(join(dir, 'text.txt'), 'The whale, the whale! Thar she blows. 鯨 🐋\n'.repeat(30));
      writeFileSync(join(dir, 'train.py'), TRAIN_IN_TORCH);
      const torchLoss = JSON.parse(run(PYTHON, ['train.py', 'text.txt', 'model.pt', cell], dir)).loss;
      const script = join(ROOT, 'scripts', 'torch_checkpoint.py');
      run(PYTHON, [script, 'import', 'model.pt', 'model.json', '--vocab-from', 'text.txt'], dir);
      const evaluated = JSON.parse(
        run(process.execPath, [join(ROOT, 'bin', 'charrnn'), 'eval', 'text.txt', '-c', 'model.json', '--json'], dir),
      );
      expect(Math.abs(evaluated.loss - torchLoss)).toBeLessThan(1e-5);
      run(PYTHON, [script, 'export', 'model.json', 'back.pt'], dir);
      run(PYTHON, [script, 'import', 'back.pt', 'again.json'], dir);
      const first = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
      const again = JSON.parse(readFileSync(join(dir, 'again.json'), 'utf8'));
      expect(again.tensors).toEqual(first.tensors);
      expect(again.vocab).toEqual(first.vocab);
      expect(again.model).toEqual({ cell, layers: 2, hidden: 16, vocab: first.vocab.length, dropout: 0 });
    },
    60_000,
  );
});
