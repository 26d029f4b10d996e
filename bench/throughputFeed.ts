// The throughput bench's pre-generated bids (PROTOCOL §5 bidding, the paper's second setup): enrolled meters get
// DSO tickets, encrypt and sign in advance (version 2: the DSO certifies each opening, §4 v2; for the plaintext
// market, the bench signs clear levels); then every submission is published on the bids stream as fast as JetStream
// takes it.
import { ThroughputBenchError } from "./errors.ts";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { getAddress, hexlify, randomBytes, Wallet } from "ethers";
import { encryptBid } from "../protocol/encoding/bidCiphertext.ts";
import { precomputeTables, randomScalar } from "../protocol/fhipe/fhipe.ts";
import { enrol, type Enrolment } from "../actors/meter/enrolment.ts";
import { encode } from "../actors/nats/codec.ts";
import { connectNats } from "../actors/nats/connect.ts";
import { dedupIds } from "../actors/nats/jetstream.ts";
import { callSealed, type SealingWallet } from "../actors/secure/sealedRpc.ts";
import { endpoints } from "../protocol/wire/endpoints.ts";
import { bidSubmissionSchema, slotBidSubmissionSchema, type BidSubmission, type TicketRequest } from "../protocol/wire/schemas.ts";
import { requestCertifiedBid } from "../actors/meter/certification.ts";
import { slotSubmissionOf } from "../actors/gateway/bidWire.ts";
import { encryptBlockBid } from "../protocol/encoding/blockBid.ts";
import { blockParams } from "../protocol/encoding/blockTokens.ts";
import type { SlotOpening } from "../protocol/encoding/certify.ts";
import { randomSalt } from "../protocol/commitment.ts";
import { epochOfSlot } from "../protocol/epochs.ts";
import { gateClosureOf } from "../protocol/book/slotBooks.ts";
import { marketSubjects, type MarketSubjects } from "../protocol/wire/subjects.ts";
import { signMessageFields } from "../actors/secure/signed.ts";
import { buildPlaintextBid } from "../contracts/client/bench/plaintextMarket.ts";
import { buildBid, marketDomain, signTicket, type MarketDomain, type SignedBid } from "../contracts/client/index.ts";
import type { BenchMeter } from "./throughputMarket.ts";
import { type Hex } from "../protocol/base/hex.ts";

/** One bid of the bench's plan. */
export type BenchBid = { side: 0 | 1; priceLevel: number; quantityWh: number };

/** A submission ready to publish: its encoded bytes and its dedup id. */
export type PreparedBid = { bidder: string; bytes: Uint8Array };

/** Lifetime of every bench ticket: far beyond any run, so that no bid expires on the book. */
export const BENCH_TICKET_LIFETIME_SECONDS = 3_600;
/** Ticket (version 2: certification) requests in flight while pre-generating. */
const TICKET_CONCURRENCY = 16;
/** How long a pre-generating request waits for the DSO (it certifies one bid after another). */
const REQUEST_TIMEOUT_MS = 30_000;

function oneTimeKey(): Wallet {
  return new Wallet(hexlify(randomBytes(32)));
}

function prepared(bid: SignedBid): PreparedBid {
  const submission: BidSubmission = {
    type: "bid.submit",
    bidder: bid.bidder,
    side: bid.side,
    // Decimal EVM words, as meters send them (actors/meter/wire.ts submissionOf).
    ciphertext: { left: bid.left.map(String), right: bid.right.map(String) },
    commitment: bid.commitment,
    ticket: { notAfter: Number(bid.notAfter), signature: bid.ticketSignature },
    bidSignature: bid.bidderSignature,
    submittedAt: Date.now(),
  };
  return { bidder: bid.bidder, bytes: encode(bidSubmissionSchema, submission) };
}

/** Runs `work` over `items` with at most `limit` at once, in order of start. */
async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

export type PregenerateEncryptedOptions = {
  natsUrl: string;
  marketId: string;
  levels: number;
  /** Provisioned meters; bid i comes from meter i mod M. */
  meters: readonly BenchMeter[];
  bids: readonly BenchBid[];
  onBid?: () => void;
};

/** Enrols the meters, then for every bid: one-time key, DSO ticket over NATS, FHIPE encryption, EIP-712 signature. */
export async function pregenerateEncrypted(options: PregenerateEncryptedOptions): Promise<PreparedBid[]> {
  const subjects = marketSubjects(options.marketId);
  const clients = await connectNats({ url: options.natsUrl, name: "gridveil-bench-feed" });
  try {
    const enrolments = [];
    for (const meter of options.meters) {
      enrolments.push(await enrol({ nc: clients.nc, subjects, meterId: meter.meterId, name: meter.name, meterKey: new Wallet(meter.key) }));
    }
    const first = enrolments[0];
    if (first === undefined) return [];
    // Every meter of a market holds the same msk: one set of fixed-base tables serves them all.
    const msk = first.msk;
    if (msk === null) throw new ThroughputBenchError({ kind: "notVersion1", market: first.market.marketId });
    precomputeTables(msk);
    const domain = marketDomain(BigInt(first.market.chainId), first.market.contractAddress);
    return await inParallel(options.bids, TICKET_CONCURRENCY, async (bid, index) => {
      const meterIndex = index % options.meters.length;
      const meter = options.meters[meterIndex]!;
      const key = oneTimeKey();
      const ticket = await requestTicket(clients.nc, subjects, first.dso.publicKey, meter, key, bid.side);
      const randomizers = { alpha: randomScalar(), beta: randomScalar() };
      const ciphertext = encryptBid(msk, options.levels, bid.priceLevel, randomizers);
      const built = await buildBid({
        msk,
        levels: options.levels,
        side: bid.side,
        priceLevel: bid.priceLevel,
        quantityWh: bid.quantityWh,
        oneTimeKey: key,
        ticket: { bidder: key.address as Hex, notAfter: BigInt(ticket.notAfter), signature: ticket.signature as Hex },
        domain,
        randomizers,
        ciphertext,
      });
      options.onBid?.();
      return prepared(built.bid);
    });
  } finally {
    await clients.nc.close().catch(() => undefined);
  }
}

export type PregenerateCertifiedOptions = {
  natsUrl: string;
  marketId: string;
  /** Provisioned meters; bid i comes from meter i mod M. */
  meters: readonly BenchMeter[];
  bids: readonly BenchBid[];
  /** The delivery slot every bid is for (open until long after the run). */
  slot: number;
  onBid?: () => void;
};

/**
 * Version 2 (PROTOCOL §4 v2): enrols the meters, then for every bid a one-time key and an opening, certified by the
 * DSO on `dso.certify` as a meter asks for it (`requestCertifiedBid`; in meter mode the feeder encrypts under the
 * epoch key it was sent and the DSO checks it), then its `bid.submit.v2` bytes (`slotSubmissionOf`).
 */
export async function pregenerateCertified(options: PregenerateCertifiedOptions): Promise<PreparedBid[]> {
  const subjects = marketSubjects(options.marketId);
  const clients = await connectNats({ url: options.natsUrl, name: "gridveil-bench-feed" });
  try {
    const enrolments: Enrolment[] = [];
    for (const meter of options.meters) {
      enrolments.push(await enrol({ nc: clients.nc, subjects, meterId: meter.meterId, name: meter.name, meterKey: new Wallet(meter.key) }));
    }
    const first = enrolments[0];
    if (first === undefined) return [];
    const slots = first.market.slots;
    if (slots === undefined) throw new ThroughputBenchError({ kind: "notVersion2", market: first.market.marketId });
    const params = blockParams(first.market.priceLevels.count, slots.width);
    const epochKey = slots.encryptAt === "meter" ? first.epochKeys.find((key) => key.epoch === epochOfSlot(options.slot, slots.calendar)) : undefined;
    if (slots.encryptAt === "meter" && epochKey === undefined) throw new ThroughputBenchError({ kind: "noEpochKey", slot: options.slot });
    if (epochKey !== undefined) precomputeTables(epochKey.msk);
    return await inParallel(options.bids, TICKET_CONCURRENCY, async (bid, index) => {
      const meterIndex = index % options.meters.length;
      const meter = options.meters[meterIndex]!;
      const opening: SlotOpening = { side: bid.side, slot: options.slot, priceLevel: bid.priceLevel, quantityWh: bid.quantityWh, salt: randomSalt(), seed: new Uint8Array(randomBytes(32)) };
      const certified = await requestCertifiedBid(
        clients.nc,
        subjects,
        {
          meterId: meter.meterId,
          meterKey: new Wallet(meter.key),
          oneTimeKey: oneTimeKey(),
          dsoPublicKey: enrolments[meterIndex]!.dso.publicKey,
          opening,
          // As a meter asks: until the slot's gate closure (the DSO caps the ticket's lifetime).
          notAfter: gateClosureOf(options.slot, slots.calendar),
          params,
          ...(epochKey === undefined ? {} : { meterCiphertext: encryptBlockBid(epochKey.msk, epochKey.tokenKey, params, bid.priceLevel, opening.seed) }),
        },
        { timeoutMs: REQUEST_TIMEOUT_MS },
      );
      options.onBid?.();
      return { bidder: certified.bidder, bytes: encode(slotBidSubmissionSchema, slotSubmissionOf(certified, Date.now())) };
    });
  } finally {
    await clients.nc.close().catch(() => undefined);
  }
}

/** A ticket as a meter asks for it: signed by its long-term key, sealed to the DSO by the one-time key. */
async function requestTicket(
  nc: NatsConnection,
  subjects: MarketSubjects,
  dsoPublicKey: string,
  meter: BenchMeter,
  oneTime: SealingWallet,
  side: 0 | 1,
): Promise<{ notAfter: number; signature: string }> {
  const notAfter = Math.floor(Date.now() / 1000) + BENCH_TICKET_LIFETIME_SECONDS;
  const signed = signMessageFields<TicketRequest>(
    { type: "ticket.request", meterId: meter.meterId, bidder: getAddress(oneTime.address) as Hex, side, notAfter },
    new Wallet(meter.key),
    subjects.dso.ticket,
  );
  const reply = await callSealed(nc, subjects, endpoints.ticket, signed, { wallet: oneTime, recipientPublicKey: dsoPublicKey }, { timeoutMs: 10_000 });
  return reply.ticket;
}

export type PregeneratePlaintextOptions = {
  /** The DSO's ticket key (the plaintext market's ticket signer). */
  dsoKey: Wallet;
  domain: MarketDomain;
  bids: readonly BenchBid[];
  onBid?: () => void;
};

/** Clear-level bids with the same tickets and signatures as encrypted ones (the bench signs the tickets itself). */
export async function pregeneratePlaintext(options: PregeneratePlaintextOptions): Promise<PreparedBid[]> {
  const notAfter = BigInt(Math.floor(Date.now() / 1000) + BENCH_TICKET_LIFETIME_SECONDS);
  const out: PreparedBid[] = [];
  for (const bid of options.bids) {
    const key = oneTimeKey();
    const ticket = await signTicket(options.dsoKey, options.domain, key.address, notAfter);
    out.push(prepared(await buildPlaintextBid({ ...bid, oneTimeKey: key, ticket, domain: options.domain })));
    options.onBid?.();
  }
  return out;
}

export type FeedResult = { startedAt: number; publishedAt: number };

/**
 * Publishes every prepared submission on the market's bids subject with `Nats-Msg-Id` = bidder, keeping at most
 * `window` publishes waiting for their JetStream ack (the bids stream is the gateway's queue: it never waits for
 * the chain). `startedAt`/`publishedAt` are performance.now() before the first publish and after the last ack.
 */
export async function feedBids(js: JetStreamClient, marketId: string, bids: readonly PreparedBid[], window: number): Promise<FeedResult> {
  const subject = marketSubjects(marketId).gateway.submit;
  const startedAt = performance.now();
  await inParallel(bids, window, async (bid) => {
    const ack = await js.publish(subject, bid.bytes, { msgID: dedupIds.bid(bid.bidder), timeout: 30_000 });
    return ack.seq;
  });
  return { startedAt, publishedAt: performance.now() };
}
