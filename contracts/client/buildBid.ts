// A meter's bid, ready for the gateway: encrypt the price, commit to the opening, sign with the one-time key (PROTOCOL §4).
import { concat, getAddress, keccak256, toBeHex, type Signer } from "ethers";
import { encryptBid, type BidCiphertext, type BidRandomizers } from "../../protocol/encoding/bidCiphertext.ts";
import { randomScalar, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { computeCommitment, randomSalt } from "../../protocol/commitment.ts";
import { BID_TYPES } from "./eip712.ts";
import { MissingRandomizersError, TicketBidderMismatchError } from "./errors.ts";
import type { MarketDomain, SignedBid, Ticket } from "./types.ts";
import { sameAddress, type Hex } from "../../protocol/base/hex.ts";
import { type SideCode } from "../../protocol/domain.ts";

export type BuildBidParams = {
  msk: MasterSecretKey;
  levels: number;
  side: SideCode;
  priceLevel: number;
  quantityWh: number | bigint;
  /** The bid's one-time key (its address is the bidder). */
  oneTimeKey: Signer;
  /** The DSO's ticket for that address. */
  ticket: Ticket;
  domain: MarketDomain;
  /** Fixed values for tests and for re-bids; fresh random ones by default. */
  salt?: Hex;
  randomizers?: BidRandomizers;
  /** A ciphertext already computed with `randomizers` (e.g. by the encryption worker pool). */
  ciphertext?: BidCiphertext;
};

/** The opening the meter keeps secret until the trading stage (PROTOCOL §4). */
export type BidOpening = { priceLevel: number; quantityWh: bigint; salt: Hex; alpha: bigint; beta: bigint };

export type BuiltBid = { bid: SignedBid; opening: BidOpening; ciphertextHash: Hex };

/** The one-time key's address, checked against the address the ticket was issued for. */
export async function ticketedBidder(oneTimeKey: Signer, ticket: Ticket): Promise<Hex> {
  const bidder = getAddress(await oneTimeKey.getAddress()) as Hex;
  if (!sameAddress(ticket.bidder, bidder)) throw new TicketBidderMismatchError({ ticketBidder: ticket.bidder, bidder });
  return bidder;
}

/** A bid as the contract takes it: the vectors, the commitment, the ticket, and the one-time key's EIP-712 signature. */
export async function signBid(params: {
  bidder: Hex;
  oneTimeKey: Signer;
  ticket: Ticket;
  domain: MarketDomain;
  side: SideCode;
  left: readonly bigint[];
  right: readonly bigint[];
  commitment: Hex;
}): Promise<SignedBid> {
  const { bidder, side, commitment, left, right } = params;
  const bidderSignature = (await params.oneTimeKey.signTypedData(params.domain, BID_TYPES, {
    side,
    ciphertextHash: ciphertextHash(left, right),
    commitment,
  })) as Hex;
  return { bidder, side, notAfter: params.ticket.notAfter, commitment, left: [...left], right: [...right], ticketSignature: params.ticket.signature, bidderSignature };
}

/** keccak256(abi.encodePacked(left, right)): the ciphertext hash the bidder signs and the contract recomputes. */
export function ciphertextHash(left: readonly bigint[], right: readonly bigint[]): Hex {
  return keccak256(concat([...left, ...right].map((word) => toBeHex(word, 32)))) as Hex;
}

export async function buildBid(params: BuildBidParams): Promise<BuiltBid> {
  const bidder = await ticketedBidder(params.oneTimeKey, params.ticket);
  if (params.ciphertext !== undefined && params.randomizers === undefined) throw new MissingRandomizersError();
  const randomizers = params.randomizers ?? { alpha: randomScalar(), beta: randomScalar() };
  const salt = params.salt ?? randomSalt();
  const quantityWh = BigInt(params.quantityWh);
  const ciphertext = params.ciphertext ?? encryptBid(params.msk, params.levels, params.priceLevel, randomizers);
  const commitment = computeCommitment({ bidder, side: params.side, priceLevel: params.priceLevel, quantityWh, salt });
  const bid = await signBid({ ...params, bidder, left: ciphertext.left, right: ciphertext.right, commitment });
  return {
    bid,
    opening: { priceLevel: params.priceLevel, quantityWh, salt, alpha: randomizers.alpha, beta: randomizers.beta },
    ciphertextHash: ciphertextHash(ciphertext.left, ciphertext.right),
  };
}
