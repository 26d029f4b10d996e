// A meter's bid, ready for the gateway: encrypt the price, commit to the opening, sign with the one-time key (PROTOCOL §4).
import { concat, getAddress, keccak256, toBeHex, type Signer } from "ethers";
import { encryptBid, type BidCiphertext, type BidRandomizers } from "../../protocol/encoding/bidCiphertext.ts";
import { randomScalar, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { GridveilError } from "../../protocol/base/errors.ts";
import { computeCommitment, randomSalt } from "../../protocol/commitment.ts";
import { BID_TYPES } from "./eip712.ts";
import type { MarketDomain, SignedBid, Ticket } from "./types.ts";
import { type Hex } from "../../protocol/base/hex.ts";
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

export class BuildBidError extends GridveilError {
  override name = "BuildBidError";
}

/** keccak256(abi.encodePacked(left, right)): the ciphertext hash the bidder signs and the contract recomputes. */
export function ciphertextHash(left: readonly bigint[], right: readonly bigint[]): Hex {
  return keccak256(concat([...left, ...right].map((word) => toBeHex(word, 32)))) as Hex;
}

export async function buildBid(params: BuildBidParams): Promise<BuiltBid> {
  const bidder = getAddress(await params.oneTimeKey.getAddress()) as Hex;
  if (getAddress(params.ticket.bidder) !== bidder) {
    throw new BuildBidError("the ticket was issued for another bidder", { value: { ticket: params.ticket.bidder, bidder } });
  }
  if (params.ciphertext !== undefined && params.randomizers === undefined) {
    throw new BuildBidError("a precomputed ciphertext needs the randomizers it was made with", { hint: "pass randomizers too" });
  }
  const randomizers = params.randomizers ?? { alpha: randomScalar(), beta: randomScalar() };
  const salt = params.salt ?? randomSalt();
  const quantityWh = BigInt(params.quantityWh);
  const ciphertext = params.ciphertext ?? encryptBid(params.msk, params.levels, params.priceLevel, randomizers);
  const commitment = computeCommitment({ bidder, side: params.side, priceLevel: params.priceLevel, quantityWh, salt });
  const hash = ciphertextHash(ciphertext.left, ciphertext.right);
  const bidderSignature = (await params.oneTimeKey.signTypedData(params.domain, BID_TYPES, {
    side: params.side,
    ciphertextHash: hash,
    commitment,
  })) as Hex;
  return {
    bid: {
      bidder,
      side: params.side,
      notAfter: params.ticket.notAfter,
      commitment,
      left: [...ciphertext.left],
      right: [...ciphertext.right],
      ticketSignature: params.ticket.signature,
      bidderSignature,
    },
    opening: { priceLevel: params.priceLevel, quantityWh, salt, alpha: randomizers.alpha, beta: randomizers.beta },
    ciphertextHash: hash,
  };
}
