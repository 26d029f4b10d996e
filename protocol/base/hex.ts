// Hex strings and addresses: one definition of each type, and the canonical form of an address (EIP-55), so that
// keys, comparisons and messages agree however an address was spelled when it arrived.
import { getAddress, isAddress } from "ethers";
import { InvalidAddressError } from "./errors.ts";

/** 0x-prefixed hex (bytes, hashes, signatures, keys). Hashes and byte strings are lower case once parsed. */
export type Hex = `0x${string}`;
/** An Ethereum address in its canonical EIP-55 form (what every schema and `toAddress` return). */
export type Address = `0x${string}`;

/** The canonical (EIP-55) form of an address; throws `InvalidAddressError` for anything else. */
export function toAddress(value: string): Address {
  if (typeof value !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(value) || !isAddress(value)) throw new InvalidAddressError(value);
  return getAddress(value) as Address;
}

/** Address equality whatever the spelling (lower case, EIP-55); false for anything that is not two strings. */
export function sameAddress(a: string | null | undefined, b: string | null | undefined): boolean {
  return typeof a === "string" && typeof b === "string" && toHex(a) === toHex(b);
}

/** The canonical form of hex that is not an address (hashes, trade ids, salts, keys, signatures): lower case. */
export function toHex(value: string): Hex {
  return value.toLowerCase() as Hex;
}

/** Equality of two such hex values whatever their case; false for anything that is not two strings. */
export function sameHex(a: string | null | undefined, b: string | null | undefined): boolean {
  return typeof a === "string" && typeof b === "string" && toHex(a) === toHex(b);
}
