// The gateway runtime's errors (the convention: protocol/base/errors.ts).
import { GridveilError } from "../../protocol/base/errors.ts";

// --- start ----------------------------------------------------------------------------------------------------

/** How the chain or the DSO's description disagrees with the market the gateway is to serve. */
export type ChainMismatch =
  | { reason: "otherMarket"; marketId: string }
  | { reason: "otherChain"; rpcUrl: string; chainId: number; marketChainId: number }
  | { reason: "noContract"; contractAddress: string; rpcUrl: string; chainId: number }
  | { reason: "otherDimension"; contract: number; description: number };

const CHAIN_MISMATCH_TEXT: Record<ChainMismatch["reason"], { message: string; hint?: string }> = {
  otherMarket: { message: "the DSO described another market" },
  otherChain: { message: "the RPC endpoint serves another chain than the market's", hint: "pass the --rpc of the market's chain" },
  noContract: { message: "no contract at the market address on this chain", hint: "check --contract and --rpc" },
  otherDimension: { message: "the contract's dimension differs from the market description" },
};

/** The gateway cannot serve this market with this chain: retrying will not help. */
export class ChainMismatchError extends GridveilError {
  override name = "ChainMismatchError";
  readonly reason: ChainMismatch["reason"];
  constructor(mismatch: ChainMismatch) {
    const { reason, ...facts } = mismatch;
    const text = CHAIN_MISMATCH_TEXT[reason];
    super(text.message, { value: reason === "otherMarket" ? mismatch.marketId : facts, hint: text.hint });
    this.reason = reason;
  }
}

/** The gateway was stopped before the DSO described the market. */
export class StartAbortedError extends GridveilError {
  override name = "StartAbortedError";
  constructor() {
    super("stopped while waiting for the DSO's market description");
  }
}

/** The cursor file exists but does not hold a cursor: the operator decides (never a silent restart). */
export class CursorFileError extends GridveilError {
  override name = "CursorFileError";
  constructor(params: { path: string; cause: unknown }) {
    super("the gateway cursor file is unreadable", {
      value: params.path,
      hint: "delete it to follow the chain again from the contract's deployment block",
      cause: params.cause,
    });
  }
}

// --- bids and transactions ------------------------------------------------------------------------------------

/** A submission whose compact ciphertext does not decode (bad header, length, or a point off the curve/subgroup). */
export class UndecodableCiphertextError extends GridveilError {
  override name = "UndecodableCiphertextError";
  constructor(params: { bidder: string; cause: unknown }) {
    super("the bid's ciphertext does not decode", {
      value: params.bidder,
      hint: "send the crypto module's compact encoding (encodeBidCiphertext) or the EVM words",
      cause: params.cause,
    });
  }
}

/** Where a transaction got stuck; `action` is the market function ("placeBids", "cancelBid"). */
export type TransientChainFailure =
  | { reason: "notSent" | "notThrough"; action: string; cause: unknown }
  | { reason: "noReceipt"; action: string; txHash: string; cause: unknown }
  | { reason: "revertedWithoutData"; action: string; txHash: string }
  | { reason: "bidNotOnChain"; bidder: string }
  | { reason: "missingPlacedEvents"; txHash: string };

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
    case "missingPlacedEvents":
      return "fewer BidPlaced events than accepted entries";
  }
}

/** The chain did not take a transaction for a reason that may pass (RPC, nonce, gas price): the machine retries. */
export class TransientChainError extends GridveilError {
  override name = "TransientChainError";
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
export class UnknownExpiredBidError extends GridveilError {
  override name = "UnknownExpiredBidError";
  constructor(params: { bidder: string }) {
    super("an expired bidder has no bid on chain", { value: params.bidder });
  }
}
