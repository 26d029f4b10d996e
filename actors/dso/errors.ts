// The DSO runtime's errors (the convention: protocol/base/errors.ts). Setup errors that retrying cannot fix
// (MasterKeyError, ChainMismatchError, MarketContractError, DsoSetupError) stop the runtime at once (setupEffects.ts).
// ChainMismatchError is also the gateway's and the meter's: each checks its chain against the market the DSO runs.
import { ConfigError, GridveilError, errorClass, faultErrorClass, reasonErrorClass } from "../../protocol/base/errors.ts";
import { describeRefusal, refusalCodes, type Refusal } from "../../protocol/reasons.ts";
import { PermanentMessageError, rejectedWith, RequestRejectedError } from "../nats/errors.ts";

// --- setup ----------------------------------------------------------------------------------------------------

/** The stored key cannot be used for this market; replacing it would strand every enrolled meter. */
export class MasterKeyError extends GridveilError {
  constructor(params: { path: string; cause: unknown } | { path: string; keyDimension: number; marketDimension: number }) {
    if ("cause" in params) {
      super("the stored master key is corrupt", {
        value: params.path,
        hint: "Restore it from a backup; a new key would make every enrolled meter's bids unverifiable.",
        cause: params.cause,
      });
    } else {
      super("the stored master key has another dimension than this market", {
        value: params,
        hint: "The price level count fixes d = n + 1: use the data directory of a market with these levels, or a fresh one.",
      });
    }
  }
}

/** Why the contract this DSO recorded or was given cannot be its market. */
export type MarketContractProblem =
  | { reason: "malformedSetting"; setting: unknown }
  | { reason: "otherTicketSigner"; contract: string; ticketSigner: string; dso: string }
  | { reason: "recordedOnOtherChain"; recorded: { address: string; chainId: number; dimension: number }; rpcChainId: number }
  | { reason: "otherDesign"; recorded: "v1" | "v2"; configured: "v1" | "v2" }
  | { reason: "otherParameters"; contract: string; found: Record<string, number>; configured: Record<string, number> };

const MARKET_CONTRACT_TEXT: Record<MarketContractProblem["reason"], { message: string; hint?: string }> = {
  malformedSetting: { message: "the recorded contract setting is malformed" },
  otherTicketSigner: {
    message: "the contract accepts tickets from another key",
    hint: "Run the DSO with the key the contract was deployed for (--key / GRIDVEIL_DSO_KEY).",
  },
  recordedOnOtherChain: {
    message: "the recorded market contract is on another chain",
    hint: "Point --rpc at the chain of this data directory, pass --contract, or start with a fresh --data-dir.",
  },
  otherDesign: {
    message: "this data directory runs a market of another protocol version",
    hint: "A data directory holds one market: pass the --design it was created with, or start with a fresh --data-dir.",
  },
  otherParameters: {
    message: "the slot market's encoding or calendar differs from this DSO's settings",
    hint: "--levels, --width, --slot-seconds, --gate-closure-seconds and --epoch-slots are fixed at deployment: pass the recorded ones, or start with a fresh --data-dir.",
  },
};

/** The recorded or given contract cannot serve this market (another ticket signer, recorded for another chain). */
export class MarketContractError extends GridveilError {
  readonly reason: MarketContractProblem["reason"];
  constructor(problem: MarketContractProblem) {
    const { reason, ...facts } = problem;
    const text = MARKET_CONTRACT_TEXT[reason];
    super(text.message, { value: reason === "malformedSetting" ? problem.setting : facts, hint: text.hint });
    this.reason = reason;
  }
}

/** Setup cannot go on and retrying will not help (wrong key file, wrong contract): the runtime stops at once. */
export class DsoSetupError extends GridveilError {
  constructor(params: { reason: "setupFailed"; lastError: unknown } | { reason: "noDescription" }) {
    if (params.reason === "setupFailed") {
      super("the DSO could not set up its market", { value: params.lastError, hint: "See the log for each failed step." });
    } else {
      super("serving without a market description");
    }
  }
}

// --- serving --------------------------------------------------------------------------------------------------

/** What a request or a match needed that the DSO does not hold (yet); `value`: whose it is (meter id, bidder, trade). */
export class DsoNotReadyError extends reasonErrorClass(GridveilError, {
  contract: "the market contract is not attached yet",
  masterKey: "the master key is not loaded yet",
  enrolmentRequest: "no authenticated enrolment request for this meter",
  ticketRequest: "no authenticated ticket request for this bidder",
  matchRecord: "the match was not recorded in time; it will be redelivered",
  matchOnChain: "the match's transaction has no receipt yet; it will be redelivered",
  certifyRequest: "no authenticated certify request for this bidder",
  slotMarket: "this DSO does not run a version 2 market",
}) {}

/** A refusal the DSO machine or a handler decided, as the error reply it travels as (meters act on its text). */
export class RequestRefusedError extends RequestRejectedError {
  readonly refusal: Refusal;
  constructor(refusal: Refusal) {
    const code = refusalCodes[refusal.reason];
    super(code, describeRefusal(refusal), code === "unavailable" ? { hint: "Retry with backoff." } : {});
    this.refusal = refusal;
  }
}

/** A ticket request whose expiry has already passed. */
export class TicketExpiryPastError extends errorClass(rejectedWith("rejected"), (params: { notAfter: number }) => [
  "notAfter is in the past",
  { value: params.notAfter },
]) {}

/** The sealed opening's payload names another trade or bidder than the submission it came in. */
export class MisaddressedOpeningError extends errorClass(
  rejectedWith("bad-message"),
  (params: { submitted: { tradeId: string; bidder: string }; sealed: { tradeId: string; bidder: string } }) => [
    "the sealed opening names another trade or bidder",
    { value: params },
  ],
) {}

/** Why a meter reading is terminated instead of recorded (it can never become valid). */
export type ReadingRejection = { reason: "notSignedByBidder"; signatureError: string } | { reason: "unknownTrade" | "notThisSide" | "noTicket" };

const READING_TEXT: Record<ReadingRejection["reason"], string> = {
  notSignedByBidder: "reading not signed by its bidder",
  unknownTrade: "reading for an unknown trade",
  notThisSide: "reading from a bidder that is not this side of the trade",
  noTicket: "reading from a one-time id without a ticket",
};

export class RejectedReadingError extends PermanentMessageError {
  readonly reason: ReadingRejection["reason"];
  constructor(params: ReadingRejection & { tradeId: string; bidder: string }) {
    const text = READING_TEXT[params.reason];
    super(params.reason === "notSignedByBidder" ? `${text}: ${params.signatureError}` : text, {
      value: { tradeId: params.tradeId, bidder: params.bidder },
    });
    this.reason = params.reason;
  }
}

// --- trades ---------------------------------------------------------------------------------------------------

/** A stored trade or ticket record lacks what the next trade step needs: the database and the machine disagree. */
export class TradeEffectError extends reasonErrorClass(GridveilError, {
  noTxHash: "match key without a transaction hash",
  noMeterForBidder: "no enrolled meter holds this one-time id",
  noUsableRecord: "the stored trade has no usable record",
  noSettlement: "settling without a settlement",
  partyWithoutTicket: "a party of a verified trade has no ticket record",
}) {}

export class LedgerMappingError extends errorClass(GridveilError, (params: { bidder: string }) => [
  "a settlement line names a bidder that is not a party of the trade",
  { value: params.bidder },
]) {}

// --- meter registry -------------------------------------------------------------------------------------------

const REGISTRY_SHAPE_HINT =
  'Expected a JSON array of { "meterId": "house-1", "address": "0x…(EIP-55)", "name": "House 1", "inboxId"?: "0fa783e54ce4bf81" }.';

/** What is wrong with a registry file or option; `source` is a file name or "options". */
export type RegistryProblem =
  | { reason: "unreadable"; path: string; cause: unknown }
  | { reason: "notJson"; path: string; cause: unknown }
  | { reason: "invalidEntries"; source: string; problems: readonly string[] }
  | { reason: "meterWithTwoKeys"; source: string; meterId: string; addresses: readonly [string, string] }
  | { reason: "addressForTwoMeters"; source: string; address: string; meterIds: readonly [string, string] }
  | { reason: "meterWithTwoInboxes"; source: string; meterId: string; inboxIds: readonly [string, string] }
  | { reason: "inboxForTwoMeters"; source: string; inboxId: string; meterIds: readonly [string, string] };

function registryMessage(problem: RegistryProblem): string {
  switch (problem.reason) {
    case "unreadable":
      return `cannot read the meter registry ${problem.path}`;
    case "notJson":
      return `meter registry ${problem.path} is not JSON`;
    case "invalidEntries":
      return `invalid meter registry in ${problem.source}: ${problem.problems.slice(0, 10).join("; ")}`;
    case "meterWithTwoKeys":
      return `meter ${problem.meterId} appears with two keys in ${problem.source}`;
    case "addressForTwoMeters":
      return `address ${problem.address} is provisioned for two meters in ${problem.source}`;
    case "meterWithTwoInboxes":
      return `meter ${problem.meterId} appears with two inbox ids in ${problem.source}`;
    case "inboxForTwoMeters":
      return `inbox id ${problem.inboxId} is provisioned for two meters in ${problem.source}`;
  }
}

function registryDetails(problem: RegistryProblem): { value?: unknown; hint?: string; cause?: unknown } {
  switch (problem.reason) {
    case "unreadable":
      return { hint: "Pass --registry with a readable JSON file.", cause: problem.cause };
    case "notJson":
      return { cause: problem.cause };
    case "invalidEntries":
      return { hint: REGISTRY_SHAPE_HINT };
    case "meterWithTwoKeys":
      return { value: { meterId: problem.meterId, addresses: problem.addresses } };
    case "meterWithTwoInboxes":
      return { value: { meterId: problem.meterId, inboxIds: problem.inboxIds } };
    case "addressForTwoMeters":
    case "inboxForTwoMeters":
      return { value: { meterIds: problem.meterIds } };
  }
}

/** A registry file or option that cannot be used; the message names the file and every bad entry. */
export class RegistryError extends ConfigError {
  readonly reason: RegistryProblem["reason"];
  constructor(problem: RegistryProblem) {
    super(registryMessage(problem), registryDetails(problem));
    this.reason = problem.reason;
  }
}

/** The vault key that seals epoch keys at rest is unusable (its value is never shown). */
export class VaultKeyError extends faultErrorClass(GridveilError, {
  conflicting: () => [
    "the vault key is given twice",
    { value: "GRIDVEIL_VAULT_KEY (--vault-key) and --vault-key-file", hint: "give it once: the environment, or a file" },
  ],
  malformed: (f: { source: string; length: number }) => [
    `the vault key from ${f.source} is not 32 bytes`,
    { value: `${f.length} bytes`, hint: "32 random bytes, as 64 hex characters or raw in a file (e.g. head -c 32 /dev/urandom)" },
  ],
  unreadable: (f: { path: string; cause: unknown }) => ["cannot read the vault key file", { value: f.path, cause: f.cause }],
}) {}

/** An epoch key that cannot be used: never prepared, destroyed after its retention, or not opened by this vault key. */
export class EpochKeyError extends faultErrorClass(GridveilError, {
  missing: (f: { epoch: number }) => ["no key was prepared for this epoch", { value: f.epoch }],
  destroyed: (f: { epoch: number; destroyedAt: number }) => [
    "this epoch's key was destroyed after its retention",
    { value: { epoch: f.epoch, destroyedAt: new Date(f.destroyedAt).toISOString() }, hint: "a destroyed epoch never gets a key again" },
  ],
  unsealable: (f: { epoch: number }) => [
    "this epoch's key does not open with the vault key",
    { value: f.epoch, hint: "the vault key differs from the one that sealed it, or the row was altered; nothing was changed" },
  ],
  dimension: (f: { epoch: number; keyDimension: number; marketDimension: number }) => [
    "this epoch's key has another dimension than the market's",
    { value: { epoch: f.epoch, keyDimension: f.keyDimension, marketDimension: f.marketDimension } },
  ],
}) {}

/** A hint was asked for a bidder the DSO never certified, or for a bid of another slot than the batch's. */
export class CertifiedBidUnknownError extends errorClass(rejectedWith("not-found"), (params: { bidder: string; slot?: number }) => [
  params.slot === undefined ? "no certified bid of this bidder" : "the certified bid is of another slot than the batch",
  { value: params.slot === undefined ? params.bidder : { bidder: params.bidder, slot: params.slot } },
]) {}

/** A match notice names a Matched log its transaction does not hold: a false notice, terminated without a trade. */
export class MatchNotOnChainError extends PermanentMessageError {
  constructor(params: { tradeId: string; txHash: string; logIndex: number }) {
    super("the match notice names a Matched log the chain does not hold", { value: params, hint: "Only the chain's Matched logs become trades (PROTOCOL §5 trading step 1)." });
  }
}

/** A v2 match that is not of two certified bids of its slot, one per side, that cross (the chain should never emit it). */
export class SlotTradeError extends faultErrorClass(GridveilError, {
  uncertified: (f: { tradeId: string; bidder: string }) => ["a matched bidder has no certified bid", { value: { tradeId: f.tradeId, bidder: f.bidder } }],
  sides: (f: { tradeId: string }) => ["the matched bids are not one buy and one sell", { value: f.tradeId }],
  otherSlot: (f: { tradeId: string; slot: number }) => ["a matched bid is certified for another slot", { value: { tradeId: f.tradeId, slot: f.slot } }],
  terms: (f: { tradeId: string; reason: string }) => ["the certified openings make no trade", { value: { tradeId: f.tradeId, reason: f.reason } }],
}) {}
