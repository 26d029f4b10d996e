// Version 2 bids over the wire (PROTOCOL §4 v2, §5 v2, §6) with a real nats-server, a real local chain, real
// pairings, a real SQLite file and real epoch keys: a meter asks certified bids on `dso.certify` (sealed by the
// one-time key, signed inside by its long-term key), the gateway's placer asks the DSO's hints on `dso.hints`, and
// the bids land and match on the slot market. Refusals come back by name; a wiretap on `>` sees no opening.
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Wallet, hexlify } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DsoDatabase } from "../../actors/db/dsoDatabase.ts";
import { serveBidServices } from "../../actors/dso/bidServices.ts";
import { MeterRegistry } from "../../actors/dso/registry.ts";
import { dsoHintSource } from "../../actors/gateway/dsoHints.ts";
import { createSlotPlacer } from "../../actors/gateway/slotPlacer.ts";
import { requestCertifiedBid } from "../../actors/meter/certification.ts";
import { RemoteError } from "../../actors/nats/errors.ts";
import type { Service } from "../../actors/nats/rpc.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import { placeSlotBids, readBook, type CertifiedBid, type SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import { computeSlotCommitment } from "../../protocol/commitment.ts";
import type { BlockParams } from "../../protocol/encoding/blockTokens.ts";
import type { SlotOpening } from "../../protocol/encoding/certify.ts";
import { V2_CALENDAR, startV2Market, type V2Market } from "./v2Market.ts";
import { marketSubjects } from "../../protocol/wire/subjects.ts";

const calendar = V2_CALENDAR;
const subjects = marketSubjects("v2-bids");
const meterKey = Wallet.createRandom();
const strangerKey = Wallet.createRandom();
let v2: V2Market;
let nats: NatsServerHandle;
let nc: NatsConnection;
let market: SlotMarketHandle;
let db: DsoDatabase;
let services: Service[];
let dso: Wallet;
let params: BlockParams;
let now: number;
let slot: number;
const wire: string[] = [];

beforeAll(async () => {
  [nats, v2] = await Promise.all([startNatsServer({ jetstream: false }), startV2Market({ marketId: "v2-bids", meters: [{ meterId: "house-7", key: meterKey }] })]);
  ({ market, db, dso, params, now, slot } = v2);
  nc = await connect({ servers: nats.url });
  nc.subscribe(">", { callback: (_error, msg) => void wire.push(`${msg.subject} ${new TextDecoder().decode(msg.data)}`) });
  // House 8 is provisioned but never enrolled.
  const registry = new MeterRegistry([
    { meterId: "house-7", address: meterKey.address as `0x${string}`, name: "House 7" },
    { meterId: "house-8", address: strangerKey.address as `0x${string}`, name: "House 8" },
  ]);
  services = await serveBidServices({ nc, subjects, wallet: dso, certifier: v2.certifier, registry, db, params, now: () => now });
}, 60_000);

afterAll(async () => {
  await Promise.all((services ?? []).map((service) => service.stop()));
  await nc?.close();
  await Promise.all([v2?.close(), nats?.stop()]);
});

const opening = (side: 0 | 1, priceLevel: number, overrides: Partial<SlotOpening> = {}): SlotOpening => ({
  side,
  slot,
  priceLevel,
  quantityWh: 1_234,
  salt: hexlify(randomBytes(32)) as `0x${string}`,
  seed: new Uint8Array(randomBytes(32)),
  ...overrides,
});

const ask = (input: SlotOpening, overrides: Partial<Parameters<typeof requestCertifiedBid>[2]> = {}) =>
  requestCertifiedBid(nc, subjects, { meterId: "house-7", meterKey, oneTimeKey: Wallet.createRandom(), dsoPublicKey: dso.signingKey.publicKey, opening: input, notAfter: now + 1_800, params, ...overrides });

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => "certified",
    (error: unknown) => (error instanceof RemoteError ? `${error.code}: ${error.reply.message}` : `not a RemoteError: ${String(error)}`),
  );

describe("v2 bids over NATS", () => {
  it("certifies a meter's bids over the sealed endpoint, and the gateway places and matches them with the DSO's hints", async () => {
    const sellOpening = opening(1, 500);
    const bids: CertifiedBid[] = [];
    for (const input of [sellOpening, opening(1, 520), opening(0, 480), opening(0, 510)]) bids.push(await ask(input));
    expect(bids[0]!.commitment).toBe(computeSlotCommitment({ bidder: bids[0]!.bidder, ...sellOpening }));
    expect(db.certifiedBid(bids[0]!.bidder)).toMatchObject({ meterId: "house-7", priceLevel: 500, quantityWh: 1_234 });

    const placer = createSlotPlacer({
      hints: dsoHintSource(nc, subjects, 5_000),
      readLists: async (at) => ({ buy: await readBook(market, at, "buy"), sell: await readBook(market, at, "sell") }),
      send: async (entries) => (await placeSlotBids(market, entries, { gasLimit: 16_000_000n })).entries,
      now: () => now,
      attempts: 2,
    });
    const results = await placer.place(slot, bids);
    // Sells rest at 500 and 520; the buy at 480 rests; the buy at 510 meets the sell at 500.
    expect(results.map((result) => (result.outcome === "placed" ? (result.matchedWith?.toLowerCase() ?? null) : result.outcome))).toEqual([null, null, null, bids[0]!.bidder.toLowerCase()]);
    expect((await readBook(market, slot, "sell")).map((a) => a.toLowerCase())).toEqual([bids[1]!.bidder.toLowerCase()]);

    // Nothing of the openings in clear on the wire: no meter id, long-term address, salt or seed.
    await nc.flush();
    const seen = wire.join("\n").toLowerCase();
    expect(seen).toContain("sealed.request");
    for (const secret of ["house-7", meterKey.address.slice(2), sellOpening.salt.slice(2), hexlify(sellOpening.seed).slice(2), '"pricelevel"', '"quantitywh"'])
      expect(seen, secret).not.toContain(secret.toLowerCase());
  });

  it("refuses by name, sealed back: a stranger's key, an unknown or unenrolled meter, a closed slot, a past expiry, a bidder reused", async () => {
    expect(await refusal(ask(opening(0, 10), { meterKey: strangerKey }))).toBe("unauthorized: unauthenticated: notTheProvisionedKey");
    expect(await refusal(ask(opening(0, 10), { meterId: "house-9" }))).toBe("unauthorized: unauthenticated: unknownMeter");
    expect(await refusal(ask(opening(0, 10), { meterId: "house-8", meterKey: strangerKey }))).toBe("unauthorized: unauthenticated: notEnrolled");
    expect(await refusal(ask(opening(0, 10, { slot: Math.floor(now / calendar.slotSeconds) })))).toMatch(/^rejected: the bid's slot is past its gate closure/);
    expect(await refusal(ask(opening(0, 1_023), { notAfter: now - 1 }))).toMatch(/^rejected: the ticket would expire/);
    const reused = Wallet.createRandom();
    await ask(opening(1, 300), { oneTimeKey: reused });
    expect(await refusal(ask(opening(1, 301), { oneTimeKey: reused }))).toMatch(/^conflict: /);
    // The hints endpoint knows only certified bidders.
    const hints = dsoHintSource(nc, subjects, 5_000);
    expect(await refusal(hints(slot, { buy: [], sell: [] }, [Wallet.createRandom().address], now))).toMatch(/^not-found: no certified bid/);
  });

  it("a request sealed by another key than the bidder's is refused before anything is stored", async () => {
    const oneTime = Wallet.createRandom();
    const other = Wallet.createRandom();
    // The meter signs a request for `oneTime`, but seals it with another one-time key.
    const { callSealed } = await import("../../actors/secure/sealedRpc.ts");
    const { signMessageFields } = await import("../../actors/secure/signed.ts");
    const { endpoints } = await import("../../protocol/wire/endpoints.ts");
    const input = opening(0, 20);
    const request = signMessageFields(
      { type: "certify.request" as const, meterId: "house-7", bidder: oneTime.address as `0x${string}`, opening: { ...input, seed: hexlify(input.seed) as `0x${string}` }, notAfter: now + 600 },
      meterKey,
      subjects.dso.certify,
    );
    expect(await refusal(callSealed(nc, subjects, endpoints.certify, request as never, { wallet: other, recipientPublicKey: dso.signingKey.publicKey }))).toBe(
      "unauthorized: unauthenticated: notSealedByBidder",
    );
    expect(db.certifiedBid(oneTime.address)).toBeUndefined();
  });
});
