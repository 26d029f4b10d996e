// Integration (real nats-server, the real EDR chain with the slot market, real pairings, the DSO's real certifier, epoch
// keys and SQLite file, its bid services over NATS for `dso.hints`): the gateway runtime in a version 2 market takes
// `bid.submit.v2` from the bids stream and places every bid once, per slot with hints, as the plaintext reference
// books predict; announces placements and matches in the version 1 event schemas; acks a redelivered bid as a
// duplicate; hints from public data when the DSO's hint service is gone; relays cancels; refuses malformed, altered
// and version 1 submissions without touching the chain; and announces every bid still resting at its slot's gate
// closure as expired (the slot purged on chain).
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { trace } from "@opentelemetry/api";
import { Wallet, hexlify } from "ethers";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EIP7825_TX_GAS_CAP } from "../../actors/chain/txGasCap.ts";
import { serveBidServices } from "../../actors/dso/bidServices.ts";
import type { CertifiedTicket } from "../../actors/dso/certifier.ts";
import { MeterRegistry } from "../../actors/dso/registry.ts";
import { slotSubmissionOf } from "../../actors/gateway/bidWire.ts";
import { startGatewayRuntime, type GatewayRuntime } from "../../actors/gateway/runtime.ts";
import { dedupIds, ensureStreams, publishDeduplicated } from "../../actors/nats/jetstream.ts";
import { answer, call, type Service } from "../../actors/nats/rpc.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import type { Clock } from "../../actors/runtime/clock.ts";
import { signCancel } from "../../contracts/client/index.ts";
import { decodeSlotMarketEvents, placeSlotBids, readBook, type SlotMarketEvent } from "../../contracts/client/v2/slotMarket.ts";
import { SlotBooks, gateClosureOf } from "../../protocol/book/slotBooks.ts";
import type { MarketDescription } from "../../protocol/domain.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import { bidSubmissionSchema, marketEventSchema, slotBidSubmissionSchema, stateSnapshotSchema, type MarketEvent, type SlotBidSubmission } from "../../protocol/wire/schemas.ts";
import { DURABLES, marketSubjects, streamNames } from "../../protocol/wire/subjects.ts";
import { mulberry32 } from "../../actors/runtime/mulberry32.ts";
import { V2_CALENDAR, startV2Market, type V2Market } from "../dso/v2Market.ts";
import { testConfig, until } from "./fixture.ts";

const marketId = `gw-v2-${process.pid}`;
const s = marketSubjects(marketId);
const streams = streamNames(marketId);
const meterKey = Wallet.createRandom();
const calendar = V2_CALENDAR;

let nats: NatsServerHandle;
let v2: V2Market;
let dsoNc: NatsConnection;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let marketService: Service;
let bidServices: Service[];
let gateway: GatewayRuntime;
let dataDir: string;
/** What the market's clock reads: the chain's time, moved with it (evm_increaseTime). */
let clockOffset = 0;
const clock: Clock = {
  now: () => Date.now() / 1000 + clockOffset,
  msUntil: (unixSeconds) => Math.max(0, (unixSeconds - (Date.now() / 1000 + clockOffset)) * 1000),
  speed: 1,
};
/** Each bid's level and one-time key (the reference books and the cancels need them). */
const levels = new Map<string, number>();
const oneTimeKeys = new Map<string, Wallet>();

beforeAll(async () => {
  [nats, v2] = await Promise.all([startNatsServer(), startV2Market({ marketId, meters: [{ meterId: "house-1", key: meterKey }] })]);
  clockOffset = v2.now - Date.now() / 1000;
  dsoNc = await connect({ servers: nats.url, name: "dso-v2-test" });
  nc = await connect({ servers: nats.url, name: "gateway-v2-test" });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, marketId);
  const description: MarketDescription = {
    marketId,
    chainId: Number(v2.chain.chainId),
    contractAddress: v2.market.address as `0x${string}`,
    ticketSigner: v2.dso.address as `0x${string}`,
    fhipe: { curve: "BN254", dimension: v2.params.dim },
    priceLevels: { firstPriceMicroPerKWh: 0, stepMicroPerKWh: 500, count: v2.params.levels },
    clearingRule: "midpoint",
    slots: { width: v2.params.width, encryptAt: "dso", calendar },
  };
  // The DSO's side: the market description on `dso.market`, its hints on `dso.hints` (and certify, unused here).
  marketService = answer(dsoNc, s, endpoints.marketInfo, () => ({
    type: "market.info.reply" as const,
    market: description,
    dso: { address: v2.dso.address as `0x${string}`, publicKey: v2.dso.signingKey.publicKey as `0x${string}` },
  }));
  await marketService.ready;
  const registry = new MeterRegistry([{ meterId: "house-1", address: meterKey.address as `0x${string}`, name: "House 1" }]);
  bidServices = await serveBidServices({ nc: dsoNc, subjects: s, wallet: v2.dso, certifier: v2.certifier, registry, db: v2.db, params: v2.params, now: () => Math.floor(clock.now()) });
  dataDir = await mkdtemp(join(tmpdir(), "gridveil-gateway-v2-"));
  // No --contract: the gateway asks the DSO, learns the market is version 2 and runs the slot market.
  gateway = await startGateway();
}, 120_000);

function startGateway(): Promise<GatewayRuntime> {
  return startGatewayRuntime({
    marketId,
    natsUrl: nats.url,
    rpcUrl: v2.chain.rpcUrl,
    gatewayPrivateKey: v2.chain.accountKeys[2]!,
    dataDir,
    tracer: trace.getTracer("gateway-v2-test"),
    logger: pino({ level: process.env.GRIDVEIL_LOG_LEVEL ?? "silent" }),
    config: testConfig(),
    clock,
    ackWaitMs: 2_000,
    pollIntervalMs: 50,
    stopTimeoutMs: 20_000,
  });
}

afterAll(async () => {
  await gateway?.stop();
  await Promise.all([marketService?.stop(), ...(bidServices ?? []).map((service) => service.stop())]);
  await Promise.all([nc?.close(), dsoNc?.close()]);
  await Promise.all([v2?.close(), nats?.stop()]);
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

/** A certified bid as the DSO answers a meter (its level and one-time key remembered for the test). */
async function certified(slot: number, side: "buy" | "sell", level: number, lifetimeSeconds = 1_800): Promise<CertifiedTicket> {
  const key = new Wallet(hexlify(randomBytes(32)));
  const now = Math.floor(clock.now());
  const ticket = await v2.certifier.certify(
    {
      meterId: "house-1",
      bidder: key.address,
      opening: { side: side === "buy" ? 0 : 1, slot, priceLevel: level, quantityWh: 500, salt: hexlify(randomBytes(32)) as `0x${string}`, seed: new Uint8Array(randomBytes(32)) },
      notAfter: now + lifetimeSeconds,
    },
    now,
  );
  levels.set(key.address.toLowerCase(), level);
  oneTimeKeys.set(key.address.toLowerCase(), key);
  return ticket;
}

async function submit(submission: SlotBidSubmission | Record<string, unknown>, msgId?: string): Promise<void> {
  const bidder = String((submission as { bidder?: unknown }).bidder ?? "none");
  await js.publish(s.gateway.submit, new TextEncoder().encode(JSON.stringify(submission)), { msgID: msgId ?? (bidder.startsWith("0x") ? dedupIds.bid(bidder) : bidder) });
}

type Record_ = { msgId: string | undefined; event: MarketEvent };
async function marketEvents(): Promise<Record_[]> {
  const info = await jsm.streams.info(streams.matches);
  const records: Record_[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq += 1) {
    const stored = await jsm.streams.getMessage(streams.matches, { seq });
    if (stored === null) continue;
    records.push({ msgId: stored.header?.get("Nats-Msg-Id"), event: marketEventSchema.parse(stored.json()) });
  }
  return records;
}

const bidsIdle = async () => {
  const info = await jsm.consumers.info(streams.bids, DURABLES.gatewayBids);
  return info.num_pending === 0 && info.num_ack_pending === 0;
};

async function chainLists(slot: number) {
  return { buy: (await readBook(v2.market, slot, "buy")).map((a) => a.toLowerCase()), sell: (await readBook(v2.market, slot, "sell")).map((a) => a.toLowerCase()) };
}

/** Every slot market event since the deployment, decoded, with its transaction. */
async function chainEvents(): Promise<(SlotMarketEvent & { txHash: string })[]> {
  const logs = await v2.provider.getLogs({ address: v2.market.address, fromBlock: 0 });
  return logs.flatMap((log) => decodeSlotMarketEvents(v2.market, [log]).map((event) => ({ ...event, txHash: log.transactionHash })));
}

describe("the gateway runtime, version 2", () => {
  it("places certified bids of two slots once each, per slot as the reference books predict, and announces placements and matches", async () => {
    expect(gateway.version).toBe(2);
    const random = mulberry32(2);
    const slots = [v2.slot, v2.slot + 1];
    const bids: CertifiedTicket[] = [];
    for (let i = 0; i < 24; i++) bids.push(await certified(slots[i % 2]!, random() < 0.5 ? "buy" : "sell", 500 + Math.floor(random() * 40)));
    for (const bid of bids) await submit(slotSubmissionOf(bid, Date.now()));
    await until(bidsIdle, 90_000, "every delivery acked");
    expect(gateway.counters()).toMatchObject({ bidsPlaced: 24, duplicates: 0, rejected: 0, refused: 0 });

    // The reference, in stream order per slot (the order the gateway places them in).
    const reference = new SlotBooks(calendar);
    const expectedMatches: string[] = [];
    for (const bid of bids) {
      const placed = reference.place({ bidder: bid.bidder, side: bid.side, slot: bid.slot, level: levels.get(bid.bidder.toLowerCase())!, notAfter: bid.notAfter }, Math.floor(clock.now()));
      expect(placed.ok).toBe(true);
      if (placed.ok && placed.matchedWith !== null) {
        const resting = reference.bid(placed.matchedWith)!.bidder;
        const [buy, sell] = bid.side === "buy" ? [bid.bidder, resting] : [resting, bid.bidder];
        expectedMatches.push(`${buy.toLowerCase()}/${sell.toLowerCase()}`);
      }
    }
    expect(expectedMatches.length).toBeGreaterThan(2);
    for (const slot of slots) {
      const expected = { buy: reference.book(slot, "buy").map((id) => reference.bid(id)!.bidder.toLowerCase()), sell: reference.book(slot, "sell").map((id) => reference.bid(id)!.bidder.toLowerCase()) };
      expect(await chainLists(slot), `slot ${slot}`).toEqual(expected);
    }
    // Each bidder on chain exactly once: as a resting placement or as the arriving side of a match.
    const events = await chainEvents();
    const arrivals = events.flatMap((event) =>
      event.type === "placed" ? [event.bidder.toLowerCase()] : event.type === "matched" ? [(event.arriving === "buy" ? event.buyBidder : event.sellBidder).toLowerCase()] : [],
    );
    expect(arrivals.sort()).toEqual(bids.map((bid) => bid.bidder.toLowerCase()).sort());

    // The version 1 event schemas on NATS: one `market.matched` per match (with its position), one `market.placed` per resting bid.
    const matchedOnNats = async () => (await marketEvents()).flatMap((r) => (r.event.type === "market.matched" ? [r.event] : []));
    await until(async () => (await matchedOnNats()).length === expectedMatches.length, 20_000, "the match notices");
    const matched = await matchedOnNats();
    expect(matched.map((m) => `${m.buyId.toLowerCase()}/${m.sellId.toLowerCase()}`).sort()).toEqual([...expectedMatches].sort());
    for (const m of matched) expect(events.some((event) => event.type === "matched" && event.txHash === m.txHash && event.buyBidder.toLowerCase() === m.buyId.toLowerCase())).toBe(true);
    const placedOnNats = (await marketEvents()).filter((r) => r.event.type === "market.placed");
    expect(placedOnNats).toHaveLength(24 - expectedMatches.length);

    // Every transaction stays within EIP-7825's cap (the node itself allows 30 M).
    const placements = [...new Set(events.map((event) => event.txHash))];
    for (const hash of placements) expect((await v2.provider.getTransaction(hash))!.gasLimit).toBeLessThanOrEqual(EIP7825_TX_GAS_CAP);
    // `gridveil watch` reads the gateway's state snapshots: every slot's book counts and the matches come with them.
    const summary = await until(async () => {
      const snapshots = nc.subscribe(s.gateway.state, { max: 1 });
      for await (const msg of snapshots) {
        const { summary: seen } = stateSnapshotSchema.parse(msg.json());
        return seen["matchesSeen"] === expectedMatches.length ? seen : undefined;
      }
      return undefined;
    }, 20_000, "a state snapshot with the matches");
    for (const slot of slots) {
      expect(summary[`slot${slot}.buy`] ?? 0, `slot ${slot}`).toBe(reference.book(slot, "buy").length);
      expect(summary[`slot${slot}.sell`] ?? 0, `slot ${slot}`).toBe(reference.book(slot, "sell").length);
    }
    const counters = gateway.counters().slots!;
    expect(counters.hints.fromDso).toBeGreaterThan(0);
    expect(counters.hints.fromPublic).toBe(0);
    expect(counters.placer.transactions).toBeGreaterThanOrEqual(4);
  });

  it("acks a redelivered bid (same bidder, another message id) as a duplicate, and places it once", async () => {
    const bid = await certified(v2.slot + 2, "sell", 700);
    const submission = slotSubmissionOf(bid, Date.now());
    await submit(submission);
    await until(async () => (await marketEvents()).some((r) => r.event.type === "market.placed" && r.event.bidder === submission.bidder), 30_000, "the placement");
    const before = gateway.counters();
    await submit(submission, `again:${submission.bidder}`);
    await until(() => gateway.counters().duplicates === before.duplicates + 1 || undefined, 30_000, "the duplicate");
    await until(bidsIdle, 10_000, "acked");
    expect(gateway.counters()).toMatchObject({ bidsPlaced: before.bidsPlaced, rejected: 0 });
    expect((await marketEvents()).filter((r) => r.event.type === "market.rejected")).toEqual([]);
    expect((await chainLists(v2.slot + 2)).sell).toEqual([submission.bidder.toLowerCase()]);
  });

  it("refuses a malformed, an altered and a version 1 submission by name, counts them, and changes nothing on chain", async () => {
    const slot = v2.slot + 3;
    const listsBefore = await chainLists(slot);
    const blockBefore = await v2.provider.getBlockNumber();
    const refusedBefore = gateway.counters().refused;
    await js.publish(s.gateway.submit, new TextEncoder().encode("{not json"), { msgID: "v2-garbage" });
    // One word of the ciphertext changed: the DSO's ticket no longer covers it.
    const altered = slotSubmissionOf(await certified(slot, "buy", 600), Date.now());
    const ciphertext = [...altered.ciphertext];
    ciphertext[3] = (BigInt(ciphertext[3]!) + 1n).toString();
    await submit({ ...altered, ciphertext });
    // A version 1 submission (well-formed as such) in a version 2 market.
    const v1Bidder = Wallet.createRandom().address;
    const v1 = bidSubmissionSchema.parse({
      type: "bid.submit",
      bidder: v1Bidder,
      side: 0,
      ciphertext: { left: ["1", "2"], right: ["1", "2", "3", "4"] },
      commitment: `0x${"11".repeat(32)}`,
      ticket: { notAfter: 2 ** 31, signature: `0x${"22".repeat(65)}` },
      bidSignature: `0x${"33".repeat(65)}`,
      submittedAt: Date.now(),
    });
    await submit(v1);
    await until(() => gateway.counters().refused === refusedBefore + 3 || undefined, 20_000, "three refusals");
    await until(bidsIdle, 10_000, "every delivery terminated");
    const rejected = async () => (await marketEvents()).flatMap((r) => (r.event.type === "market.rejected" ? [r.event] : []));
    await until(async () => (await rejected()).length === 2, 10_000, "two rejection notices");
    expect(await rejected()).toEqual([
      expect.objectContaining({ bidder: altered.bidder, error: "BadTicket" }),
      expect.objectContaining({ bidder: v1Bidder, error: "WrongDesign" }),
    ]);
    expect(await chainLists(slot)).toEqual(listsBefore);
    expect(await v2.provider.getBlockNumber()).toBe(blockBefore);
    expect(gateway.actor.getSnapshot().status).toBe("active");
    // The schemas agree: the v2 submission the gateway takes is the wire's.
    expect(slotBidSubmissionSchema.safeParse(altered).success).toBe(true);
  });

  it("relays a bidder's signed cancel to the slot market and announces it", async () => {
    const slot = v2.slot + 4;
    const first = await certified(slot, "buy", 300);
    const second = await certified(slot, "buy", 200);
    await submit(slotSubmissionOf(first, Date.now()));
    await submit(slotSubmissionOf(second, Date.now()));
    await until(async () => (await chainLists(slot)).buy.length === 2, 30_000, "two resting buys");
    // The second rests behind the first: the cancel names its predecessor (read from the chain).
    const signature = await signCancel(oneTimeKeys.get(second.bidder.toLowerCase())!, v2.market.domain as Parameters<typeof signCancel>[1]);
    const reply = await call(nc, s, endpoints.cancel, { type: "bid.cancel", bidder: second.bidder as `0x${string}`, signature }, { timeoutMs: 20_000 });
    expect(reply).toMatchObject({ status: "cancelled" });
    expect((await chainLists(slot)).buy).toEqual([first.bidder.toLowerCase()]);
    await until(async () => (await marketEvents()).some((r) => r.event.type === "market.cancelled" && r.event.bidder === second.bidder), 10_000, "the cancel notice");
    const again = await call(nc, s, endpoints.cancel, { type: "bid.cancel", bidder: second.bidder as `0x${string}`, signature }, { timeoutMs: 20_000 });
    expect(again.status).toBe("not-open");
  });

  it("with the DSO's hint service stopped, hints from public data (resting bids it never saw included) and places as the reference", async () => {
    const slot = v2.slot + 5;
    // Resting bids another process placed: the gateway knows them only from the chain (their calldata).
    const resting = [await certified(slot, "sell", 520), await certified(slot, "sell", 560), await certified(slot, "buy", 480)];
    const direct = v2.certifier.hintsFor(slot, { buy: [], sell: [] }, resting.map((bid) => bid.bidder), Math.floor(clock.now()));
    await placeSlotBids(v2.market, resting.map((bid, index) => ({ bid, hint: direct.hints[index]!.hint })), { gasLimit: 16_000_000n });
    await bidServices[1]!.stop();
    const before = gateway.counters().slots!.hints;
    const batch = [await certified(slot, "buy", 530), await certified(slot, "sell", 470), await certified(slot, "sell", 560), await certified(slot, "buy", 481)];
    const lists = { buy: await readBook(v2.market, slot, "buy"), sell: await readBook(v2.market, slot, "sell") };
    const predicted = v2.certifier.hintsFor(slot, lists, batch.map((bid) => bid.bidder), Math.floor(clock.now()));
    const placedBefore = gateway.counters().bidsPlaced;
    for (const bid of batch) await submit(slotSubmissionOf(bid, Date.now()));
    await until(() => gateway.counters().bidsPlaced === placedBefore + batch.length || undefined, 120_000, "the batch placed");
    await until(bidsIdle, 10_000, "acked");
    expect(await chainLists(slot)).toEqual({ buy: predicted.lists.buy.map((a) => a.toLowerCase()), sell: predicted.lists.sell.map((a) => a.toLowerCase()) });
    const after = gateway.counters().slots!.hints;
    expect(after.fromPublic).toBeGreaterThan(before.fromPublic);
    expect(after.dsoFailures).toBeGreaterThan(before.dsoFailures);
  });

  it("announces every bid still resting at its slot's gate closure as expired (the slot purged on chain), also after a restart", async () => {
    const slot = v2.slot + 6;
    const resting = [await certified(slot, "buy", 100), await certified(slot, "buy", 90), await certified(slot, "sell", 900)];
    for (const bid of resting) await submit(slotSubmissionOf(bid, Date.now()));
    await until(async () => {
      const lists = await chainLists(slot);
      return lists.buy.length + lists.sell.length === 3;
    }, 30_000, "three resting bids");
    // A new gateway process: its cursor is past these placements, and it must still know the slot holds bids.
    const placedOf = async () => (await marketEvents()).flatMap((r) => (r.event.type === "market.placed" ? [r.event.bidder] : []));
    await until(async () => (await placedOf()).filter((bidder) => resting.some((bid) => bid.bidder === bidder)).length === 3, 10_000, "the placements announced");
    await gateway.stop();
    // The chain moves on while it is down: the new gateway's follower has blocks to read at once.
    await v2.provider.send("evm_mine", []);
    await v2.provider.send("evm_mine", []);
    gateway = await startGateway();
    // The chain and the market's clock move past the slot's gate closure together.
    const closure = gateClosureOf(slot, calendar);
    const ahead = closure - Math.floor(clock.now()) + 5;
    await v2.provider.send("evm_increaseTime", [ahead]);
    await v2.provider.send("evm_mine", []);
    clockOffset += ahead;
    const expired = async () => (await marketEvents()).flatMap((r) => (r.event.type === "market.expired" ? [r.event] : []));
    const ours = async () => (await expired()).filter((e) => resting.some((bid) => bid.bidder === e.bidder));
    await until(async () => (await ours()).length === 3, 30_000, "the expiry notices");
    const notices = await ours();
    for (const bid of resting) {
      expect(notices.find((e) => e.bidder === bid.bidder)).toMatchObject({ side: bid.side === "buy" ? 0 : 1, notAfter: closure });
    }
    expect(await chainLists(slot)).toEqual({ buy: [], sell: [] });
    expect(gateway.counters().slots!.sweeper.purged).toBeGreaterThanOrEqual(3);
  });
});
