// DSO trade effects (PROTOCOL §5 trading, steps 2–7): register the match, verify openings against the chain, send
// sealed terms, store outcomes, write the double-entry settlement and tell both meters. Version 2: the match's record
// carries the two certified openings, the terms go out as `trade.terms.v2`, and nothing is verified after the match.
import { getBid, getBidCiphertext, getBidIdOf } from "../../contracts/client/index.ts";
import { isCertifiedOpening, type TradeSettlementEffects } from "../../machines/tradeSettlement.ts";
import { type TradeRecord as StoredTrade } from "../db/dsoDatabase.ts";
import { UnknownTradeError } from "../db/errors.ts";
import { TradeEffectError } from "./errors.ts";
import { inboxChannels } from "../../protocol/wire/endpoints.ts";
import { dedupIds, publishDeduplicated } from "../nats/jetstream.ts";
import { billingPeriodOf } from "../../protocol/marketConfig.ts";
import { sealedTradeMessageSchema, settlementSchema, tradeTermsPayloadSchema, type TradeTermsPayload } from "../../protocol/wire/schemas.ts";
import { verifyOpening as checkOpening } from "../../protocol/verifyOpening.ts";
import { notifySealed, sealTradeMessage } from "../secure/sealedRpc.ts";
import { meterOfBidder, requireContract, requireMsk, requireSlotMarket, type DsoDeps } from "./deps.ts";
import { postingsOf, wireLines } from "./ledger.ts";
import { entriesSum, linesOf, settledNoticeSchema } from "../../protocol/settlement.ts";
import { certifiedOpeningFor, machineRecordOf } from "./setupEffects.ts";
import { slotEndOf, slotTermsPayload } from "./slotTrades.ts";
import { attr } from "./tradeSpans.ts";
import { SideCode, codeOfSide } from "../../protocol/domain.ts";
import { sameAddress } from "../../protocol/base/hex.ts";
import { describeDisputeClaim, type OpeningVerdict } from "../../protocol/reasons.ts";

/** The match's transaction hash, from the database's match key `buyId:sellId:txHash`. */
function txHashOf(trade: StoredTrade): `0x${string}` {
  const txHash = trade.matchKey.split(":")[2];
  if (!txHash) throw new TradeEffectError({ reason: "noTxHash", value: trade.matchKey });
  return txHash as `0x${string}`;
}

function requireTrade(deps: DsoDeps, tradeId: string): StoredTrade {
  const trade = deps.db.getTrade(tradeId);
  if (!trade) throw new UnknownTradeError({ tradeId });
  return trade;
}

export function tradeEffects(deps: DsoDeps): TradeSettlementEffects {
  const { db, spans, subjects, nats } = deps;

  const recipientOf = (bidder: string) => {
    const meter = meterOfBidder(deps, bidder);
    if (!meter) throw new TradeEffectError({ reason: "noMeterForBidder", value: bidder });
    return meter;
  };

  return {
    registerMatch: async ({ match }) => {
      const event = deps.state.matchEvents.get(match.matchId);
      deps.state.matchEvents.delete(match.matchId);
      let trade: StoredTrade;
      let inserted = false;
      if (event) {
        ({ trade, inserted } = db.recordMatch({
          buyId: event.buyId,
          sellId: event.sellId,
          txHash: event.txHash,
          blockNumber: event.blockNumber,
          logIndex: event.logIndex,
          observedAt: event.observedAt,
        }));
      } else {
        trade = requireTrade(deps, match.matchId);
      }
      // Version 2: the trade starts with both certified openings (PROTOCOL §5 v2 trading step 2).
      const certified = deps.slotMarket === null ? undefined : (bidder: string) => certifiedOpeningFor(db, bidder);
      const record = machineRecordOf(trade, certified);
      if (!record) throw new TradeEffectError({ reason: "noUsableRecord", value: { tradeId: trade.tradeId, stage: trade.stage } });
      if (!(trade.machineRecord && typeof trade.machineRecord === "object")) db.saveMachineRecord(trade.tradeId, record);
      return { record, created: inserted };
    },

    // The relational columns stay the truth for billing; the machine's record rides along for resume.
    saveTrade: async ({ record }) => {
      db.transaction(() => {
        if (record.closed) {
          db.saveMachineRecord(record.matchId, record);
          db.markClosed(record.matchId);
          return;
        }
        if (record.stage === "termsFixed" && record.terms && record.buyOpening && record.sellOpening) {
          // Version 1's openings came after the match; version 2's are the certified bids' rows already.
          if (!isCertifiedOpening(record.buyOpening)) db.recordOpening(record.matchId, SideCode.Buy, record.buyOpening);
          if (!isCertifiedOpening(record.sellOpening)) db.recordOpening(record.matchId, SideCode.Sell, record.sellOpening);
          db.markVerified(record.matchId, {
            buyLevel: record.terms.buyLevel,
            sellLevel: record.terms.sellLevel,
            clearingRule: record.terms.clearingRule,
            priceMicroPerKWh: record.terms.priceMicroPerKWh,
            quantityWh: record.terms.quantityWh,
          });
        } else if (record.stage === "voided" && record.resolution?.kind === "voided") {
          db.voidTrade(record.matchId, record.resolution.reason);
        } else if (record.stage === "disputed" && record.resolution?.kind === "disputed") {
          const side = sameAddress(record.resolution.raisedBy, record.buyBidder) ? SideCode.Buy : SideCode.Sell;
          db.disputeTrade(record.matchId, { side, reason: describeDisputeClaim(record.resolution.dispute) });
        }
        db.saveMachineRecord(record.matchId, record);
      });
    },

    // PROTOCOL §5 step 3 (version 1): re-encrypt with msk and compare word for word with the bid as the chain holds it.
    verifyOpening: async ({ matchId, bidder, side, opening }) =>
      spans.step(matchId, "dso.verify", { [attr.bidder]: bidder, [attr.side]: side }, async (span) => {
        const result = await (async (): Promise<OpeningVerdict> => {
          // Only bids this DSO issued a ticket for can be billed (and the contract admits no others).
          if (!db.lookupOneTimeId(bidder)) return { valid: false, reason: "noTicket" };
          const contract = requireContract(deps);
          const bidId = await getBidIdOf(contract, bidder);
          if (bidId === undefined) return { valid: false, reason: "bidNotOnChain" };
          const [info, ciphertext] = await Promise.all([getBid(contract, bidId), getBidCiphertext(contract, bidId)]);
          if (info.side !== codeOfSide(side)) return { valid: false, reason: "sideMismatch" };
          const check = checkOpening(
            requireMsk(deps),
            deps.market.priceLevels.count,
            bidder,
            codeOfSide(side),
            { left: ciphertext.left, right: ciphertext.right, commitment: info.commitment },
            opening,
          );
          return check.ok ? { valid: true } : { valid: false, reason: check.reason };
        })();
        span.setAttribute(attr.valid, result.valid);
        if (!result.valid) span.setAttribute(attr.reason, result.reason);
        return result;
      }),

    // Steps 3–4: the terms and the counterpart's opening, sealed to the meter; the counterpart only by one-time id.
    // Version 2: `trade.terms.v2` with the certified opening, and the meter reports at its slot's end (step 5).
    sendTerms: async ({ matchId, bidder, side, terms, counterpartOpening }) =>
      spans.step(matchId, "dso.terms", { [attr.bidder]: bidder, [attr.side]: side }, async () => {
        const trade = requireTrade(deps, matchId);
        const meter = recipientOf(bidder);
        if (isCertifiedOpening(counterpartOpening)) {
          const { calendar } = requireSlotMarket(deps);
          const payload = slotTermsPayload({ terms, txHash: txHashOf(trade), side, counterpartOpening });
          notifySealed(nats.nc, subjects, inboxChannels.terms, meter.inboxId, payload, { wallet: deps.wallet, recipientPublicKey: meter.publicKey });
          await nats.nc.flush();
          return { readingsDueInMs: deps.clock.msUntil(slotEndOf(payload.slot, calendar)) };
        }
        const payload: TradeTermsPayload = tradeTermsPayloadSchema.parse({
          type: "trade.terms",
          terms,
          txHash: txHashOf(trade),
          side: codeOfSide(side),
          bidder,
          counterpart: { bidder: side === "buy" ? terms.sellBidder : terms.buyBidder, opening: counterpartOpening },
        });
        notifySealed(nats.nc, subjects, inboxChannels.terms, meter.inboxId, payload, { wallet: deps.wallet, recipientPublicKey: meter.publicKey });
        await nats.nc.flush();
      }),

    // Step 7: one transaction for the ledger lines and the record (idempotent: settling twice is a no-op).
    writeSettlement: async ({ record }) =>
      spans.step(record.matchId, "dso.settlement", {}, async (span) => {
        if (!record.settlement) throw new TradeEffectError({ reason: "noSettlement", value: record.matchId });
        const settlement = record.settlement;
        const buyer = db.lookupOneTimeId(record.buyBidder);
        const seller = db.lookupOneTimeId(record.sellBidder);
        if (!buyer || !seller) throw new TradeEffectError({ reason: "partyWithoutTicket", value: record.matchId });
        const postings = postingsOf(settlement, {
          buyBidder: record.buyBidder,
          sellBidder: record.sellBidder,
          buyerMeterId: buyer.meterId,
          sellerMeterId: seller.meterId,
        });
        const settledAt = Date.now();
        const result = db.transaction(() => {
          const written = db.settleTrade(record.matchId, { postings, period: billingPeriodOf(deps.market, settledAt), settledAt });
          db.saveMachineRecord(record.matchId, record);
          return written;
        });
        span.setAttributes({ [attr.postings]: result.entries.length, [attr.status]: "settled" });
      }),

    // Step 7 and step 5: each meter learns the outcome in its inbox; the settlement goes to the settlements stream.
    publishTradeOutcome: async ({ matchId, recipients, outcome }) =>
      spans.step(matchId, "dso.outcome", { [attr.outcome]: outcome.kind }, async () => {
        const trade = requireTrade(deps, matchId);
        if (outcome.kind === "settled") {
          const entries = db.ledgerEntries({ tradeId: matchId });
          const period = entries[0]?.period ?? billingPeriodOf(deps.market, trade.settledAt ?? Date.now());
          if (entries.length > 0) {
            // Sealed to the DSO's own key: the settlements stream is the DSO's billing record, never readable on the wire.
            const settlement = settlementSchema.parse({
              type: "settlement",
              tradeId: matchId,
              period,
              settledAt: trade.settledAt ?? Date.now(),
              deliveredWh: outcome.settlement.deliveredWh,
              shortfallWh: outcome.settlement.shortfallWh,
              postings: wireLines(entries),
            });
            await publishDeduplicated(
              nats.js,
              subjects.dso.settled,
              sealedTradeMessageSchema,
              sealTradeMessage(subjects.dso.settled, matchId, settlement, { wallet: deps.wallet, recipientPublicKey: deps.wallet.signingKey.publicKey }),
              dedupIds.settlement(matchId),
            );
          }
          for (const bidder of [trade.buyId, trade.sellId]) {
            const meter = meterOfBidder(deps, bidder);
            if (!meter) continue;
            const { matchId: _matchId, entries: allEntries, ...figures } = settledNoticeSchema.parse(outcome.settlement);
            const own = linesOf(allEntries, bidder);
            notifySealed(nats.nc, subjects, inboxChannels.settled, meter.inboxId, {
              type: "settlement.notice",
              tradeId: matchId as `0x${string}`,
              bidder: bidder as `0x${string}`,
              period,
              ...figures,
              entries: own,
              netMicro: Number(entriesSum(own)),
            }, { wallet: deps.wallet, recipientPublicKey: meter.publicKey });
          }
        } else {
          for (const bidder of recipients) {
            const meter = meterOfBidder(deps, bidder);
            // A one-time id without a ticket from this DSO has no inbox to tell; nothing to do for it.
            if (!meter) continue;
            if (outcome.kind === "voided")
              notifySealed(nats.nc, subjects, inboxChannels.voided, meter.inboxId, {
                type: "trade.voided",
                tradeId: matchId as `0x${string}`,
                bidder,
                reason: outcome.reason,
                blamedBidders: outcome.blamedBidders,
              }, { wallet: deps.wallet, recipientPublicKey: meter.publicKey });
            else
              notifySealed(nats.nc, subjects, inboxChannels.disputed, meter.inboxId, {
                type: "trade.disputed",
                tradeId: matchId as `0x${string}`,
                bidder,
                ...outcome.dispute,
              }, { wallet: deps.wallet, recipientPublicKey: meter.publicKey });
          }
        }
        await nats.nc.flush();
      }),
  };
}
