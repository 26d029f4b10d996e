// The DSO's NATS surface (PROTOCOL §6): market description, enrolment, tickets, openings and disputes by
// request/reply (version 2: certified bids and placement hints instead of tickets and openings); matches and readings
// from durable JetStream consumers. Every input is validated and authenticated here, then handed to the dso machine as
// an event; replies come back through its replyToRequest action.
import { randomUUID } from "node:crypto";
import { context, trace, type Span } from "@opentelemetry/api";
import type { DsoEvent } from "../../machines/dso.ts";
import { refused, type RequestReply } from "../../machines/tradeSettlement.ts";
import { ConflictError } from "../db/errors.ts";
import { RequestRejectedError } from "../nats/errors.ts";
import { consumeDurable, ensureDurableConsumer, type DurableConsumerHandle } from "../nats/jetstream.ts";
import { DURABLES } from "../../protocol/wire/subjects.ts";
import { answer, type Service } from "../nats/rpc.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import { certifyReplySchema, matchEventSchema, openingPayloadSchema, readingSchema, sealedSchema, sealedTradeMessageSchema, type MatchEvent } from "../../protocol/wire/schemas.ts";
import { sealContexts } from "../../protocol/wire/sealContexts.ts";
import { SecureMessageError, UnexpectedSenderError } from "../secure/errors.ts";
import { openAs } from "../secure/sealed.ts";
import { addressOfPublicKey } from "../secure/keys.ts";
import { answerSealed, openTradeMessage } from "../secure/sealedRpc.ts";
import { verifyMessageFields } from "../secure/signed.ts";
import { contractAddressOf, requireSlotMarket, type DsoDeps } from "./deps.ts";
import { serveHints } from "./bidServices.ts";
import { startChainMatches, type ChainMatches } from "./chainMatches.ts";
import { confirmMatch } from "../chain/confirmMatch.ts";
import { DsoNotReadyError, MatchNotOnChainError, MisaddressedOpeningError, RejectedReadingError, RequestRefusedError, TicketExpiryPastError, type ReadingRejection } from "./errors.ts";
import type { AckCorrelator, ReplyCorrelator } from "./pending.ts";
import { attr, runSpan } from "./tradeSpans.ts";
import { z } from "zod";
import { SideCode, tradeIdOf } from "../../protocol/domain.ts";
import type { AuthenticationFailure } from "../../protocol/reasons.ts";
import { sameAddress, toAddress, toHex } from "../../protocol/base/hex.ts";
import { dsoDefaults } from "../config/dso.ts";


export type DsoCounters = {
  requests: number;
  refused: number;
  badMessages: number;
  matchesReceived: number;
  /** Match notices whose Matched log is not in the transaction they name (terminated, no trade). */
  matchesRefused: number;
  /** Matches the DSO found on chain that no notice had brought (chainMatches.ts). */
  matchesFromChain: number;
  openingsReceived: number;
  disputesReceived: number;
  readingsReceived: number;
  readingsRejected: number;
};

export type DsoServicesArgs = {
  deps: DsoDeps;
  send(event: DsoEvent): void;
  replies: ReplyCorrelator;
  acks: AckCorrelator;
  requestTimeoutMs: number;
  counters: DsoCounters;
};

export type DsoServices = {
  /** Starts `s.dso.market` (once the description exists). */
  startMarketService(): Promise<void>;
  /**
   * Enrolment, tickets and openings (version 2: certified bids), disputes: answered `notReady` by the machine until it
   * serves. Version 2's hints need the attached slot market: started with `startConsumers`.
   */
  startRequestServices(): Promise<void>;
  /** The matches and readings consumers: started once the machine serves (docs/machines.md §7). */
  startConsumers(): Promise<void>;
  /** The DSO's own read of the market's Matched logs (chainMatches.ts): started with the consumers. */
  startChainMatches(): Promise<void>;
  chainMatches(): ChainMatches | undefined;
  stopConsumers(): Promise<void>;
  stopServices(): Promise<void>;
};

export function createDsoServices(args: DsoServicesArgs): DsoServices {
  const { deps, send, replies, acks, requestTimeoutMs, counters } = args;
  const { nats, subjects, db, tracer, logger, spans, state } = deps;
  const services: Service[] = [];
  const consumers: DurableConsumerHandle[] = [];
  let chainMatches: ChainMatches | undefined;
  let marketService: Service | undefined;
  const serveOptions = {
    concurrent: true,
    logger,
    onFailure: (error: unknown) => {
      if (error instanceof Error && error.name === "BadMessageError") counters.badMessages += 1;
      else counters.refused += 1;
    },
  };
  const baseAttributes = { [attr.market]: deps.marketId };
  const dsoIdentity = () => ({ address: deps.wallet.address as `0x${string}`, publicKey: deps.wallet.signingKey.publicKey as `0x${string}` });

  /** Sends a request event and waits for the machine's reply (or `unavailable` if none comes in time). */
  const ask = (build: (requestId: string) => DsoEvent): Promise<RequestReply> => {
    const requestId = randomUUID();
    const reply = replies.wait(requestId, requestTimeoutMs, refused("unavailable"));
    send(build(requestId));
    return reply;
  };

  /** A handler's span, a child of the requester's context (the NATS headers' trace). */
  const inSpan = <T>(name: string, attributes: Record<string, string | number | boolean>, work: (span: Span) => Promise<T>): Promise<T> => {
    counters.requests += 1;
    return runSpan(tracer, name, { ...baseAttributes, ...attributes }, context.active(), async (span) => {
      try {
        return await work(span);
      } catch (error) {
        if (error instanceof RequestRejectedError) span.setAttribute(attr.code, error.replyCode);
        throw error;
      }
    });
  };

  /**
   * PROTOCOL §5 trading step 1: a match becomes a trade, whichever way it came (a notice over NATS, or the DSO's own
   * read of the chain). Resolves true once the machine recorded it; a match already closed has nothing left to do.
   */
  const receiveMatch = async (event: MatchEvent, messageId: string): Promise<boolean> => {
    const tradeId = tradeIdOf(event);
    const stored = db.getTrade(tradeId);
    // Settled, voided or disputed and both meters told: a redelivery has nothing left to do.
    if (stored && stored.closedAt !== null) return true;
    spans.begin(tradeId, context.active(), {
      [attr.buyBidder]: event.buyId,
      [attr.sellBidder]: event.sellId,
      [attr.txHash]: event.txHash,
      [attr.block]: event.blockNumber,
    });
    state.matchEvents.set(tradeId, event);
    const acked = acks.wait(messageId, requestTimeoutMs, false);
    send({ type: "MATCH.RECEIVED", messageId, match: { matchId: tradeId, buyBidder: event.buyId, sellBidder: event.sellId } });
    return acked;
  };

  const partySide = (trade: { buyId: string; sellId: string }, bidder: string): SideCode | null =>
    sameAddress(trade.buyId, bidder) ? SideCode.Buy : sameAddress(trade.sellId, bidder) ? SideCode.Sell : null;

  return {
    async startMarketService() {
      if (marketService) return;
      marketService = answer(
        nats.nc,
        subjects,
        endpoints.marketInfo,
        () => {
          if (!state.description) throw new RequestRefusedError({ reason: "notReady" });
          return { type: "market.info.reply" as const, market: state.description, dso: dsoIdentity() };
        },
        serveOptions,
      );
      await marketService.ready;
    },

    async startRequestServices() {
      // PROTOCOL §5 setup: a provisioned meter proves its permanent id and receives pp, sealed msk (version 2: the keys
      // of the open epochs in meter mode), the market.
      services.push(
        answerSealed(
          nats.nc,
          subjects,
          endpoints.enrol,
          deps.wallet,
          (request, { sender }) =>
            inSpan("dso.enrol", {}, async () => {
              // Sealed by the long-term key it enrols (the reply is sealed back to whoever sealed the request).
              if (!sameAddress(sender, addressOfPublicKey(request.publicKey))) throw new RequestRefusedError({ reason: "unauthenticated", detail: "publicKeyMismatch" satisfies AuthenticationFailure });
              const reply = await ask((requestId) => ({
                type: "ENROLMENT.REQUESTED",
                requestId,
                permanentId: request.meterId,
                payload: JSON.stringify(request),
                signature: request.auth.signature,
              }));
              if (reply.status === "error") throw new RequestRefusedError(reply.refusal);
              if (reply.body.kind !== "enrolment" || !state.description) throw new RequestRefusedError({ reason: "unavailable" });
              const sealed = z
                .object({ inboxId: z.string(), sealedMsk: sealedSchema })
                .parse(JSON.parse(reply.body.sealedEnrolment));
              return {
                type: "enrol.reply" as const,
                meterId: request.meterId,
                inboxId: sealed.inboxId,
                market: state.description,
                dso: dsoIdentity(),
                sealedMsk: sealed.sealedMsk,
              };
            }),
          serveOptions,
        ),
      );

      if (deps.slotMarket !== null) {
        // PROTOCOL §4 v2: a certified bid, sealed by its one-time key and signed inside by the long-term key; the
        // machine authenticates and certifies it (the certifier's refusal comes back by name).
        services.push(
          answerSealed(
            nats.nc,
            subjects,
            endpoints.certify,
            deps.wallet,
            (request, { sender }) =>
              inSpan("dso.certify", { [attr.bidder]: request.bidder }, async () => {
                if (!sameAddress(sender, request.bidder)) throw new RequestRefusedError({ reason: "unauthenticated", detail: "notSealedByBidder" satisfies AuthenticationFailure });
                const reply = await ask((requestId) => ({
                  type: "CERTIFY.REQUESTED",
                  requestId,
                  permanentId: request.meterId,
                  bidder: request.bidder,
                  payload: JSON.stringify(request),
                  signature: request.auth.signature,
                }));
                if (reply.status === "error") throw new RequestRefusedError(reply.refusal);
                if (reply.body.kind === "notCertified") {
                  const key = toAddress(request.bidder);
                  const refusal = state.certifyRequests.get(key)?.refusal;
                  state.certifyRequests.delete(key);
                  throw refusal ?? new RequestRefusedError({ reason: "unavailable" });
                }
                if (reply.body.kind !== "certified") throw new RequestRefusedError({ reason: "unavailable" });
                return certifyReplySchema.parse(JSON.parse(reply.body.certificate));
              }),
            serveOptions,
          ),
        );
      }

      // PROTOCOL §4: an authenticated ticket for a one-time id; the DSO stores (permanent id, bidder) first.
      if (deps.slotMarket === null) services.push(
        answerSealed(
          nats.nc,
          subjects,
          endpoints.ticket,
          deps.wallet,
          (request, { sender }) =>
            inSpan("dso.ticket", { [attr.bidder]: request.bidder }, async () => {
              // Sealed by the one-time key it asks a ticket for: the long-term key signs inside (PROTOCOL §4).
              if (!sameAddress(sender, request.bidder)) throw new RequestRefusedError({ reason: "unauthenticated", detail: "notSealedByBidder" satisfies AuthenticationFailure });
              const lifetimeSeconds = request.notAfter - Math.floor(Date.now() / 1000);
              if (lifetimeSeconds <= 0) throw new TicketExpiryPastError({ notAfter: request.notAfter });
              const reply = await ask((requestId) => ({
                type: "TICKET.REQUESTED",
                requestId,
                permanentId: request.meterId,
                bidder: request.bidder,
                lifetimeSeconds,
                payload: JSON.stringify(request),
                signature: request.auth.signature,
              }));
              if (reply.status === "error") throw new RequestRefusedError(reply.refusal);
              if (reply.body.kind !== "ticket") throw new RequestRefusedError({ reason: "unavailable" });
              return {
                type: "ticket.reply" as const,
                bidder: request.bidder,
                ticket: { notAfter: reply.body.ticket.notAfter, signature: reply.body.ticket.signature },
              };
            }),
          serveOptions,
        ),
      );

      // PROTOCOL §5 trading step 2: a matched meter's opening, sealed to the DSO by the bid's one-time key (version 1:
      // version 2's DSO holds the certified openings).
      if (deps.slotMarket === null) services.push(
        answer(
          nats.nc,
          subjects,
          endpoints.opening,
          (submission) => {
            // The meter's bid-session context, before our own span becomes the active one.
            const bidContext = trace.getSpanContext(context.active());
            return inSpan("dso.opening", { [attr.trade]: submission.tradeId, [attr.bidder]: submission.bidder }, async (span) => {
              counters.openingsReceived += 1;
              const payload = openAs(
                openingPayloadSchema,
                submission.sealed,
                deps.wallet.privateKey,
                submission.bidder,
                sealContexts.opening(subjects, submission.tradeId),
              );
              if (payload.tradeId !== submission.tradeId || payload.bidder !== submission.bidder)
                throw new MisaddressedOpeningError({
                  submitted: { tradeId: submission.tradeId, bidder: submission.bidder },
                  sealed: { tradeId: payload.tradeId, bidder: payload.bidder },
                });
              // The meters hear of a match from the same stream the DSO consumes, often first: give the DSO's own
              // match consumer a moment to record the trade instead of refusing the opening.
              let trade = db.getTrade(submission.tradeId);
              for (let waited = 0; !trade && waited < dsoDefaults.unknownMatchWaitMs; waited += dsoDefaults.unknownMatchPollMs) {
                await new Promise((resolve) => setTimeout(resolve, dsoDefaults.unknownMatchPollMs));
                trade = db.getTrade(submission.tradeId);
              }
              if (!trade) throw new RequestRefusedError({ reason: "unknownMatch" });
              const side = partySide(trade, submission.bidder);
              if (side === null || side !== payload.side) throw new RequestRefusedError({ reason: "notAParty" });
              span.setAttribute(attr.side, side === SideCode.Buy ? "buy" : "sell");
              // Kept on receipt, so a DSO restarted before the terms can still verify it (docs/machines.md §9.3).
              let first = false;
              if (trade.stage === "awaitingOpenings" && trade.closedAt === null) {
                try {
                  first = db.recordOpening(submission.tradeId, side, payload.opening).inserted;
                } catch (error) {
                  if (error instanceof ConflictError) throw new RequestRefusedError({ reason: "alreadyOpened" });
                  throw error;
                }
              }
              // The trade links each bid's trace once, when its opening first arrives (PROTOCOL §6 trace context).
              if (first && bidContext && trace.isSpanContextValid(bidContext))
                spans.link(submission.tradeId, bidContext, { [attr.side]: side === SideCode.Buy ? "buy" : "sell" });
              const build = (requestId: string): DsoEvent => ({
                type: "OPENING.RECEIVED",
                requestId,
                matchId: submission.tradeId,
                bidder: submission.bidder,
                opening: payload.opening,
              });
              // Likewise the trade's machine may still be starting.
              let reply = await ask(build);
              for (let waited = 0; reply.status === "error" && reply.refusal.reason === "unknownMatch" && waited < dsoDefaults.unknownMatchWaitMs; waited += dsoDefaults.unknownMatchPollMs) {
                await new Promise((resolve) => setTimeout(resolve, dsoDefaults.unknownMatchPollMs));
                reply = await ask(build);
              }
              if (reply.status === "error") throw new RequestRefusedError(reply.refusal);
              return { type: "opening.ack" as const, tradeId: submission.tradeId, bidder: submission.bidder, status: first ? "received" as const : "duplicate" as const };
            });
          },
          serveOptions,
        ),
      );

      // PROTOCOL §5 trading step 4: a meter's counterpart opening or terms did not verify.
      services.push(
        answerSealed(
          nats.nc,
          subjects,
          endpoints.dispute,
          deps.wallet,
          (dispute, { sender }) =>
            inSpan("dso.dispute", { [attr.trade]: dispute.tradeId, [attr.bidder]: dispute.bidder, [attr.reason]: dispute.code }, async () => {
              counters.disputesReceived += 1;
              if (!sameAddress(sender, dispute.bidder)) throw new UnexpectedSenderError({ envelope: "sealed", sender, allowed: [dispute.bidder] });
              verifyMessageFields(dispute, subjects.dso.dispute, { allowedSigners: dispute.bidder });
              const trade = db.getTrade(dispute.tradeId);
              if (!trade) throw new RequestRefusedError({ reason: "unknownMatch" });
              const side = partySide(trade, dispute.bidder);
              if (side === null) throw new RequestRefusedError({ reason: "notAParty" });
              // A resend of a recorded dispute (lost reply) is acknowledged again.
              if (trade.stage === "disputed" && trade.dispute?.side === side)
                return { type: "dispute.ack" as const, tradeId: dispute.tradeId, status: "duplicate" as const };
              spans.get(dispute.tradeId)?.addEvent("dispute.received", { [attr.side]: side === SideCode.Buy ? "buy" : "sell", [attr.reason]: dispute.code });
              const reply = await ask((requestId) => ({
                type: "DISPUTE.RECEIVED",
                requestId,
                matchId: dispute.tradeId,
                bidder: dispute.bidder,
                dispute: { code: dispute.code, detail: dispute.detail },
              }));
              if (reply.status === "error") throw new RequestRefusedError(reply.refusal);
              return { type: "dispute.ack" as const, tradeId: dispute.tradeId, status: "recorded" as const };
            }),
          serveOptions,
        ),
      );
      await Promise.all(services.map((service) => service.ready));
    },

    async startConsumers() {
      const { jsm, js } = nats;
      // PROTOCOL §5 v2: the placement hints for the gateway's batches, from the certified levels.
      if (deps.slotMarket !== null) {
        const hints = serveHints(nats.nc, subjects, requireSlotMarket(deps).certifier, serveOptions);
        services.push(hints);
        await hints.ready;
      }
      await ensureDurableConsumer(jsm, deps.streams.matches, DURABLES.dsoMatches, { filterSubject: subjects.market.matched });
      await ensureDurableConsumer(jsm, deps.streams.readings, DURABLES.dsoReadings, { filterSubject: subjects.meter.reading });

      // PROTOCOL §5 trading step 1: every Matched the gateway saw becomes a trade (acked once it is recorded).
      consumers.push(
        await consumeDurable(js, deps.streams.matches, DURABLES.dsoMatches, {
          schema: matchEventSchema,
          logger,
          handler: async (event, msg) => {
            counters.matchesReceived += 1;
            // The notice is the gateway's claim: a trade starts only for a Matched log the chain holds.
            const onChain = await confirmMatch(deps.provider, contractAddressOf(deps), event, deps.slotMarket === null ? "v1" : "v2");
            if (onChain === "unknown") throw new DsoNotReadyError({ reason: "matchOnChain", value: event.txHash });
            if (onChain === "absent") {
              counters.matchesRefused += 1;
              throw new MatchNotOnChainError({ tradeId: tradeIdOf(event), txHash: event.txHash, logIndex: event.logIndex });
            }
            if (!(await receiveMatch(event, `match:${msg.seq}`))) throw new DsoNotReadyError({ reason: "matchRecord", value: tradeIdOf(event) });
          },
        }),
      );

      // PROTOCOL §5 trading step 6: readings, signed by the bid's one-time key, stored before they are acked.
      consumers.push(
        await consumeDurable(js, deps.streams.readings, DURABLES.dsoReadings, {
          schema: sealedTradeMessageSchema,
          logger,
          handler: (message) => {
            let reading: z.output<typeof readingSchema>;
            try {
              const opened = openTradeMessage(subjects.meter.reading, message, readingSchema, (payload) => payload.tradeId, deps.wallet.privateKey, "anyone");
              reading = opened.payload;
              // Sealed by the bid's one-time key, which also signs inside (checked below).
              if (!sameAddress(opened.sender, reading.bidder)) throw new UnexpectedSenderError({ envelope: "sealed", sender: opened.sender, allowed: [reading.bidder] });
            } catch (error) {
              counters.readingsReceived += 1;
              counters.readingsRejected += 1;
              if (error instanceof SecureMessageError)
                throw new RejectedReadingError({ reason: "notSignedByBidder", signatureError: error.name, tradeId: message.tradeId, bidder: "unknown" });
              throw error;
            }
            return runSpan(
              tracer,
              "dso.reading",
              { ...baseAttributes, [attr.trade]: reading.tradeId, [attr.bidder]: reading.bidder, [attr.side]: reading.side === SideCode.Buy ? "buy" : "sell" },
              context.active(),
              async () => {
                counters.readingsReceived += 1;
                const reject = (why: ReadingRejection): never => {
                  counters.readingsRejected += 1;
                  throw new RejectedReadingError({ ...why, tradeId: reading.tradeId, bidder: reading.bidder });
                };
                try {
                  verifyMessageFields(reading, subjects.meter.reading, { allowedSigners: reading.bidder, maxAgeMs: dsoDefaults.readingMaxAgeMs });
                } catch (error) {
                  if (error instanceof SecureMessageError) reject({ reason: "notSignedByBidder", signatureError: error.name });
                  throw error;
                }
                const trade = db.getTrade(reading.tradeId);
                if (!trade) return reject({ reason: "unknownTrade" });
                if (partySide(trade, reading.bidder) !== reading.side) return reject({ reason: "notThisSide" });
                const pair = db.lookupOneTimeId(reading.bidder);
                if (!pair) return reject({ reason: "noTicket" });
                db.recordReading({
                  tradeId: reading.tradeId,
                  side: reading.side,
                  meterId: pair.meterId,
                  bidder: reading.bidder,
                  energyWh: reading.energyWh,
                  measuredAt: reading.measuredAt,
                  receivedAt: Date.now(),
                });
                spans.get(reading.tradeId)?.addEvent("reading.received", { [attr.side]: reading.side === SideCode.Buy ? "buy" : "sell" });
                // Stored, so acked now; a restarted DSO re-reads it from the database (runtime.ts, resume).
                if (trade.closedAt === null)
                  send({
                    type: "READING.RECEIVED",
                    messageId: readingMessageId(reading.tradeId, reading.side),
                    matchId: reading.tradeId,
                    bidder: reading.bidder,
                    measuredWh: reading.energyWh,
                  });
              },
            );
          },
        }),
      );
    },

    async startChainMatches() {
      chainMatches = await startChainMatches({
        provider: deps.provider,
        db,
        contractAddress: contractAddressOf(deps),
        design: deps.slotMarket === null ? "v1" : "v2",
        logger,
        knows: (tradeId) => state.matchEvents.has(tradeId) || db.getTrade(tradeId) !== undefined,
        record: async (event) => {
          const recorded = await receiveMatch(event, `chain:${event.blockNumber}:${event.logIndex}`);
          if (recorded) counters.matchesFromChain += 1;
          return recorded;
        },
      });
    },

    chainMatches: () => chainMatches,

    async stopConsumers() {
      await chainMatches?.stop();
      await Promise.all(consumers.splice(0).map((consumer) => consumer.stop()));
    },

    async stopServices() {
      const all = [...services.splice(0), ...(marketService ? [marketService] : [])];
      marketService = undefined;
      await Promise.all(all.map((service) => service.stop()));
    },
  };
}

/** The machine's id for a stored reading (acked by the consumer already; the machine's ack of it is a no-op). */
export function readingMessageId(tradeId: string, side: SideCode): string {
  return `reading:${toHex(tradeId)}:${side}`;
}
