// The real effects of a meter's bid session (PROTOCOL §4, §5 bidding and trading steps 2, 4, 6): one-time keys,
// tickets, FHIPE encryption, EIP-712 signatures, JetStream submissions, sealed openings, chain checks, readings.
import { getAddress, type Wallet } from "ethers";
import type { Logger } from "pino";
import { encryptBid } from "../../protocol/encoding/bidCiphertext.ts";
import { randomScalar } from "../../protocol/fhipe/fhipe.ts";
import { BidSessionStateError, CounterpartBidNotFoundError, OpeningWithheldError, UnexpectedReplyError } from "./errors.ts";
import { dedupIds, publishDeduplicated } from "../nats/jetstream.ts";
import { call } from "../nats/rpc.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import { computeCommitment, randomSalt } from "../../protocol/commitment.ts";
import { sealContexts } from "../../protocol/wire/sealContexts.ts";
import {
  bidSubmissionSchema,
  readingSchema,
  sealedTradeMessageSchema,
  type Dispute,
  type Reading,
  type TicketRequest,
} from "../../protocol/wire/schemas.ts";
import type { MarketSubjects } from "../../protocol/wire/subjects.ts";
import { verifyOpening } from "../../protocol/verifyOpening.ts";
import { seal } from "../secure/sealed.ts";
import { callSealed, sealTradeMessage } from "../secure/sealedRpc.ts";
import { signMessageFields } from "../secure/signed.ts";
import { buildBid, getBid, getBidCiphertext, getBidIdOf, signCancel } from "../../contracts/client/index.ts";
import type { BidSessionEffects, ReadMeterInput } from "../../machines/bidSession.ts";
import { v1ChainOf, type MeterLink } from "./link.ts";
import { createSlotEffects } from "./slotEffects.ts";
import type { Clock } from "../runtime/clock.ts";
import type { OwnTrades } from "./ownTrades.ts";
import type { MeterSecrets } from "./secrets.ts";
import { attr, type SessionTraces } from "./sessionTraces.ts";
import { forgedOpening, submissionOf } from "./wire.ts";
import { codeOfSide, sideOfCode } from "../../protocol/domain.ts";
import { type Address, type Hex, sameHex } from "../../protocol/base/hex.ts";

/** Faults a test or the demo can switch on (all off by default). */
export type MeterFaults = {
  /** The meter never sends its opening after a match (it looks offline to the DSO). */
  neverOpen?: boolean;
  /** The meter sends an opening that does not reproduce its bid (α changed): the DSO must void and blame it. */
  forgeOpening?: boolean;
};

export type BidEffectsDeps = {
  subjects: MarketSubjects;
  meterId: string;
  meterKey: Wallet;
  secrets: MeterSecrets;
  traces: SessionTraces;
  trades: OwnTrades;
  /** The enrolled meter's connections (throws before enrolment). */
  link: () => MeterLink;
  faults: MeterFaults;
  /** The simulated measurement module: energy fed (seller) or consumed (buyer) for a trade, in Wh. */
  measure: (input: ReadMeterInput) => number | Promise<number>;
  requestTimeoutMs: number;
  logger: Logger;
  /** A bid was stored on the bids stream (first time for this bidder unless `duplicate`). */
  onSubmitted: (bidder: Address, duplicate: boolean) => void;
  /** The gateway confirmed a cancel on chain: deliver `BID.CANCELLED` (its market event may have come first). */
  onCancelConfirmed: (bidder: Address) => void;
  /** The market's clock (version 2: gate closures and slot ends). */
  clock: Clock;
  /** Version 2 meter mode: asks the DSO again for the open epochs' keys. */
  refreshEpochKeys: () => Promise<void>;
};

export function createBidSessionEffects(deps: BidEffectsDeps): BidSessionEffects {
  const { subjects: s, secrets, traces, trades } = deps;
  const timeout = { timeoutMs: deps.requestTimeoutMs };
  const slotEffects = createSlotEffects({ subjects: s, meterId: deps.meterId, meterKey: deps.meterKey, secrets, link: deps.link, clock: deps.clock, requestTimeoutMs: deps.requestTimeoutMs, refreshEpochKeys: deps.refreshEpochKeys });
  const levelsOf = (link: MeterLink) => link.market.priceLevels.count;

  return {
    createOneTimeIdentity: async ({ sessionId }) => {
      const bidder = secrets.createOneTimeKey();
      traces.identify(sessionId, bidder);
      return { bidder };
    },

    requestTicket: ({ bidder, lifetimeSeconds }) =>
      traces.step(bidder, "meter.ticket", {}, async (span) => {
        const link = deps.link();
        const session = traces.byBidder(bidder);
        if (!session) throw new BidSessionStateError({ reason: "noSession", value: bidder });
        const notAfter = Math.floor(Date.now() / 1000) + lifetimeSeconds;
        const ticketRequest = signMessageFields<TicketRequest>(
          { type: "ticket.request", meterId: deps.meterId, bidder, side: codeOfSide(session.side), notAfter },
          deps.meterKey,
          s.dso.ticket,
        );
        // Sealed by the one-time key (the long-term key signs inside): the wire shows neither the meter nor the link.
        const reply = await callSealed(link.nc, s, endpoints.ticket, ticketRequest, { wallet: secrets.bid(bidder).oneTimeKey, recipientPublicKey: link.dso.publicKey }, timeout);
        if (getAddress(reply.bidder) !== getAddress(bidder)) {
          throw new UnexpectedReplyError({ ticketFor: reply.bidder });
        }
        const ticket = { bidder, notAfter: reply.ticket.notAfter, signature: reply.ticket.signature };
        secrets.bid(bidder).ticket = ticket;
        span.setAttribute("gridveil.ticket.not_after", ticket.notAfter);
        return { ticket };
      }),

    certifyBid: (input) =>
      traces.step(input.bidder, "meter.certify", { [attr.side]: input.side }, async (span) => {
        const output = await slotEffects.certifyBid(input);
        span.setAttribute("gridveil.certify.outcome", output.kind);
        return output;
      }),

    encryptBid: ({ bidder, side, priceLevel, quantityWh }) =>
      traces.step(bidder, "meter.encrypt", { [attr.side]: side }, async (span) => {
        const link = deps.link();
        const msk = secrets.masterKey();
        span.setAttribute("gridveil.fhipe.dimension", msk.dim);
        // PROTOCOL §2: α, β uniform non-zero per bid; the salt makes the commitment hiding.
        const randomizers = { alpha: randomScalar(), beta: randomScalar() };
        const salt = randomSalt() as Hex;
        const ciphertext = encryptBid(msk, levelsOf(link), priceLevel, randomizers);
        const commitment = computeCommitment({ bidder, side: codeOfSide(side), priceLevel, quantityWh, salt }) as Hex;
        secrets.bid(bidder).encryption = { priceLevel, quantityWh, salt, randomizers, ciphertext, commitment };
        return {
          ciphertext: { left: ciphertext.left.map(String), right: ciphertext.right.map(String) },
          commitment,
          opening: {
            priceLevel,
            quantityWh,
            salt,
            alpha: randomizers.alpha.toString(),
            beta: randomizers.beta.toString(),
          },
        };
      }),

    signBid: async ({ bidder, side, commitment }) => {
      const link = deps.link();
      const material = secrets.bid(bidder);
      const { encryption, ticket } = material;
      if (!encryption || !ticket) throw new BidSessionStateError({ reason: "signedBeforeTicket", value: bidder });
      // buildBid recomputes the commitment and the ciphertext hash from what we encrypted, and signs (EIP-712).
      const built = await buildBid({
        msk: secrets.masterKey(),
        levels: levelsOf(link),
        side: codeOfSide(side),
        priceLevel: encryption.priceLevel,
        quantityWh: encryption.quantityWh,
        oneTimeKey: material.oneTimeKey,
        ticket: { bidder: bidder as Hex, notAfter: BigInt(ticket.notAfter), signature: ticket.signature },
        domain: v1ChainOf(link).domain,
        salt: encryption.salt,
        randomizers: encryption.randomizers,
        ciphertext: encryption.ciphertext,
      });
      if (!sameHex(built.bid.commitment, commitment)) {
        throw new BidSessionStateError({ reason: "commitmentChanged", value: bidder });
      }
      traces.byBidder(bidder)?.span.addEvent("bid.signed");
      return { bidderSignature: built.bid.bidderSignature };
    },

    submitBid: (input) =>
      traces.step(input.bid.bidder, "meter.submit", { [attr.side]: input.design === "v1" ? input.bid.side : sideOfCode(input.bid.side) }, async (span) => {
        if (input.design === "v2") {
          const result = await slotEffects.submit(input.bid);
          span.setAttributes({ [attr.duplicate]: result.duplicate, [attr.streamSeq]: result.seq });
          deps.onSubmitted(input.bid.bidder, result.duplicate);
          return;
        }
        const { bid } = input;
        const link = deps.link();
        // Runs inside this span's context: its trace context goes in the NATS headers for the gateway.
        const result = await publishDeduplicated(
          link.js,
          s.gateway.submit,
          bidSubmissionSchema,
          submissionOf(bid, Date.now()),
          dedupIds.bid(bid.bidder),
          timeout,
        );
        span.setAttributes({ [attr.duplicate]: result.duplicate, [attr.streamSeq]: result.seq });
        deps.onSubmitted(bid.bidder, result.duplicate);
      }),

    cancelBid: ({ bidder }) =>
      traces.step(bidder, "meter.cancel", {}, async (span) => {
        const link = deps.link();
        const signature =
          link.market.slots === undefined ? await signCancel(secrets.bid(bidder).oneTimeKey, v1ChainOf(link).domain) : await slotEffects.cancelSignature(bidder);
        const reply = await call(link.nc, s, endpoints.cancel, { type: "bid.cancel", bidder, signature }, timeout);
        if (reply.txHash) span.setAttribute(attr.txHash, reply.txHash);
        if (reply.status !== "cancelled") {
          // Not open: not placed yet, or matched/expired meanwhile (its notice will end the session).
          throw new UnexpectedReplyError({ cancelStatus: reply.status });
        }
        deps.onCancelConfirmed(bidder);
      }),

    sendOpening: ({ matchId, bidder, side, opening }, signal) => {
      if (deps.faults.neverOpen) {
        traces.byBidder(bidder)?.span.addEvent("opening.withheld", { [attr.fault]: "neverOpen" });
        // Never sends; ends only when the session leaves the state (terms timeout or a void notice).
        return new Promise<void>((_resolve, reject) =>
          signal.addEventListener("abort", () => reject(new OpeningWithheldError()), { once: true }),
        );
      }
      return traces.step(bidder, "meter.opening", { [attr.trade]: matchId, [attr.side]: side }, async (span) => {
        const link = deps.link();
        const forge = deps.faults.forgeOpening === true;
        if (forge) span.setAttribute(attr.fault, "forgeOpening");
        const sent = forge ? forgedOpening(opening) : opening;
        const sealed = seal({
          payload: { type: "opening", tradeId: matchId, bidder, side: codeOfSide(side), opening: sent },
          senderWallet: secrets.bid(bidder).oneTimeKey,
          recipientPublicKey: link.dso.publicKey,
          context: sealContexts.opening(s, matchId),
        });
        // In this span's context: the DSO links its trade span to the opening's context from the headers.
        const ack = await call(link.nc, s, endpoints.opening, { type: "opening.submit", tradeId: matchId, bidder, sealed }, timeout);
        span.setAttribute("gridveil.opening.ack", ack.status);
      });
    },

    verifyCounterpartOpening: ({ matchId, counterpartBidder, counterpartSide, opening }) => {
      const own = trades.byCounterpart(matchId, counterpartBidder);
      const parentBidder = own?.bidder ?? counterpartBidder;
      return traces.step(
        parentBidder,
        "meter.verify",
        { [attr.trade]: matchId, [attr.counterpart]: counterpartBidder },
        async (span) => {
          const link = deps.link();
          if ("seed" in opening) {
            // Version 2: the counterpart's certified opening against the commitment the chain holds for it.
            const verdict = await slotEffects.verifyCounterpart({
              tradeTxHash: own?.txHash ?? "",
              counterpartBidder,
              counterpartSide: codeOfSide(counterpartSide),
              opening,
            });
            span.setAttribute(attr.valid, verdict.valid);
            if (!verdict.valid) span.setAttribute(attr.reason, verdict.reason);
            return verdict;
          }
          // PROTOCOL §5 trading, step 4: re-encrypt the counterpart's opening with msk, compare with the chain.
          const bidId = await getBidIdOf(v1ChainOf(link), counterpartBidder);
          if (bidId === undefined) {
            throw new CounterpartBidNotFoundError({ bidder: counterpartBidder });
          }
          const [bid, ciphertext] = await Promise.all([getBid(v1ChainOf(link), bidId), getBidCiphertext(v1ChainOf(link), bidId)]);
          const check = verifyOpening(
            secrets.masterKey(),
            levelsOf(link),
            counterpartBidder,
            codeOfSide(counterpartSide),
            { left: ciphertext.left, right: ciphertext.right, commitment: bid.commitment },
            opening,
          );
          span.setAttribute(attr.valid, check.ok);
          if (check.ok) return { valid: true };
          span.setAttribute(attr.reason, check.reason);
          return { valid: false, reason: check.reason };
        },
      );
    },

    reportDispute: ({ matchId, bidder, claim }) => {
      const { code, detail } = claim;
      return traces.step(bidder, "meter.dispute", { [attr.trade]: matchId, [attr.reason]: code }, async () => {
        const link = deps.link();
        const dispute = signMessageFields<Dispute>(
          { type: "dispute", tradeId: matchId as Hex, bidder, code, detail },
          secrets.bid(bidder).oneTimeKey,
          s.dso.dispute,
        );
        await callSealed(link.nc, s, endpoints.dispute, dispute, { wallet: secrets.bid(bidder).oneTimeKey, recipientPublicKey: link.dso.publicKey }, timeout);
        deps.logger.warn({ bidder, tradeId: matchId, reason: code }, "disputed the counterpart's opening");
      });
    },

    awaitSlotEnd: (input, signal) => slotEffects.awaitSlotEnd(input, signal),

    readMeter: (input) => {
      const session = traces.byBidder(input.bidder);
      return traces.step(
        input.bidder,
        "meter.delivery",
        { [attr.trade]: input.matchId, [attr.side]: input.side },
        async () => {
          const measuredWh = Math.max(0, Math.floor(await deps.measure(input)));
          return { measuredWh };
        },
        // The span covers the simulated delivery period and the measurement.
        session?.deliveringSince ? { startTime: session.deliveringSince } : {},
      );
    },

    reportReading: ({ matchId, bidder, side, measuredWh }) =>
      traces.step(bidder, "meter.reading", { [attr.trade]: matchId, [attr.side]: side }, async (span) => {
        const link = deps.link();
        const reading = signMessageFields<Reading>(
          { type: "reading", tradeId: matchId as Hex, bidder, side: codeOfSide(side), energyWh: measuredWh, measuredAt: Date.now() },
          secrets.bid(bidder).oneTimeKey,
          s.meter.reading,
        );
        const result = await publishDeduplicated(
          link.js,
          s.meter.reading,
          sealedTradeMessageSchema,
          sealTradeMessage(s.meter.reading, matchId, readingSchema.parse(reading), { wallet: secrets.bid(bidder).oneTimeKey, recipientPublicKey: link.dso.publicKey }),
          dedupIds.reading(matchId, codeOfSide(side)),
          timeout,
        );
        span.setAttributes({ [attr.duplicate]: result.duplicate, [attr.streamSeq]: result.seq });
      }),
  };
}
