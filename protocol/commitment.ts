// Bid commitment (PROTOCOL §4): version 1 c = keccak256(abi.encode(bidder, side, priceLevel, quantityWh, salt)),
// version 2 c = keccak256(abi.encode(bidder, side, slot, priceLevel, quantityWh, salt)) (uint32 slot).
import { AbiCoder, getAddress, hexlify, isAddress, keccak256, randomBytes } from "ethers";
import { CommitmentInputError } from "./errors.ts";

/** 0x-prefixed hex of a bytes32 value. */
export type Bytes32 = `0x${string}`;

export type CommitmentInput = {
  /** The bid's one-time address. */
  bidder: string;
  /** 0 = Buy, 1 = Sell. */
  side: 0 | 1;
  /** uint16 price level index. */
  priceLevel: number;
  /** uint64 quantity in Wh. */
  quantityWh: number | bigint;
  /** bytes32 salt, fresh per bid. */
  salt: string;
};

const UINT16_MAX = 0xffff;
const UINT64_MAX = (1n << 64n) - 1n;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/** The commitment the bidder signs and the contract stores; deterministic given the opening. */
export function computeCommitment(input: CommitmentInput): Bytes32 {
  const quantity = checkCommitmentInput(input);
  const encoded = AbiCoder.defaultAbiCoder().encode(
    ["address", "uint8", "uint16", "uint64", "bytes32"],
    [getAddress(input.bidder), input.side, input.priceLevel, quantity, input.salt],
  );
  return keccak256(encoded) as Bytes32;
}

const UINT32_MAX = 0xffff_ffff;

/** Version 2's commitment: the same fields and the delivery slot (PROTOCOL §4). */
export function computeSlotCommitment(input: CommitmentInput & { slot: number }): Bytes32 {
  const quantity = checkCommitmentInput(input);
  if (!Number.isInteger(input.slot) || input.slot < 0 || input.slot > UINT32_MAX) throw new CommitmentInputError({ reason: "slot", value: input.slot });
  const encoded = AbiCoder.defaultAbiCoder().encode(
    ["address", "uint8", "uint32", "uint16", "uint64", "bytes32"],
    [getAddress(input.bidder), input.side, input.slot, input.priceLevel, quantity, input.salt],
  );
  return keccak256(encoded) as Bytes32;
}

/** Checks the shared fields; returns the quantity as a bigint. */
function checkCommitmentInput(input: CommitmentInput): bigint {
  if (!isAddress(input.bidder)) throw new CommitmentInputError({ reason: "bidder", value: input.bidder });
  if (input.side !== 0 && input.side !== 1) throw new CommitmentInputError({ reason: "side", value: input.side });
  if (!Number.isInteger(input.priceLevel) || input.priceLevel < 0 || input.priceLevel > UINT16_MAX) {
    throw new CommitmentInputError({ reason: "priceLevel", value: input.priceLevel });
  }
  const quantity = BigInt(input.quantityWh);
  if (quantity < 0n || quantity > UINT64_MAX) throw new CommitmentInputError({ reason: "quantityWh", value: quantity });
  if (!BYTES32.test(input.salt)) throw new CommitmentInputError({ reason: "salt", value: input.salt });
  return quantity;
}

/** A fresh random 32-byte salt. */
export function randomSalt(): Bytes32 {
  return hexlify(randomBytes(32)) as Bytes32;
}
