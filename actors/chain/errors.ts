// Errors of the chain connection: each builds its message from the facts of the failure (protocol/base/errors.ts).
import { GridveilError, errorClass, faultErrorClass } from "../../protocol/base/errors.ts";

/** The Ethereum JSON-RPC endpoint did not answer. */
export class ChainUnavailableError extends errorClass(GridveilError, (params: { rpcUrl: string; cause: unknown }) => [
  `cannot reach the Ethereum JSON-RPC endpoint at ${params.rpcUrl}`,
  {
    value: params.rpcUrl,
    hint: "start a node (the demo starts one itself when --rpc is omitted) or pass --rpc URL",
    cause: params.cause,
  },
]) {}

/** The chain's v2 events and calldata do not fit the books a mirror holds (a gap in what it read, or another market). */
export class SlotMirrorError extends faultErrorClass(GridveilError, {
  unknownPrev: (f: { bidder: string; prev: string; txHash: string }) => [
    "a bid rests after one the mirror does not hold",
    { value: f, hint: "follow the market from its deployment block" },
  ],
  unknownBid: (f: { bidder: string; txHash: string }) => ["an event removes a bid the mirror does not hold", { value: f, hint: "follow the market from its deployment block" }],
  noTransaction: (f: { bidder: string; txHash: string }) => ["the transaction of a placement is not on this node", { value: f }],
  notInCalldata: (f: { bidder: string; txHash: string }) => [
    "the placement's transaction does not carry that bid",
    { value: f, hint: "bids placed through another contract's call are not mirrored" },
  ],
}) {}
