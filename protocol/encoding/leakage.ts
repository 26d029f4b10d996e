// What an observer of the chain learns from v2 ciphertexts (PROTOCOL §1, §3.2): for every pair of bids, which is lower
// (or that they are equal) and the first block in which their levels differ. Pure: the observation, as the public
// zero tests recover it or as it follows from clear levels (the reference), and what it reveals of each level.
import { firstDifferingBlock, type BlockParams } from "./blockTokens.ts";
import { RelationOrderError } from "./errors.ts";

/**
 * Bids in ascending order, grouped by equal level, and between neighbouring groups the first differing block
 * (1-based, most significant first). Between any two groups it is the smallest of the neighbours' in between.
 */
export type Observation = { groups: number[][]; firstDiffering: number[] };

/** The reference: the observation that clear levels imply (what the public finder must recover, no more, no less). */
export function observationFromLevels(levels: readonly number[], params: BlockParams): Observation {
  const order = levels.map((level, index) => ({ level, index })).sort((a, b) => a.level - b.level || a.index - b.index);
  const groups: number[][] = [];
  const groupLevels: number[] = [];
  for (const { level, index } of order) {
    if (groupLevels.at(-1) === level) groups.at(-1)!.push(index);
    else {
      groups.push([index]);
      groupLevels.push(level);
    }
  }
  const firstDiffering = groupLevels.slice(1).map((level, i) => firstDifferingBlock(groupLevels[i]!, level, params)!);
  return { groups, firstDiffering };
}

/**
 * Bits of each bid's level the observation determines. The groups form a trie of base-B digits: where a range of
 * groups that share their first D blocks splits into k children at block b (the smallest first-differing block in
 * the range), the children's digits at b are strictly increasing, so child j's digit lies in [j, B − k + j]: that is
 * w − log2(B − k + 1) bits of it. With w = 1 every split pins one bit; with one block (order only) a split of k
 * children among n levels reveals log2(n / (n − k + 1)) bits. Blocks above a range's first split stay unknown.
 */
export function revealedBits(observation: Observation, params: BlockParams, bidCount: number): number[] {
  const bits = new Array<number>(bidCount).fill(0);
  const { groups, firstDiffering } = observation;
  const split = (lo: number, hi: number): void => {
    if (lo >= hi) return;
    let block = Infinity;
    for (let j = lo; j < hi; j++) block = Math.min(block, firstDiffering[j]!);
    const children: [number, number][] = [];
    let start = lo;
    for (let j = lo; j < hi; j++) {
      if (firstDiffering[j] === block) {
        children.push([start, j]);
        start = j + 1;
      }
    }
    children.push([start, hi]);
    const known = params.width - Math.log2(params.base - children.length + 1);
    for (const [from, to] of children) {
      for (let g = from; g <= to; g++) for (const bid of groups[g]!) bits[bid]! += known;
      split(from, to);
    }
  };
  split(0, groups.length - 1);
  return bits;
}

/**
 * The one-block shape of `levels` (w = ⌈log2 n⌉): order only, the leakage profile of version 1's unary encoding. For
 * the analysis only: beyond w = 8 no market would encrypt it (d = 2^w + 1), so blockParams refuses it.
 */
export function orderOnlyParams(levels: number): BlockParams {
  const width = Math.max(1, Math.ceil(Math.log2(levels)));
  return { levels, width, base: 2 ** width, blocks: 1, dim: 2 ** width + 1, tokens: 2 };
}

/** Whether two observations are the same (groups in the same order, the same first differing blocks). */
export function sameObservation(a: Observation, b: Observation): boolean {
  const groups = (o: Observation) => o.groups.map((group) => [...group].sort((x, y) => x - y));
  return JSON.stringify(groups(a)) === JSON.stringify(groups(b)) && JSON.stringify(a.firstDiffering) === JSON.stringify(b.firstDiffering);
}

/**
 * The observation from relations only: `relation(a, b)` answers as the public finder does (`eq`, `lt` with its first
 * differing block, or null when a > b). Sorts with a merge sort (n log n questions), then asks each neighbouring pair.
 */
export function observe(bidCount: number, relation: (a: number, b: number) => { relation: "eq" } | { relation: "lt"; block: number } | null): Observation {
  const atMost = (a: number, b: number) => relation(a, b) !== null;
  const sorted = mergeSort(
    Array.from({ length: bidCount }, (_, i) => i),
    atMost,
  );
  const groups: number[][] = [];
  const firstDiffering: number[] = [];
  for (const bid of sorted) {
    const previous = groups.at(-1);
    if (previous === undefined) {
      groups.push([bid]);
      continue;
    }
    const answer = relation(previous[0]!, bid);
    if (answer === null) throw new RelationOrderError({ a: previous[0]!, b: bid });
    if (answer.relation === "eq") previous.push(bid);
    else {
      groups.push([bid]);
      firstDiffering.push(answer.block);
    }
  }
  return { groups, firstDiffering };
}

function mergeSort(items: number[], atMost: (a: number, b: number) => boolean): number[] {
  if (items.length <= 1) return items;
  const middle = items.length >> 1;
  const left = mergeSort(items.slice(0, middle), atMost);
  const right = mergeSort(items.slice(middle), atMost);
  const merged: number[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length && j < right.length) merged.push(atMost(left[i]!, right[j]!) ? left[i++]! : right[j++]!);
  return merged.concat(left.slice(i), right.slice(j));
}
