// Types of the market contract's TypeScript bindings: its structs, enums and a typed ethers Contract (PROTOCOL §4–§5).
import type { BaseContract, BaseContractMethod, ContractTransactionResponse, Result } from "ethers";
import type { Hex } from "../../protocol/base/hex.ts";
import type { SideCode } from "../../protocol/domain.ts";

/** The contract's `BidStatus` enum. */
export const BidStatus = { None: 0, Open: 1, Matched: 2, Cancelled: 3, Expired: 4 } as const;
export type BidStatus = (typeof BidStatus)[keyof typeof BidStatus];

/** `IGridveilMarket.SignedBid`: what the gateway submits. */
export type SignedBid = {
  bidder: Hex;
  side: SideCode;
  notAfter: bigint;
  commitment: Hex;
  left: bigint[];
  right: bigint[];
  ticketSignature: Hex;
  bidderSignature: Hex;
};

/** A DSO ticket for one one-time bidder. */
export type Ticket = { bidder: Hex; notAfter: bigint; signature: Hex };

/** `IGridveilMarket.BidInfo`. */
export type BidInfo = {
  bidder: Hex;
  side: SideCode;
  status: BidStatus;
  notAfter: bigint;
  heapPosition: number;
  commitment: Hex;
  ciphertextHash: Hex;
};

/** The EIP-712 domain of one deployed market. */
export type MarketDomain = { name: string; version: string; chainId: bigint; verifyingContract: Hex };

type Send<A extends unknown[], R> = BaseContractMethod<A, R, ContractTransactionResponse>;
type View<A extends unknown[], R> = BaseContractMethod<A, R, R>;

/** The deployed contract as an ethers Contract with typed methods (hand-written from IGridveilMarket.sol). */
export type GridveilMarketContract = BaseContract & {
  placeBid: Send<[bid: SignedBid], bigint>;
  placeBids: Send<[bids: SignedBid[]], bigint[]>;
  /** The batch's self-call hook: any other caller gets OnlySelf. */
  placeBidFromBatch: Send<[bid: SignedBid], bigint>;
  cancelBid: Send<[bidId: bigint, signature: Hex], void>;
  purgeExpired: Send<[bidIds: bigint[]], bigint>;
  dim: View<[], bigint>;
  ticketSigner: View<[], string>;
  bidCount: View<[], bigint>;
  MAX_EXPIRED_DROPS: View<[], bigint>;
  heapSizes: View<[], Result>;
  heapBidIds: View<[side: SideCode], bigint[]>;
  getBid: View<[bidId: bigint], Result>;
  getBidCiphertext: View<[bidId: bigint], Result>;
  bidIdOf: View<[bidder: string], bigint>;
  eip712Domain: View<[], Result>;
};
