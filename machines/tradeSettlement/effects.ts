// The effects one trade asks the DSO's runtime for (PROTOCOL §5 trading steps 1–6): inputs, outputs and names.
import type { PromiseActorLogic } from "xstate";
import type { Address } from "../../protocol/base/hex.ts";
import type { TradeTerms } from "../../protocol/clearing.ts";
import type { Match, Opening, Side } from "../../protocol/domain.ts";
import type { OpeningVerdict } from "../../protocol/reasons.ts";
import type { Settlement } from "../../protocol/settlement.ts";
import type { EffectsOf } from "../kit/effects.ts";
import type { RequestReply, TradeOpening, TradeRecord, TradeResolution } from "./record.ts";

export type RegisterMatchInput = { match: Match };
/**
 * Insert-if-absent (unique on matchId); returns the stored row, new or existing. Version 2: a new row carries the two
 * certified openings the DSO holds (a side it never certified stays null).
 */
export type RegisterMatchOutput = { record: TradeRecord; created: boolean };
export type SaveTradeInput = { record: TradeRecord };
export type VerifyOpeningInput = { matchId: string; bidder: Address; side: Side; opening: Opening };
/** Re-encrypts with `msk` and compares with the bid's on-chain ciphertexts and commitment (PROTOCOL §5 step 2). */
export type VerifyOpeningOutput = OpeningVerdict;
export type SendTermsInput = { matchId: string; bidder: Address; side: Side; terms: TradeTerms; counterpartOpening: TradeOpening };
/**
 * Version 2: how long until the meter reports its reading, by the market clock (its slot's end; PROTOCOL §5 trading
 * step 5). Version 1 answers nothing: the readings are due at once.
 */
export type SendTermsOutput = { readingsDueInMs: number } | void;
/** One database transaction: the ledger lines plus the record at stage `settled`; idempotent per matchId. */
export type WriteSettlementInput = { record: TradeRecord };
/** What both meters are told of their trade's outcome. */
export type TradeOutcomeNotice = { kind: "settled"; settlement: Settlement } | TradeResolution;
export type PublishTradeOutcomeInput = { matchId: string; recipients: Address[]; outcome: TradeOutcomeNotice };

export type TradeSettlementActors = {
  registerMatch: PromiseActorLogic<RegisterMatchOutput, RegisterMatchInput>;
  saveTrade: PromiseActorLogic<void, SaveTradeInput>;
  verifyOpening: PromiseActorLogic<VerifyOpeningOutput, VerifyOpeningInput>;
  sendTerms: PromiseActorLogic<SendTermsOutput, SendTermsInput>;
  writeSettlement: PromiseActorLogic<void, WriteSettlementInput>;
  publishTradeOutcome: PromiseActorLogic<void, PublishTradeOutcomeInput>;
};
export const tradeSettlementActorNames = [
  "registerMatch",
  "saveTrade",
  "verifyOpening",
  "sendTerms",
  "writeSettlement",
  "publishTradeOutcome",
] as const satisfies readonly (keyof TradeSettlementActors)[];

export type ReplyToRequestParams = { requestId: string; reply: RequestReply };
export type AckMessagesParams = { messageIds: string[] };
/** Fire-and-forget effects: they must not throw (log and drop instead). */
export type TradeSettlementActions = {
  replyToRequest: (params: ReplyToRequestParams) => void;
  ackMessages: (params: AckMessagesParams) => void;
};

/** Every async effect of a trade, as plain functions. */
export type TradeSettlementEffects = EffectsOf<TradeSettlementActors>;
