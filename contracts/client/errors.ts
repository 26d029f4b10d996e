// Decodes the market's custom errors from revert data, and the error class the client throws for a rejected call.
import { isError } from "ethers";
import { ConfigError, GridveilError, errorClass, reasonErrorClass } from "../../protocol/base/errors.ts";
import { getMarketInterface } from "./artifact.ts";
import { type Hex } from "../../protocol/base/hex.ts";
import type { Party } from "../../protocol/wire/subjects.ts";

export type DecodedMarketError = { name: string; selector: Hex; args: unknown[] };

/** A market call reverted; `errorName` is the Solidity custom error (e.g. "TicketExpired"), or undefined if unknown. */
export class MarketRevertError extends GridveilError {
  readonly errorName: string | undefined;
  readonly errorArgs: readonly unknown[];
  readonly revertData: Hex | undefined;

  constructor(action: string, decoded: DecodedMarketError | undefined, revertData: Hex | undefined, cause: unknown) {
    super(`${action} reverted${decoded ? ` with ${decoded.name}` : ""}`, {
      value: decoded ? { error: decoded.name, args: decoded.args } : revertData,
      hint: decoded ? HINTS[decoded.name] : "no custom error in the revert data (out of gas, or not a market call)",
      cause,
    });
    this.errorName = decoded?.name;
    this.errorArgs = decoded?.args ?? [];
    this.revertData = revertData;
  }
}

const HINTS: Record<string, string> = {
  WrongVectorLength: "the ciphertext was made for another number of price levels",
  PointNotOnCurve: "the left ciphertext is corrupted",
  PairingCheckFailed: "the right ciphertext is corrupted (a G2 point is off the curve or outside the subgroup)",
  TicketExpired: "ask the DSO for a new ticket (with a new one-time key)",
  InvalidTicket: "the ticket was not signed by this market's ticket key for this bidder and notAfter",
  BidderAlreadyUsed: "one-time keys are single-use: the bid is already placed (a replay), or a key was reused",
  InvalidBidderSignature: "the bid was altered after the one-time key signed it",
  ExpiredBacklog: "too many expired bids at the top of the opposite book: call purgeExpired, then retry",
  NotBidOwner: "the cancel must be signed by the bid's one-time key",
  BidNotOpen: "the bid already matched, was cancelled or expired",
  UnknownBid: "no bid has this id",
};

/** Decodes revert data against the market's ABI (its own errors, OpenZeppelin's, and Error/Panic). */
export function decodeMarketError(revertData: string | undefined): DecodedMarketError | undefined {
  if (revertData === undefined || revertData.length < 10) return undefined;
  try {
    const parsed = getMarketInterface().parseError(revertData);
    if (parsed === null) return undefined;
    return { name: parsed.name, selector: parsed.selector as Hex, args: [...parsed.args] };
  } catch {
    return undefined;
  }
}

/** The revert data carried by an ethers/JSON-RPC error, wherever the provider put it ("0x" for a bare revert). */
export function revertDataOf(error: unknown): Hex | undefined {
  if (isError(error, "CALL_EXCEPTION") && typeof error.data === "string") return error.data as Hex;
  const seen = new Set<unknown>();
  const visit = (value: unknown): Hex | undefined => {
    if (value === null || typeof value !== "object" || seen.has(value)) return undefined;
    seen.add(value);
    const record = value as Record<string, unknown>;
    const data = record["data"];
    if (typeof data === "string" && /^0x([0-9a-fA-F]{2})*$/.test(data)) return data as Hex;
    for (const key of ["data", "error", "info", "cause", "payload"]) {
      const found = visit(record[key]);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return visit(error);
}

/** Runs a market call, turning a revert into a MarketRevertError named by the contract's custom error. */
export async function withMarketErrors<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const revertData = revertDataOf(error);
    const decoded = decodeMarketError(revertData);
    if (decoded === undefined && revertData === undefined && !isError(error, "CALL_EXCEPTION")) throw error;
    throw new MarketRevertError(action, decoded, revertData, error);
  }
}

/** The chain answered in a way the contract cannot produce (no receipt, missing events): a node or ABI mismatch. */
export class UnexpectedReceiptError extends reasonErrorClass(
  GridveilError,
  {
    noReceipt: "no receipt for a mined transaction",
    noBidPlaced: "placeBid succeeded without BidPlaced",
    fewerBidPlaced: "fewer BidPlaced events than accepted entries",
  },
  "is the node a real Ethereum client, and the ABI this market's?",
) {}

/** A contract's compiled artifact is not under artifacts/. */
export class ArtifactMissingError extends errorClass(GridveilError, (params: { contractName: string; path: string; cause: unknown }) => [
  `no compiled artifact for ${params.contractName}`,
  { value: params.path, hint: "run `npx hardhat build`", cause: params.cause },
]) {}

/** A market cannot be deployed with this many ciphertext dimensions. */
export class InvalidMarketDimensionError extends errorClass(GridveilError, (params: { dim: unknown }) => [
  "dimension must be an integer in 1..127",
  { value: params.dim, hint: "d = price levels + 1" },
]) {}

/** A bid was to be signed with a one-time key the ticket was not issued for. */
export class TicketBidderMismatchError extends errorClass(GridveilError, (params: { ticketBidder: string; bidder: string }) => [
  "the ticket was issued for another bidder",
  { value: { ticket: params.ticketBidder, bidder: params.bidder } },
]) {}

/** A precomputed ciphertext came without the randomizers it was made with (the opening needs them). */
export class MissingRandomizersError extends errorClass(GridveilError, () => [
  "a precomputed ciphertext needs the randomizers it was made with",
  { hint: "pass randomizers too" },
]) {}

/** How the chain an RPC endpoint serves disagrees with the market (its chain id, contract address and dimension). */
export type ChainMismatch =
  | { reason: "otherChain"; rpcUrl?: string; rpcChainId: number; marketChainId: number }
  | { reason: "noContract"; address: string; chainId: number; rpcUrl?: string }
  | { reason: "otherDimension"; address: string; contractDimension: number; marketDimension: number };

const CHAIN_MISMATCH_TEXT: Record<ChainMismatch["reason"], string> = {
  otherChain: "the RPC endpoint serves another chain than the market's",
  noContract: "no contract at the market address on this chain",
  otherDimension: "the contract's dimension differs from the market's",
};

/** Per party that found the mismatch, what its operator can change. */
const CHAIN_MISMATCH_HINT: Record<Party, Partial<Record<ChainMismatch["reason"], string>>> = {
  dso: { noContract: "The chain was reset? Start the DSO with a fresh --data-dir (meters must enrol again)." },
  gateway: { otherChain: "pass the --rpc of the market's chain", noContract: "check --contract and --rpc" },
  meter: { otherChain: "pass the --rpc of the chain the DSO deployed the market on" },
};

/** The chain cannot serve this market (wrong --rpc, a reset chain, another deployment): retrying will not help. */
export class ChainMismatchError extends ConfigError {
  readonly reason: ChainMismatch["reason"];
  constructor(params: ChainMismatch & { party: Party }) {
    const { reason, party, ...facts } = params;
    super(CHAIN_MISMATCH_TEXT[reason], { value: facts, hint: CHAIN_MISMATCH_HINT[party][reason] });
    this.reason = reason;
  }
}
