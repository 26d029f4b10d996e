// The market's gas, both designs in one run: version 1 (the paper's unary encoding and heaps) per price-level count,
// beside the paper's and EIP-1108's figures, and version 2 (block tokens, per-slot lists: bench/gasV2.ts) per level
// count and block width. Every batch figure is under Osaka's per-transaction cap.
import { largestFitting } from "./largestFitting.ts";
import { mean } from "./stats.ts";
import { BrowserProvider, hexlify, Wallet, type BaseContract, type Eip1193Provider } from "ethers";
import { initCurve } from "../protocol/fhipe/curve.ts";
import { randomScalar, setup, type MasterSecretKey } from "../protocol/fhipe/fhipe.ts";
import { dimensionFor } from "../protocol/encoding/priceEncoding.ts";
import { GasBenchError } from "./errors.ts";
import { buildBid, deployMarket, getBidCiphertext, MarketRevertError, placeBid, placeBids, signTicket, type MarketHandle, type PlaceBidsResult, type SignedBid } from "../contracts/client/index.ts";
import { seededRandom, systemRandom, type BenchRandom } from "./seededRandom.ts";
import { type SideCode } from "../protocol/domain.ts";
import type { BenchProgress } from "./progress.ts";
import { measureGasV2, type GasV2Row } from "./gasV2.ts";
import { blockParams } from "../protocol/encoding/blockTokens.ts";

/** The block the paper and our private chain assume. */
export const BLOCK_GAS_LIMIT = 30_000_000;
/** Osaka's per-transaction cap (EIP-7825): the largest batches are measured under it, for both designs. */
export const OSAKA_TX_GAS_CAP = 2 ** 24;
/** Version 1 keeps a ciphertext as contract code: d = n + 1 ≤ 127 fits EIP-170's 24,576 bytes. */
export const V1_MAX_LEVELS = 126;
/** PROTOCOL §7: the paper's Compare (go-ethereum before Istanbul) and its heap-node growth per +10 levels. */
export const PAPER_COMPARE_PER_LEVEL = 80_000;
export const PAPER_COMPARE_BASE = 100_000;
export const PAPER_STORAGE_GROWTH_PER_10_LEVELS = 1_334_000;
/** EIP-1108 (Istanbul): today's pairing price for k pairs. */
export const PRECOMPILE_PER_PAIR = 34_000;
export const PRECOMPILE_BASE = 45_000;

export type GasBenchOptions = {
  levels: readonly number[];
  /** Version 2's block widths w (each kept where w ≤ ⌈log2 n⌉); default [1]. */
  widths?: readonly number[];
  /** Resting bids in the book every placement is measured against. */
  bookSize: number;
  /** Placements averaged per figure. */
  samples: number;
  /** The gas version 1's batches must fit (default Osaka's cap, 2^24; tests use less to stay fast). */
  blockGasLimit?: number;
  /**
   * Seed for every random choice (levels, sides, keys, msk, randomizers, salts) and a fixed ticket expiry: two runs
   * with the same seed send the same transactions and so report the same gas. Without it, fresh randomness.
   */
  seed?: number;
  onProgress?: (progress: BenchProgress) => void;
};


/** A version 1 row: the common figures, then version 1's own. */
export type GasBenchRow = {
  design: "v1";
  levels: number;
  /** Unary encoding: no block width. */
  width: null;
  /** A placement fits Osaka's cap. */
  fits: boolean;
  /** = compareGas (the common name of one order test). */
  relationGas: number;
  /** Mean calldata of a resting placeBid transaction (the ciphertext is stored as code, so it is sent once). */
  calldataBytes: number;
  dim: number;
  /** One Compare: the pairing check on d interleaved pairs already in memory (gasleft() around the library call). */
  compareGas: number;
  /** The same Compare including loading both ciphertexts from their code blobs (cold accounts) and interleaving. */
  compareStoredGas: number;
  /** As above with both blobs already warm (every later compare of a bid in the same transaction). */
  compareStoredWarmGas: number;
  /** 34,000·d + 45,000. */
  precompileGas: number;
  compareVsPrecompile: number;
  /** 80,000·n + 100,000. */
  paperCompareGas: number;
  compareVsPaper: number;
  /** Mean gasUsed of a placeBid transaction whose bid rests in a book of `bookSize` random bids (steady state:
   * resting and matching samples alternate, so the book stays at bookSize or bookSize + 1). */
  placeRestingGas: number;
  /** Mean gasUsed of a placeBid transaction whose bid matches (the book's best bid leaves its heap). */
  placeMatchingGas: number;
  /** Recording one bid: its code blob (ciphertext, bidder, commitment, hash), packed record, single-use mark, event. */
  storageGasPerBid: number;
  /** Our storage growth per +10 levels (from the previous row), and the paper's. */
  storageGrowthPer10Levels: number | null;
  paperStorageGrowthPer10Levels: number;
  /** Most bids one placeBids transaction places under the cap (2^24), resting and matching (the latter is also
   * capped by the book: each entry must take a bid from it); 0 when not even one fits. */
  maxBatchResting: number;
  maxBatchMatching: number;
  fitsBlock: boolean;
  fitsOsakaTxCap: boolean;
  bookSize: number;
  samples: number;
};

const TX = { gasLimit: BLOCK_GAS_LIMIT };
const TICKET_LIFETIME_SECONDS = 30 * 24 * 3600;
/** A seeded run's ticket expiry (2106-02-07): independent of the chain's clock, so its signatures repeat too. */
const SEEDED_NOT_AFTER = 2n ** 32n;

/** Version 1 where it cannot place a bid at all: a ciphertext beyond EIP-170's code limit, a Compare over the cap.
 * The common figures are present, as null, so that every row has the same fields. */
export type GasUnfitRow = {
  design: "v1";
  levels: number;
  width: null;
  dim: number;
  fits: false;
  reason: string;
  relationGas: null;
  placeRestingGas: null;
  placeMatchingGas: null;
  storageGasPerBid: null;
  calldataBytes: null;
  maxBatchResting: null;
  maxBatchMatching: null;
};

const UNMEASURED = {
  relationGas: null,
  placeRestingGas: null,
  placeMatchingGas: null,
  storageGasPerBid: null,
  calldataBytes: null,
  maxBatchResting: null,
  maxBatchMatching: null,
} as const;

export type GasRow = GasBenchRow | GasUnfitRow | (GasV2Row & { fits: boolean });

/** Both designs for every level count: version 1 (or why it does not fit), then version 2 for each width. */
export async function runGasBench(options: GasBenchOptions): Promise<GasRow[]> {
  await initCurve();
  const { default: hre } = await import("hardhat");
  const widths = options.widths ?? [1];
  const plan = options.levels.flatMap((levels) => [
    { design: "v1" as const, levels, width: null },
    ...widths.filter((width) => width <= Math.max(1, Math.ceil(Math.log2(levels)))).map((width) => ({ design: "v2" as const, levels, width })),
  ]);
  const stepsPerRow = options.bookSize + 4 * options.samples + 4;
  const total = stepsPerRow * plan.length;
  let completed = 0;
  const report = (phase: string, steps = 1) => {
    completed += steps;
    options.onProgress?.({ phase, completed: Math.min(completed, total), total });
  };

  const rows: GasRow[] = [];
  for (const [index, entry] of plan.entries()) {
    if (entry.design === "v1") {
      const unfit = v1Unfit(entry.levels);
      if (unfit !== null) rows.push(unfit);
      else {
        const connection = await hre.network.create();
        try {
          const provider = new BrowserProvider(connection.provider as Eip1193Provider, undefined, { cacheTimeout: -1 });
          const row = await measureLevel(provider, entry.levels, options, (phase, steps) => report(`v1 n=${entry.levels}: ${phase}`, steps));
          const previous = rows.findLast((candidate): candidate is GasBenchRow => candidate.design === "v1" && "compareGas" in candidate);
          row.storageGrowthPer10Levels =
            previous === undefined ? null : Math.round(((row.storageGasPerBid - previous.storageGasPerBid) * 10) / (entry.levels - previous.levels));
          rows.push(row);
        } finally {
          await connection.close();
        }
      }
    } else {
      blockParams(entry.levels, entry.width);
      const row = await measureGasV2(entry.levels, entry.width, {
        bookSize: options.bookSize,
        samples: options.samples,
        seed: options.seed,
        step: (phase) => report(`v2 n=${entry.levels} w=${entry.width}: ${phase}`),
      });
      rows.push({ ...row, fits: row.fitsTxCap });
    }
    completed = stepsPerRow * (index + 1);
  }
  return rows;
}

/** Why version 1 cannot place a bid at `levels`, or null when it can. */
export function v1Unfit(levels: number): GasUnfitRow | null {
  const dim = dimensionFor(levels);
  const comparePrice = PRECOMPILE_PER_PAIR * dim + PRECOMPILE_BASE;
  if (levels > V1_MAX_LEVELS) {
    return {
      design: "v1",
      levels,
      width: null,
      dim,
      fits: false,
      ...UNMEASURED,
      reason: `a ciphertext of d = ${dim} exceeds one contract's code (EIP-170, d ≤ ${V1_MAX_LEVELS + 1}); one Compare alone would cost ${comparePrice.toLocaleString("en-US")} gas`,
    };
  }
  if (comparePrice > OSAKA_TX_GAS_CAP) {
    return { design: "v1", levels, width: null, dim, fits: false, ...UNMEASURED, reason: `one Compare costs ${comparePrice.toLocaleString("en-US")} gas, over the cap` };
  }
  return null;
}

type BidMaker = (side: SideCode, priceLevel: number) => Promise<SignedBid>;

async function measureLevel(
  provider: BrowserProvider,
  levels: number,
  options: GasBenchOptions,
  report: (phase: string, steps?: number) => void,
): Promise<GasBenchRow> {
  const dim = dimensionFor(levels);
  const blockGasLimit = options.blockGasLimit ?? OSAKA_TX_GAS_CAP;
  // One stream per level count, so a row does not depend on which other rows were asked for.
  const random: BenchRandom = options.seed === undefined ? systemRandom : seededRandom(options.seed * 1_000 + levels);
  const deployer = await provider.getSigner(0);
  const dso = new Wallet(hexlify(random.bytes(32)));
  const market = await deployMarket(deployer, { dim, ticketSigner: dso.address, contractName: "GridveilMarketGasProbe" });
  const msk: MasterSecretKey = setup(dim, random.bytes);
  const block = await provider.getBlock("latest");
  const notAfter = options.seed === undefined ? BigInt(block!.timestamp + TICKET_LIFETIME_SECONDS) : SEEDED_NOT_AFTER;
  const makeBid: BidMaker = async (side, priceLevel) => {
    const oneTimeKey = new Wallet(hexlify(random.bytes(32)));
    const ticket = await signTicket(dso, market.domain, oneTimeKey.address, notAfter);
    const randomizers = { alpha: randomScalar(random.bytes), beta: randomScalar(random.bytes) };
    const salt = hexlify(random.bytes(32)) as `0x${string}`;
    return (await buildBid({ msk, levels, side, priceLevel, quantityWh: 1000, oneTimeKey, ticket, domain: market.domain, randomizers, salt })).bid;
  };
  // Buys below the middle level, sells at or above it: a random book that never crosses, so every bid rests.
  const middle = Math.max(1, Math.floor(levels / 2));
  const restingLevel = (side: SideCode) => (side === 0 ? random.int(0, middle) : random.int(middle, levels));
  const randomSide = (): SideCode => (random.fraction() < 0.5 ? 0 : 1);

  // The book.
  const bookBids: SignedBid[] = [];
  for (let i = 0; i < options.bookSize; i++) {
    const side: SideCode = i % 2 === 0 ? 0 : 1;
    bookBids.push(await makeBid(side, restingLevel(side)));
  }
  await placeInFittingBatches(market, bookBids, (placed) => report("building the book", placed));

  // Compare, from memory and from the code blobs.
  const probe = market.contract as BaseContract;
  const { left: firstLeft } = await getBidCiphertext(market, 1n);
  const { right: secondRight } = await getBidCiphertext(market, 2n);
  const [compareGas] = (await probe.getFunction("measureCompare").staticCall(firstLeft, secondRight)) as [bigint, boolean];
  const [coldGas, warmGas] = (await probe.getFunction("measureStoredCompare").staticCall(1n, 2n)) as [bigint, bigint, boolean];
  const storageGasPerBid = (await probe.getFunction("measureRecordBid").staticCall(await makeBid(0, 0))) as bigint;
  report("compare and storage", 2);

  // Single placements in a steady state: a resting bid, then a matching one, so the book stays at bookSize or
  // bookSize + 1 while each sample meets a different heap (a snapshot would measure one removal path only).
  const restingGas: number[] = [];
  const matchingGas: number[] = [];
  const calldata: number[] = [];
  for (let i = 0; i < options.samples; i++) {
    const restingSide = randomSide();
    const resting = await placeBid(market, await makeBid(restingSide, restingLevel(restingSide)), TX);
    if (resting.matched !== undefined) throw new GasBenchError({ kind: "restingMatched", levels, restingSide });
    restingGas.push(Number(resting.receipt.gasUsed));
    calldata.push((((await provider.getTransaction(resting.receipt.hash))!.data.length - 2) / 2));
    report("resting bids");
    // A buy at the top level takes the best sell; a sell at level 0 takes the best buy.
    const matchingSide = randomSide();
    const matching = await placeBid(market, await makeBid(matchingSide, matchingSide === 0 ? levels - 1 : 0), TX);
    if (matching.matched === undefined) throw new GasBenchError({ kind: "matchingRested", levels, matchingSide });
    matchingGas.push(Number(matching.receipt.gasUsed));
    report("matching bids");
  }
  const placeRestingGas = Math.round(mean(restingGas));
  const placeMatchingGas = Math.round(mean(matchingGas));

  // Batches: the largest that fits the block, found by sending them.
  const maxBatchResting = await largestBatch(
    provider,
    market,
    blockGasLimit,
    placeRestingGas,
    async () => {
      const side = randomSide();
      return makeBid(side, restingLevel(side));
    },
    (result) => result.results.every((entry) => entry.ok && entry.matched === undefined),
  );
  report("largest resting batch", options.samples);
  // Buys at the top level and sells at level 0, alternating: each takes the opposite book's best bid.
  let alternate: SideCode = 1;
  const maxBatchMatching = await largestBatch(
    provider,
    market,
    blockGasLimit,
    placeMatchingGas,
    async () => {
      alternate = alternate === 0 ? 1 : 0;
      return makeBid(alternate, alternate === 0 ? levels - 1 : 0);
    },
    (result) => result.results.every((entry) => entry.ok && entry.matched !== undefined),
  );
  report("largest matching batch", options.samples);

  const precompileGas = PRECOMPILE_PER_PAIR * dim + PRECOMPILE_BASE;
  const paperCompareGas = PAPER_COMPARE_PER_LEVEL * levels + PAPER_COMPARE_BASE;
  return {
    design: "v1",
    levels,
    width: null,
    fits: Math.max(placeRestingGas, placeMatchingGas) <= OSAKA_TX_GAS_CAP,
    relationGas: Number(compareGas),
    calldataBytes: Math.round(mean(calldata)),
    dim,
    compareGas: Number(compareGas),
    compareStoredGas: Number(coldGas),
    compareStoredWarmGas: Number(warmGas),
    precompileGas,
    compareVsPrecompile: Number(compareGas) / precompileGas,
    paperCompareGas,
    compareVsPaper: Number(compareGas) / paperCompareGas,
    placeRestingGas,
    placeMatchingGas,
    storageGasPerBid: Number(storageGasPerBid),
    storageGrowthPer10Levels: null,
    paperStorageGrowthPer10Levels: PAPER_STORAGE_GROWTH_PER_10_LEVELS,
    maxBatchResting,
    maxBatchMatching,
    fitsBlock: Math.max(placeRestingGas, placeMatchingGas) <= blockGasLimit,
    fitsOsakaTxCap: Math.max(placeRestingGas, placeMatchingGas) <= OSAKA_TX_GAS_CAP,
    bookSize: options.bookSize,
    samples: options.samples,
  };
}

/** Places bids in batches sized from the first bid's gas, halving a batch that does not fit. */
async function placeInFittingBatches(market: MarketHandle, bids: readonly SignedBid[], onPlaced: (count: number) => void): Promise<void> {
  const first = await placeBid(market, bids[0]!, TX);
  onPlaced(1);
  let batchSize = Math.max(1, Math.floor((0.6 * BLOCK_GAS_LIMIT) / Number(first.receipt.gasUsed)));
  for (let next = 1; next < bids.length; ) {
    const batch = bids.slice(next, next + batchSize);
    try {
      const result = await placeBids(market, batch, TX);
      const rejected = result.results.find((entry) => !entry.ok);
      if (rejected !== undefined && !rejected.ok) {
        throw new GasBenchError({ kind: "rejected", reasonName: rejected.rejection.reasonName });
      }
      next += batch.length;
      onPlaced(batch.length);
    } catch (error) {
      if (batchSize === 1 || !isOutOfGas(error)) throw error;
      batchSize = Math.ceil(batchSize / 2);
    }
  }
}

/**
 * The most bids of one kind a placeBids transaction fits under `blockGasLimit`, found by sending batches (each from
 * the same snapshot): gallop up from the single-bid estimate, then bisect. `accepted` says whether every entry did
 * what the kind requires (placed, or placed and matched).
 */
async function largestBatch(
  provider: BrowserProvider,
  market: MarketHandle,
  blockGasLimit: number,
  gasPerBid: number,
  nextBid: () => Promise<SignedBid>,
  accepted: (result: PlaceBidsResult) => boolean,
): Promise<number> {
  const candidates: SignedBid[] = [];
  const fits = async (size: number): Promise<boolean> => {
    while (candidates.length < size) candidates.push(await nextBid());
    return fromSnapshot(provider, async () => {
      try {
        return accepted(await placeBids(market, candidates.slice(0, size), { gasLimit: blockGasLimit }));
      } catch (error) {
        if (isOutOfGas(error)) return false;
        throw error;
      }
    });
  };
  return largestFitting(blockGasLimit / gasPerBid, fits);
}

function isOutOfGas(error: unknown): boolean {
  if (error instanceof MarketRevertError) return error.errorName === "BatchEntryOutOfGas" || error.errorName === undefined;
  return /out of gas|ran out of gas/i.test(String((error as { message?: unknown }).message ?? error));
}

async function fromSnapshot<T>(provider: BrowserProvider, body: () => Promise<T>): Promise<T> {
  const snapshot = (await provider.send("evm_snapshot", [])) as string;
  try {
    return await body();
  } finally {
    await provider.send("evm_revert", [snapshot]);
  }
}

