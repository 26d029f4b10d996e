// Version 2's gas (contracts/src/v2/SlotMarket.sol), measured on the in-process chain with Osaka's per-transaction
// cap (EIP-7825) on: a book of random certified bids in one delivery slot, hints from a mirror of the books (the
// reference, protocol/book/slotBooks.ts), resting and matching placements, and the largest batches under the cap.
import { largestFitting } from "./largestFitting.ts";
import { mean } from "./stats.ts";
import { BrowserProvider, ContractFactory, hexlify, Wallet, type Eip1193Provider } from "ethers";
import { initCurve } from "../protocol/fhipe/curve.ts";
import { setup, type MasterSecretKey } from "../protocol/fhipe/fhipe.ts";
import { blockParams, type BlockParams } from "../protocol/encoding/blockTokens.ts";
import { encryptBlockBid } from "../protocol/encoding/blockBid.ts";
import { SlotBooks, type BookSideName, type SlotCalendar } from "../protocol/book/slotBooks.ts";
import { loadArtifact } from "../contracts/client/artifact.ts";
import {
  attachSlotMarket,
  bidTuple,
  certifyBid,
  decodeSlotMarketEvents,
  hintFromMirror,
  slotMarketErrorOf,
  type CertifiedBid,
  type MirroredBid,
  type SlotMarketHandle,
} from "../contracts/client/v2/slotMarket.ts";
import { GasBenchError } from "./errors.ts";
import { seededRandom, systemRandom, type BenchRandom } from "./seededRandom.ts";

/** Osaka's per-transaction cap (EIP-7825): every v2 transaction and batch must fit it. */
export const TX_GAS_CAP = 2 ** 24;
/** EIP-1108 pairing price: a relation is one check with d = B + 1 pairs. */
const relationPrice = (dim: number) => 34_000 * dim + 45_000;

export type GasV2Options = {
  bookSize: number;
  samples: number;
  seed?: number;
  /** Called once per step (a placement, a probe, a batch sent). */
  step: (phase: string) => void;
};

export type GasV2Row = {
  design: "v2";
  levels: number;
  width: number;
  dim: number;
  /** m + 1 tokens per half. */
  tokens: number;
  /** One zero test: the pairing check on d pairs read from calldata (gasleft() around it). */
  relationGas: number;
  /** 34,000·d + 45,000 (EIP-1108). */
  precompileGas: number;
  /** Computing ciphertextRoot from the 2(m + 1) tokens in calldata. */
  rootGas: number;
  /** Mean gasUsed of a placeBid transaction that rests (three relations at most) in a book of `bookSize`. */
  placeRestingGas: number;
  /** Mean gasUsed of a placeBid transaction that matches the opposite head (one relation). */
  placeMatchingGas: number;
  /** What a resting bid keeps in storage (its root, record, links and single-use mark), written to fresh slots. */
  storageGasPerBid: number;
  /** Mean calldata of a resting placeBid transaction: the ciphertext, the ticket and the hint's proved tokens. */
  calldataBytes: number;
  /** Most bids one placeBids transaction places under the cap, resting and matching (found by sending them). */
  maxBatchResting: number;
  maxBatchMatching: number;
  fitsTxCap: boolean;
  bookSize: number;
  samples: number;
};

const CALENDAR: SlotCalendar = { slotSeconds: 900, gateClosureSeconds: 300 };
/** Far in the future (2106), so no bid expires and the slot never closes during a run; a seeded run repeats. */
const NOT_AFTER = 2 ** 32;
const SLOT = Math.floor(NOT_AFTER / CALENDAR.slotSeconds);
const TX = { gasLimit: BigInt(TX_GAS_CAP) };

type Sample = { bid: CertifiedBid; level: number };

export async function measureGasV2(levels: number, width: number, options: GasV2Options): Promise<GasV2Row> {
  await initCurve();
  const params = blockParams(levels, width);
  const { default: hre } = await import("hardhat");
  const connection = await hre.network.create("osaka");
  try {
    const provider = new BrowserProvider(connection.provider as Eip1193Provider, undefined, { cacheTimeout: -1 });
    return await measure(provider, params, options);
  } finally {
    await connection.close();
  }
}

async function measure(provider: BrowserProvider, params: BlockParams, options: GasV2Options): Promise<GasV2Row> {
  const random: BenchRandom = options.seed === undefined ? systemRandom : seededRandom(options.seed * 1_000_003 + params.levels * 16 + params.width);
  const deployer = await provider.getSigner(0);
  const dso = new Wallet(hexlify(random.bytes(32)));
  const { abi, bytecode } = loadArtifact("SlotMarketGasProbe");
  const deployed = await new ContractFactory(abi, bytecode, deployer).deploy(dso.address, params.dim, params.tokens, CALENDAR.slotSeconds, CALENDAR.gateClosureSeconds);
  await deployed.waitForDeployment();
  const market = await attachSlotMarket(await deployed.getAddress(), deployer, params, CALENDAR);
  const probe = new ContractFactory(abi, bytecode, deployer).attach(market.address).connect(deployer);
  const msk: MasterSecretKey = setup(params.dim, random.bytes);
  const tokenKey = random.bytes(32);
  const makeBid = async (side: BookSideName, level: number): Promise<Sample> => {
    const bidder = new Wallet(hexlify(random.bytes(32))).address;
    const ciphertext = encryptBlockBid(msk, tokenKey, params, level, random.bytes(32));
    const bid = await certifyBid(dso, market, { bidder, side, slot: SLOT, notAfter: NOT_AFTER, commitment: hexlify(random.bytes(32)), ciphertext });
    return { bid, level };
  };
  // Buys below the middle level, sells at or above it: a book that never crosses, so every such bid rests.
  const middle = Math.max(1, Math.floor(params.levels / 2));
  const restingLevel = (side: BookSideName) => (side === "buy" ? random.int(0, middle) : random.int(middle, params.levels));
  const randomSide = (): BookSideName => (random.fraction() < 0.5 ? "buy" : "sell");
  const crossingLevel = (side: BookSideName) => (side === "buy" ? params.levels - 1 : 0);

  const mirror = new Mirror(params);

  // The book, in batches under the cap.
  const book: Sample[] = [];
  for (let i = 0; i < options.bookSize; i++) {
    const side: BookSideName = i % 2 === 0 ? "buy" : "sell";
    book.push(await makeBid(side, restingLevel(side)));
  }
  for (let next = 0; next < book.length; ) {
    const chunk = book.slice(next, next + 8);
    // Each entry's hint is made against the books the entries before it leave (a failed batch ends the run).
    const tuples = chunk.map((sample) => mirror.place(sample).tuple);
    const receipt = await (await market.contract.getFunction("placeBids")(tuples, TX)).wait();
    expectNoRejection(market, receipt.logs, "building the book");
    next += chunk.length;
    chunk.forEach(() => options.step("building the book"));
  }

  // Probes: a relation, the root, the storage of one bid.
  const [first, second] = [book[0]!, book[1]!];
  const [relationGas] = (await probe.getFunction("measureRelation").staticCall(first.bid.ciphertext.left[0], second.bid.ciphertext.right[0])) as [bigint, boolean];
  const [rootGas] = (await probe.getFunction("measureRoot").staticCall(bidTuple(first.bid, mirror.hint(first)))) as [bigint, string];
  // A bidder never placed, so that its single-use mark is a fresh slot as in a real placement.
  const fresh = await makeBid("buy", 0);
  const storageGasPerBid = (await probe.getFunction("measureStore").staticCall(bidTuple(fresh.bid, mirror.hint(fresh)))) as bigint;
  options.step("probes");

  // Single placements in a steady state: a resting bid, then a matching one, so the book stays at bookSize or
  // bookSize + 1 while each sample meets a different position.
  const resting: number[] = [];
  const matching: number[] = [];
  const calldata: number[] = [];
  for (let i = 0; i < options.samples; i++) {
    for (const kind of ["rests", "matches"] as const) {
      const side = randomSide();
      const sample = await makeBid(side, kind === "rests" ? restingLevel(side) : crossingLevel(side));
      const placed = mirror.place(sample);
      const tx = await market.contract.getFunction("placeBid")(placed.tuple, TX);
      const receipt = await tx.wait();
      const matched = decodeSlotMarketEvents(market, receipt.logs).some((event) => event.type === "matched");
      if (matched !== (kind === "matches") || placed.kind !== kind) {
        const sideCode = side === "buy" ? 0 : 1;
        throw kind === "rests"
          ? new GasBenchError({ kind: "restingMatched", levels: params.levels, restingSide: sideCode })
          : new GasBenchError({ kind: "matchingRested", levels: params.levels, matchingSide: sideCode });
      }
      (kind === "rests" ? resting : matching).push(Number(receipt.gasUsed));
      if (kind === "rests") calldata.push((tx.data.length - 2) / 2);
      options.step(`placing (${kind})`);
    }
  }

  // The largest batches under the cap, each sent from a snapshot with hints made in order.
  const restingCandidates = async () => {
    const side = randomSide();
    return makeBid(side, restingLevel(side));
  };
  let alternate: BookSideName = "sell";
  const matchingCandidates = async () => {
    alternate = alternate === "buy" ? "sell" : "buy";
    return makeBid(alternate, crossingLevel(alternate));
  };
  const maxBatchResting = await largestBatch(provider, market, mirror, restingCandidates, mean(resting), "rests", options.step);
  const maxBatchMatching = await largestBatch(provider, market, mirror, matchingCandidates, mean(matching), "matches", options.step);

  const placeRestingGas = Math.round(mean(resting));
  const placeMatchingGas = Math.round(mean(matching));
  return {
    design: "v2",
    levels: params.levels,
    width: params.width,
    dim: params.dim,
    tokens: params.tokens,
    relationGas: Number(relationGas),
    precompileGas: relationPrice(params.dim),
    rootGas: Number(rootGas),
    placeRestingGas,
    placeMatchingGas,
    storageGasPerBid: Number(storageGasPerBid),
    calldataBytes: Math.round(mean(calldata)),
    maxBatchResting,
    maxBatchMatching,
    fitsTxCap: Math.max(placeRestingGas, placeMatchingGas) <= TX_GAS_CAP,
    bookSize: options.bookSize,
    samples: options.samples,
  };
}

/** The books as the chain holds them (the reference) and every bid's level and ciphertext: the DSO's hint maker. */
class Mirror {
  readonly #params: BlockParams;
  readonly #books: SlotBooks;
  readonly #bids: Map<number, MirroredBid>;

  constructor(params: BlockParams, books = new SlotBooks(CALENDAR), bids = new Map<number, MirroredBid>()) {
    this.#params = params;
    this.#books = books;
    this.#bids = bids;
  }

  clone(): Mirror {
    return new Mirror(this.#params, this.#books.clone(), new Map(this.#bids));
  }

  hint(sample: Sample) {
    return hintFromMirror(this.#books, this.#bids, { side: sample.bid.side, slot: sample.bid.slot, level: sample.level }, 0, this.#params);
  }

  /** The bid's contract tuple with its hint, then the bid placed in the mirror, which says whether it rests or matches. */
  place(sample: Sample): { tuple: ReturnType<typeof bidTuple>; kind: "rests" | "matches" } {
    const tuple = bidTuple(sample.bid, this.hint(sample));
    const placement = this.#books.place(this.#input(sample), 0);
    if (!placement.ok) throw new GasBenchError({ kind: "rejected", reasonName: placement.reason });
    this.#bids.set(placement.id, { level: sample.level, ciphertext: sample.bid.ciphertext });
    return { tuple, kind: placement.matchedWith === null ? "rests" : "matches" };
  }

  #input(sample: Sample) {
    return { bidder: sample.bid.bidder, side: sample.bid.side, slot: sample.bid.slot, level: sample.level, notAfter: sample.bid.notAfter };
  }
}

type Logs = Parameters<typeof decodeSlotMarketEvents>[1];

function expectNoRejection(market: SlotMarketHandle, logs: Logs, phase: string): void {
  const rejected = decodeSlotMarketEvents(market, logs).find((event) => event.type === "rejected");
  if (rejected !== undefined) throw new GasBenchError({ kind: "rejected", reasonName: `${rejected.reason} (${phase})` });
}

/**
 * The most bids of one kind a placeBids transaction places under the cap, found by sending batches from a snapshot:
 * gallop up from the single-bid estimate, then bisect. A batch fits when it does not run out of gas and every entry
 * rests (or matches) as the mirror says.
 */
async function largestBatch(
  provider: BrowserProvider,
  market: SlotMarketHandle,
  mirror: Mirror,
  nextBid: () => Promise<Sample>,
  gasPerBid: number,
  kind: "rests" | "matches",
  step: (phase: string) => void,
): Promise<number> {
  const candidates: Sample[] = [];
  const fits = async (size: number): Promise<boolean> => {
    while (candidates.length < size) candidates.push(await nextBid());
    // Hints made in order, each against the books the entries before it leave; every entry must do what `kind` says.
    const replay = mirror.clone();
    const tuples = [];
    for (const sample of candidates.slice(0, size)) {
      const placed = replay.place(sample);
      if (placed.kind !== kind) return false;
      tuples.push(placed.tuple);
    }
    const snapshot = (await provider.send("evm_snapshot", [])) as string;
    try {
      const receipt = await (await market.contract.getFunction("placeBids")(tuples, TX)).wait();
      const matched = decodeSlotMarketEvents(market, receipt.logs).filter((event) => event.type === "matched").length;
      expectNoRejection(market, receipt.logs, `a batch of ${size}`);
      return matched === (kind === "matches" ? size : 0);
    } catch (error) {
      const name = slotMarketErrorOf(market, error)?.name;
      if (name === "BatchEntryOutOfGas" || name === undefined) return false;
      throw error;
    } finally {
      await provider.send("evm_revert", [snapshot]);
      step(`largest batch (${kind})`);
    }
  };
  return largestFitting(TX_GAS_CAP / gasPerBid, fits);
}
