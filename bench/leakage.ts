// The leakage table (PROTOCOL §1, §3.2), measured: random bids encrypted at one level count, then an observer with
// the public ciphertexts only runs the public hint finder's zero tests, sorts the bids and learns every first
// differing block. Cross-checked against the observation that clear levels imply.
import { initCurve } from "../protocol/fhipe/curve.ts";
import { setup } from "../protocol/fhipe/fhipe.ts";
import { blockParams } from "../protocol/encoding/blockTokens.ts";
import { decodeBlockCiphertext, encryptBlockBid, hintFromCiphertexts, zeroTestsOf, type BlockPoints } from "../protocol/encoding/blockBid.ts";
import { observationFromLevels, observe, orderOnlyParams, revealedBits, sameObservation } from "../protocol/encoding/leakage.ts";
import { seededRandom, systemRandom } from "./seededRandom.ts";
import type { BenchProgress } from "./progress.ts";
import { mean, round3 } from "./stats.ts";

export type LeakageOptions = { levels: number; widths: readonly number[]; bids: number; seed?: number; onProgress?: (progress: BenchProgress) => void };

export type LeakageRow = {
  levels: number;
  width: number;
  blocks: number;
  dim: number;
  bids: number;
  distinctLevels: number;
  /** Relation questions the observer asked (a merge sort, then each neighbouring pair) and the zero tests they took. */
  questions: number;
  zeroTests: number;
  /** The observer's order, equal groups and first differing blocks are exactly those the clear levels imply. */
  recoversReference: boolean;
  /** Bits of a level the observation determines (revealedBits), mean and largest over the bids, of `levelBits`. */
  meanRevealedBits: number;
  maxRevealedBits: number;
  levelBits: number;
  /** Bids whose level the observation pins exactly. */
  pinnedBids: number;
  /** Mean common prefix (in bits) the observer learns between neighbours in price order. */
  meanNeighbourPrefixBits: number;
  /** The same bids under an order-only encoding (one block, as unary): computed from the clear levels, not measured. */
  orderOnlyMeanRevealedBits: number;
  seconds: number;
};

export async function runLeakageBench(options: LeakageOptions): Promise<LeakageRow[]> {
  await initCurve();
  const rows: LeakageRow[] = [];
  const total = options.widths.length * options.bids * 2;
  let completed = 0;
  for (const width of options.widths) {
    const started = performance.now();
    const params = blockParams(options.levels, width);
    const random = options.seed === undefined ? systemRandom : seededRandom(options.seed * 1_009 + width);
    const msk = setup(params.dim, random.bytes);
    const tokenKey = random.bytes(32);
    const levels = Array.from({ length: options.bids }, () => random.int(0, options.levels));
    const points: BlockPoints[] = [];
    for (const level of levels) {
      points.push(decodeBlockCiphertext(encryptBlockBid(msk, tokenKey, params, level, random.bytes(32))));
      completed += 1;
      options.onProgress?.({ phase: `w=${width}: encrypting`, completed, total });
    }
    // The observer: public ciphertexts and the finder's zero tests only.
    let questions = 0;
    let zeroTests = 0;
    const observed = observe(options.bids, (a, b) => {
      questions += 1;
      const answer = hintFromCiphertexts(points[a]!, points[b]!, params);
      zeroTests += zeroTestsOf(answer, params);
      if (questions % 50 === 0) options.onProgress?.({ phase: `w=${width}: zero tests (${zeroTests})`, completed, total });
      return answer;
    });
    completed += options.bids;
    options.onProgress?.({ phase: `w=${width}: observed`, completed, total });
    const reference = observationFromLevels(levels, params);
    const bits = revealedBits(observed, params, options.bids);
    const levelBits = params.blocks * params.width;
    const orderOnly = orderOnlyParams(options.levels);
    const orderOnlyBits = revealedBits(observationFromLevels(levels, orderOnly), orderOnly, options.bids);
    rows.push({
      levels: options.levels,
      width,
      blocks: params.blocks,
      dim: params.dim,
      bids: options.bids,
      distinctLevels: reference.groups.length,
      questions,
      zeroTests,
      recoversReference: sameObservation(observed, reference),
      meanRevealedBits: round3(mean(bits)),
      maxRevealedBits: round3(Math.max(...bits)),
      levelBits,
      pinnedBids: bits.filter((value) => value >= levelBits - 1e-9).length,
      meanNeighbourPrefixBits: round3(mean(observed.firstDiffering.map((block) => (block - 1) * width))),
      orderOnlyMeanRevealedBits: round3(mean(orderOnlyBits)),
      seconds: round3((performance.now() - started) / 1000),
    });
  }
  return rows;
}
