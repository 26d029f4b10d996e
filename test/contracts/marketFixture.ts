// Test fixture for the market contract: an in-process EDR chain, a deployed market, a real FHIPE key and bid makers.
import { afterAll, beforeAll } from "vitest";
import hre from "hardhat";
import { BrowserProvider, hexlify, randomBytes, Wallet, type JsonRpcSigner } from "ethers";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { setup, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { dimensionFor } from "../../protocol/encoding/priceEncoding.ts";
import { BID_TYPES, buildBid, ciphertextHash, deployMarket, getBidCount, getHeapBidIds, getHeapSizes, signTicket, type BuiltBid, type MarketContractName, type MarketHandle, type SignedBid } from "../../contracts/client/index.ts";
import { type Hex } from "../../protocol/base/hex.ts";
import { type SideCode } from "../../protocol/domain.ts";
import { mulberry32 } from "../../actors/runtime/mulberry32.ts";

/** Every test transaction gets an explicit limit: EDR's gas estimation would re-run the pairings many times. */
export const TX_GAS = { gasLimit: 30_000_000 };

export type MarketFixture = {
  provider: BrowserProvider;
  deployer: JsonRpcSigner;
  dso: Wallet;
  market: MarketHandle;
  msk: MasterSecretKey;
  levels: number;
  /** Encrypts, commits and signs a bid with a fresh one-time key and a DSO ticket. */
  makeBid(params: { side: SideCode; priceLevel: number; notAfter: number; quantityWh?: number }): Promise<MadeBid>;
  /** The next block's timestamp (each transaction mines one block). */
  setNextTimestamp(seconds: number): Promise<void>;
  latestTimestamp(): Promise<number>;
  /** bid count, heap sizes and heap arrays: what a rejected call must leave untouched. */
  marketState(): Promise<MarketState>;
  close(): Promise<void>;
};

export type MadeBid = BuiltBid & { oneTimeKey: Wallet };
export type MarketState = { bidCount: bigint; buys: number; sells: number; buyHeap: bigint[]; sellHeap: bigint[] };

export function randomWallet(): Wallet {
  return new Wallet(hexlify(randomBytes(32)));
}

/** A market fixture for the enclosing `describe`: deployed before its tests, closed after them. */
export function suiteMarketFixture(levels: number): () => MarketFixture {
  let fixture: MarketFixture | undefined;
  beforeAll(async () => {
    fixture = await createMarketFixture(levels);
  });
  afterAll(async () => fixture?.close());
  return () => {
    if (!fixture) throw new Error("the suite's market fixture is not deployed yet");
    return fixture;
  };
}

export async function createMarketFixture(levels: number, contractName: MarketContractName = "GridveilMarket"): Promise<MarketFixture> {
  await initCurve();
  const connection = await hre.network.create();
  // No response cache: tests read block numbers and logs right after mining.
  const provider = new BrowserProvider(connection.provider, undefined, { cacheTimeout: -1 });
  const deployer = await provider.getSigner(0);
  const dso = randomWallet();
  const dim = dimensionFor(levels);
  const market = await deployMarket(deployer, { dim, ticketSigner: dso.address, contractName });
  const msk = setup(dim);
  return {
    provider,
    deployer,
    dso,
    market,
    msk,
    levels,
    async makeBid({ side, priceLevel, notAfter, quantityWh = 1000 }) {
      const oneTimeKey = randomWallet();
      const ticket = await signTicket(dso, market.domain, oneTimeKey.address, notAfter);
      const built = await buildBid({ msk, levels, side, priceLevel, quantityWh, oneTimeKey, ticket, domain: market.domain });
      return { ...built, oneTimeKey };
    },
    async setNextTimestamp(seconds) {
      await provider.send("evm_setNextBlockTimestamp", [seconds]);
    },
    async latestTimestamp() {
      const block = await provider.getBlock("latest");
      return block!.timestamp;
    },
    async marketState() {
      const [bidCount, sizes, buyHeap, sellHeap] = await Promise.all([
        getBidCount(market),
        getHeapSizes(market),
        getHeapBidIds(market, 0),
        getHeapBidIds(market, 1),
      ]);
      return { bidCount, buys: sizes.buys, sells: sizes.sells, buyHeap, sellHeap };
    },
    async close() {
      await connection.close();
    },
  };
}

/** Re-signs a (tampered) bid with its one-time key, so that only the tampered property is wrong. */
export async function resign(bid: SignedBid, oneTimeKey: Wallet, market: MarketHandle): Promise<SignedBid> {
  const bidderSignature = (await oneTimeKey.signTypedData(market.domain, BID_TYPES, {
    side: bid.side,
    ciphertextHash: ciphertextHash(bid.left, bid.right),
    commitment: bid.commitment,
  })) as Hex;
  return { ...bid, bidderSignature };
}

/** Deterministic PRNG (mulberry32): the same seed gives the same sequence. */
export const seededRandom = mulberry32;

export function randomInt(random: () => number, min: number, maxExclusive: number): number {
  return min + Math.floor(random() * (maxExclusive - min));
}
