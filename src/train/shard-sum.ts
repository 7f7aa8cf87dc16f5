/**
 * The fixed order in which shard gradients are added up: a pairwise tree over the shards, node
 * [first, end) being the sum of its halves, kept in shard `first`'s buffers. A thread adds up the
 * nodes inside its own group of shards as soon as its backward is done; the main thread then adds the
 * nodes that span groups. The tree does not depend on the grouping, so neither do the weights. With
 * two shards it is shard 0 + shard 1.
 */
import type { Kernels } from '../core/kernels.js';

/**
 * Adds the flat gradient buffer `from` into `into`, element by element: one one-row sumRows over the
 * whole buffer (SIMD in the wasm kernels, the same float additions as a plain loop).
 */
export function addGradients(kernels: Kernels, into: Float32Array, from: Float32Array): void {
  kernels.sumRows(into, from, 1, into.length, true);
}

/** Where node [first, end) splits: the left half takes the extra shard. */
function middle(first: number, end: number): number {
  return first + Math.ceil((end - first) / 2);
}

/** Completes node [first, end) into shard `first`, skipping the nodes `isSummed` says are complete. */
function sumNode(
  first: number,
  end: number,
  isSummed: (first: number, end: number) => boolean,
  add: (into: number, from: number) => void,
): void {
  if (end - first < 2 || isSummed(first, end)) return;
  const mid = middle(first, end);
  sumNode(first, mid, isSummed, add);
  sumNode(mid, end, isSummed, add);
  add(first, mid);
}

/** Sums every node of the tree over `shardCount` shards that lies inside the group [groupFirst, groupEnd). */
export function sumWithinGroup(
  shardCount: number,
  groupFirst: number,
  groupEnd: number,
  add: (into: number, from: number) => void,
): void {
  const visit = (first: number, end: number): void => {
    if (end - first < 2 || end <= groupFirst || groupEnd <= first) return;
    if (groupFirst <= first && end <= groupEnd) {
      sumNode(first, end, () => false, add);
      return;
    }
    visit(first, middle(first, end));
    visit(middle(first, end), end);
  };
  visit(0, shardCount);
}

/** Finishes the tree into shard 0 once every group (`groupStarts`, then the shard count) has summed its own nodes. */
export function sumAcrossGroups(groupStarts: number[], add: (into: number, from: number) => void): void {
  const withinOneGroup = (first: number, end: number) => !groupStarts.some((start) => first < start && start < end);
  sumNode(0, groupStarts[groupStarts.length - 1]!, withinOneGroup, add);
}
