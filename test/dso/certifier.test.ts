// The DSO's version 2 bid services (PROTOCOL §4 certified bids, §5 hints) with a real SQLite file, real epoch keys,
// real pairings and the real v2 contract on a local chain: certified bids (DSO and meter mode) placed with the DSO's
// hints land where the reference puts them and match as it says; every refusal is named and changes nothing.
import { randomBytes } from "node:crypto";
import { Wallet, hexlify } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DsoDatabase } from "../../actors/db/dsoDatabase.ts";
import { CertifiedBidConflictError } from "../../actors/db/errors.ts";
import type { Certifier, CertifiedTicket } from "../../actors/dso/certifier.ts";
import type { EpochKeyVault } from "../../actors/dso/epochKeys.ts";
import { CertifiedBidUnknownError, EpochKeyError } from "../../actors/dso/errors.ts";
import { placeSlotBids, readBook, type SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import { SlotBooks } from "../../protocol/book/slotBooks.ts";
import { computeSlotCommitment } from "../../protocol/commitment.ts";
import { encryptBlockBid } from "../../protocol/encoding/blockBid.ts";
import type { BlockParams } from "../../protocol/encoding/blockTokens.ts";
import type { SlotOpening } from "../../protocol/encoding/certify.ts";
import { CertificationError } from "../../protocol/encoding/errors.ts";
import { epochOfSlot } from "../../protocol/epochs.ts";
import { V2_CALENDAR, V2_GAS, startV2Market, type V2Market } from "./v2Market.ts";

let v2: V2Market;
let market: SlotMarketHandle;
let db: DsoDatabase;
let vault: EpochKeyVault;
let certifier: Certifier;
let params: BlockParams;
let now: number;
let slot: number;
const calendar = V2_CALENDAR;
const GAS = V2_GAS;

beforeAll(async () => {
  const key = () => Wallet.createRandom();
  v2 = await startV2Market({ marketId: "certifier", meters: [{ meterId: "house-1", key: key() }, { meterId: "house-2", key: key() }] });
  ({ market, db, vault, certifier, params, now, slot } = v2);
}, 60_000);

afterAll(async () => {
  await v2?.close();
});

const opening = (side: 0 | 1, priceLevel: number, overrides: Partial<SlotOpening> = {}): SlotOpening => ({
  side,
  slot,
  priceLevel,
  quantityWh: 1_000 + priceLevel,
  salt: hexlify(randomBytes(32)) as `0x${string}`,
  seed: new Uint8Array(randomBytes(32)),
  ...overrides,
});

async function certified(side: 0 | 1, level: number, meterId = "house-1"): Promise<CertifiedTicket> {
  return certifier.certify({ meterId, bidder: Wallet.createRandom().address, opening: opening(side, level), notAfter: now + 1_800 }, now);
}

/** Places tickets in order with the DSO's hints against the chain's current books; the outcomes it predicted. */
async function place(tickets: readonly CertifiedTicket[]) {
  const lists = { buy: await readBook(market, slot, "buy"), sell: await readBook(market, slot, "sell") };
  const { hints, lists: after } = certifier.hintsFor(slot, lists, tickets.map((ticket) => ticket.bidder), now);
  const placed = await placeSlotBids(market, tickets.map((bid, i) => ({ bid, hint: hints[i]!.hint })), GAS);
  // The lists the DSO expected after the batch are the chain's.
  for (const side of ["buy", "sell"] as const) expect((await readBook(market, slot, side)).map((a) => a.toLowerCase()), side).toEqual(after[side].map((a) => a.toLowerCase()));
  return { hints, placed };
}

describe("certified bids and the DSO's hints (v2)", () => {
  it("certifies in DSO mode, stores the opening, signs the same ticket again, and the contract places it", async () => {
    const sellOpening = opening(1, 600);
    const bidder = Wallet.createRandom().address;
    const ticket = await certifier.certify({ meterId: "house-1", bidder, opening: sellOpening, notAfter: now + 1_800 }, now);
    expect(ticket.commitment).toBe(computeSlotCommitment({ bidder, ...sellOpening }));
    const stored = db.certifiedBid(bidder)!;
    expect(stored).toMatchObject({ meterId: "house-1", side: 1, slot, priceLevel: 600, quantityWh: 1_600, encryptAt: "dso", epoch: epochOfSlot(slot, calendar) });
    expect(stored.seed).toBe(hexlify(sellOpening.seed));
    // A lost reply: the same request gets the same ticket; the row is not touched.
    const again = await certifier.certify({ meterId: "house-1", bidder, opening: sellOpening, notAfter: now + 1_800 }, now);
    expect(again.ticketSignature).toBe(ticket.ticketSignature);
    expect(db.certifiedBid(bidder)).toEqual(stored);
    // …but not once that ticket has expired: its bidder is spent, a new bid needs a new one.
    await expect(certifier.certify({ meterId: "house-1", bidder, opening: sellOpening, notAfter: now + 3_000 }, stored.notAfter + 1)).rejects.toThrow(/expire before it is issued/);
    const { hints, placed } = await place([ticket]);
    expect(hints[0]!.outcome).toEqual({ placed: true, matchedWith: null });
    expect(placed.entries).toEqual([{ ok: true, matchedWith: null }]);
    expect((await readBook(market, slot, "sell")).map((a) => a.toLowerCase())).toEqual([bidder.toLowerCase()]);
  });

  it("certifies in meter mode only the encryption of the opening under the epoch's key", async () => {
    const buyOpening = opening(0, 420);
    const key = vault.load(epochOfSlot(slot, calendar));
    const meterCiphertext = encryptBlockBid(key.msk, key.tokenKey, params, buyOpening.priceLevel, buyOpening.seed);
    const bidder = Wallet.createRandom().address;
    const ticket = await certifier.certify({ meterId: "house-2", bidder, opening: buyOpening, notAfter: now + 1_800, meterCiphertext }, now);
    expect(ticket.ciphertext).toEqual(meterCiphertext);
    expect(db.certifiedBid(bidder)?.encryptAt).toBe("meter");
    const forged = encryptBlockBid(key.msk, key.tokenKey, params, 421, buyOpening.seed);
    const other = Wallet.createRandom().address;
    await expect(certifier.certify({ meterId: "house-2", bidder: other, opening: buyOpening, notAfter: now + 1_800, meterCiphertext: forged }, now)).rejects.toThrow(CertificationError);
    expect(db.certifiedBid(other)).toBeUndefined();
    await place([ticket]);
  });

  it("hints a whole batch in order: the chain places and matches every entry as the DSO predicted, the books as the reference", async () => {
    const levels: [0 | 1, number][] = [[0, 610], [1, 500], [1, 700], [0, 430], [0, 420], [1, 415], [0, 900], [1, 601]];
    const tickets = [];
    for (const [side, level] of levels) tickets.push(await certified(side, level, side === 0 ? "house-2" : "house-1"));
    // The reference: the books so far (a sell at 600, a buy at 420), then the batch.
    const reference = new SlotBooks(calendar);
    const sides = ["buy", "sell"] as const;
    const restore = async (side: "buy" | "sell") =>
      (await readBook(market, slot, side)).map((bidder) => {
        const record = db.certifiedBid(bidder)!;
        return { bidder, side, slot, level: record.priceLevel, notAfter: record.notAfter };
      });
    reference.restore(slot, { buy: await restore("buy"), sell: await restore("sell") });
    const { hints, placed } = await place(tickets);
    expect(placed.entries.every((entry) => entry.ok)).toBe(true);
    for (const [i, ticket] of tickets.entries()) {
      const expected = reference.place({ bidder: ticket.bidder, side: ticket.side, slot, level: levels[i]![1], notAfter: ticket.notAfter }, now);
      const matchedWith = expected.ok && expected.matchedWith !== null ? reference.bid(expected.matchedWith)!.bidder.toLowerCase() : null;
      expect(hints[i]!.outcome, `entry ${i}`).toEqual({ placed: true, matchedWith: matchedWith === null ? null : db.certifiedBid(matchedWith)!.bidder });
      const entry = placed.entries[i]!;
      expect(entry.ok ? (entry.matchedWith?.toLowerCase() ?? null) : `rejected ${entry.reason}`, `chain entry ${i}`).toBe(matchedWith);
    }
    for (const side of sides) {
      const onChain = (await readBook(market, slot, side)).map((a) => a.toLowerCase());
      expect(onChain, side).toEqual(reference.book(slot, side).map((id) => reference.bid(id)!.bidder.toLowerCase()));
    }
  });

  it("refuses by name: a closed slot, an epoch not taking bids, a level out of range, another bid under a used bidder; hints only for certified bids", async () => {
    const refuse = async (request: Parameters<Certifier["certify"]>[0]) => certifier.certify(request, now).then(() => "certified", (error: Error) => `${error.name}: ${error.message}`);
    const bidder = Wallet.createRandom().address;
    const base = { meterId: "house-1", bidder, notAfter: now + 1_800 };
    expect(await refuse({ ...base, opening: opening(0, 10, { slot: Math.floor(now / calendar.slotSeconds) }) })).toMatch(/^CertificationError: .*gate closure/);
    expect(await refuse({ ...base, opening: opening(0, 10, { slot: slot + 3 * calendar.slotsPerEpoch }) })).toMatch(/^CertificationError: .*epoch/);
    expect(await refuse({ ...base, opening: opening(0, 1024) })).toMatch(/^CertificationError: .*price level/);
    expect(db.certifiedBid(bidder)).toBeUndefined();
    await certifier.certify({ ...base, opening: opening(0, 10) }, now);
    const stored = db.certifiedBid(bidder);
    await expect(certifier.certify({ ...base, opening: opening(0, 11) }, now)).rejects.toThrow(CertifiedBidConflictError);
    await expect(certifier.certify({ ...base, meterId: "house-2", opening: opening(0, 10) }, now)).rejects.toThrow(CertifiedBidConflictError);
    expect(db.certifiedBid(bidder)).toEqual(stored);
    expect(() => certifier.hintsFor(slot, { buy: [], sell: [] }, [Wallet.createRandom().address], now)).toThrow(CertifiedBidUnknownError);
    expect(() => certifier.hintsFor(slot + 1, { buy: [], sell: [] }, [bidder], now)).toThrow(CertifiedBidUnknownError);
  });

  it("refuses an epoch whose key was destroyed, for good", async () => {
    // Noon of a day far from the chain's (nothing is placed): its next epoch takes bids, and its key goes.
    const noon = 2_000_000_000 - (2_000_000_000 % 86_400) + 43_200;
    const nextEpoch = epochOfSlot(Math.floor(noon / calendar.slotSeconds), calendar) + 1;
    const nextEpochSlot = nextEpoch * calendar.slotsPerEpoch + 5;
    const request = () => ({ meterId: "house-1", bidder: Wallet.createRandom().address, opening: opening(1, 3, { slot: nextEpochSlot }), notAfter: noon + 1_800 });
    await certifier.certify(request(), noon);
    expect(vault.destroy(nextEpoch)).toBe(true);
    await expect(certifier.certify(request(), noon)).rejects.toThrow(EpochKeyError);
    await expect(certifier.certify(request(), noon)).rejects.toThrow(/destroyed/);
  });
});
