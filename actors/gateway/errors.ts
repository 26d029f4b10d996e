// The gateway runtime's errors (the convention: protocol/base/errors.ts).
import { GridveilError, errorClass, faultErrorClass } from "../../protocol/base/errors.ts";
import type { ErrorCode } from "../../protocol/wire/schemas.ts";
import { RequestRejectedError } from "../nats/errors.ts";

// --- start ----------------------------------------------------------------------------------------------------

// A chain that cannot serve the market (RPC of another chain, no contract, another dimension) is the DSO's and the
// meter's condition too: ChainMismatchError in contracts/client/errors.ts.

/** The DSO answered the gateway's question with the description of another market. */
export class ForeignMarketDescriptionError extends errorClass(GridveilError, (params: { describedMarketId: string }) => [
  "the DSO described another market",
  { value: params.describedMarketId },
]) {}

/** The gateway was stopped before the DSO described the market. */
export class StartAbortedError extends errorClass(GridveilError, () => ["stopped while waiting for the DSO's market description"]) {}

/** The cursor file exists but does not hold a cursor: the operator decides (never a silent restart). */
export class CursorFileError extends errorClass(GridveilError, (params: { path: string; cause: unknown }) => [
  "the gateway cursor file is unreadable",
  {
    value: params.path,
    hint: "delete it to follow the chain again from the contract's deployment block",
    cause: params.cause,
  },
]) {}

/** The contract at the described address is not the market the DSO describes (version 2: encoding, calendar, signer). */
export class SlotMarketMismatchError extends faultErrorClass(GridveilError, {
  otherEncoding: (f: { address: string; contract: { dim: number; tokens: number }; described: { dim: number; tokens: number } }) => [
    "the slot market's encoding differs from the market description's",
    { value: f, hint: "the description's price levels and width must be the ones the contract was deployed with" },
  ],
  otherCalendar: (f: { address: string; contract: { slotSeconds: number; gateClosureSeconds: number }; described: { slotSeconds: number; gateClosureSeconds: number } }) => [
    "the slot market's calendar differs from the market description's",
    { value: f },
  ],
  otherTicketSigner: (f: { address: string; contract: string; described: string }) => ["the slot market's ticket signer differs from the market description's", { value: f }],
}) {}

/** A runtime wired one design's parts to the other design's bids (the machine's `design` and the parts disagree). */
export class DesignMismatchError extends errorClass(GridveilError, (params: { expected: string; bidder: string }) => [
  "a bid of the other market design reached the placement",
  { value: params, hint: "start the gateway machine with the design of the parts that place its bids" },
]) {}

// --- bids and transactions ------------------------------------------------------------------------------------

/** A submission whose compact ciphertext does not decode (bad header, length, or a point off the curve/subgroup). */
export class UndecodableCiphertextError extends errorClass(GridveilError, (params: { bidder: string; cause: unknown }) => [
  "the bid's ciphertext does not decode",
  {
    value: params.bidder,
    hint: "send the crypto module's compact encoding (encodeBidCiphertext) or the EVM words",
    cause: params.cause,
  },
]) {}

/** A version 2 bid whose ticket the contract would refuse (PROTOCOL §4 v2): checked before it costs gas. */
export class SlotTicketError extends faultErrorClass(GridveilError, {
  wrongLength: (f: { bidder: string; words: number; expected: number }) => [
    "the certified ciphertext has the wrong number of words",
    { value: { bidder: f.bidder, words: f.words, expected: f.expected } },
  ],
  unreadable: (f: { bidder: string; cause: unknown }) => ["the certified bid's ticket cannot be checked", { value: f.bidder, cause: f.cause }],
  otherSigner: (f: { bidder: string; signer: string }) => [
    "the ticket was not signed by the market's ticket key over this bid",
    { value: { bidder: f.bidder, signer: f.signer }, hint: "the bid was altered on its way, or certified for another market" },
  ],
}) {}

/** Where a transaction got stuck; `action` is the market function ("placeBids", "cancelBid"). */
export type TransientChainFailure =
  | { reason: "notSent" | "notThrough"; action: string; cause: unknown }
  | { reason: "noReceipt"; action: string; txHash: string; cause: unknown }
  | { reason: "revertedWithoutData"; action: string; txHash: string }
  | { reason: "bidNotOnChain"; bidder: string };

function transientMessage(failure: TransientChainFailure): string {
  switch (failure.reason) {
    case "notSent":
      return `${failure.action} could not be signed or sent`;
    case "notThrough":
      return `${failure.action} did not go through`;
    case "noReceipt":
      return `no receipt for ${failure.action}`;
    case "revertedWithoutData":
      return `${failure.action} reverted without data`;
    case "bidNotOnChain":
      return "the bid to cancel is not on chain (yet)";
  }
}

/** The chain did not take a transaction for a reason that may pass (RPC, nonce, gas price): the machine retries. */
export class TransientChainError extends GridveilError {
  readonly reason: TransientChainFailure["reason"];
  constructor(failure: TransientChainFailure) {
    super(transientMessage(failure), {
      value: "txHash" in failure ? failure.txHash : "bidder" in failure ? failure.bidder : undefined,
      cause: "cause" in failure ? failure.cause : undefined,
    });
    this.reason = failure.reason;
  }
}

/** An expiry notice names a bidder the contract has no bid for. */
export class UnknownExpiredBidError extends errorClass(GridveilError, (params: { bidder: string }) => [
  "an expired bidder has no bid on chain",
  { value: params.bidder },
]) {}

// --- cancel requests ------------------------------------------------------------------------------------------

/** Why a cancel request is answered with an error (a cancel of a bid that is not open is a reply, not an error). */
export type CancelRejection = { reason: "refused"; contractError: string | undefined } | { reason: "unknownBid" | "notRelayed" | "malformed" | "stopping" };

const CANCEL_TEXT: Record<CancelRejection["reason"], { code: ErrorCode; message: string; hint?: string }> = {
  refused: { code: "rejected", message: "the contract refused the cancel" },
  unknownBid: {
    code: "not-found",
    message: "no bid of this bidder is on chain or on its way",
    hint: "only a placed bid can be cancelled; a rejected submission is never placed",
  },
  notRelayed: { code: "unavailable", message: "the cancel could not be relayed now", hint: "retry later" },
  malformed: { code: "bad-message", message: "malformed cancel" },
  stopping: { code: "unavailable", message: "the gateway is stopping", hint: "retry with the next gateway" },
};

export class CancelRejectedError extends RequestRejectedError {
  readonly reason: CancelRejection["reason"];
  constructor(rejection: CancelRejection) {
    const text = CANCEL_TEXT[rejection.reason];
    const message = rejection.reason === "refused" ? `${text.message}: ${rejection.contractError ?? "unknown"}` : text.message;
    super(text.code, message, text.hint === undefined ? {} : { hint: text.hint });
    this.reason = rejection.reason;
  }
}

/** The hint source answered a batch with hints for other bids than it holds. */
export class SlotPlacementError extends faultErrorClass(GridveilError, {
  unknownBid: (f: { bidder: string }) => ["no public data of this bid (neither placed on chain nor submitted here)", { value: f.bidder }],
  hintsForOtherBids: (f: { slot: number; bids: number; hints: number }) => [
    "the hint source answered for other bids than asked (another number, or another order)",
    { value: { slot: f.slot, bids: f.bids, hints: f.hints } },
  ],
}) {}
