// Schemas of the primitive values every message and machine event is made of: hex bytes, hashes, signatures, keys,
// addresses (normalised to EIP-55), EVM words, times and amounts. One definition each (PROTOCOL §3, §4, §6).
import { z } from "zod";
import { toAddress, toHex, type Address, type Hex } from "./hex.ts";

const UINT256_MAX = (1n << 256n) - 1n;
const DECIMAL = /^(0|[1-9][0-9]*)$/;

export const hexBytesSchema = z
  .string()
  .regex(/^0x([0-9a-fA-F]{2})*$/, "expected 0x-prefixed hex with an even number of digits")
  .transform(toHex);

function fixedHex(bytes: number, what: string) {
  return z
    .string()
    .regex(new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`), `expected ${what} (0x + ${bytes * 2} hex digits)`)
    .transform(toHex);
}

export const bytes32Schema = fixedHex(32, "bytes32");
export const txHashSchema = bytes32Schema;
/** 65-byte ECDSA signature `r ‖ s ‖ v` as produced by ethers. */
export const signatureSchema = fixedHex(65, "a 65-byte signature");
/** secp256k1 public key, uncompressed (`0x04…`, 65 bytes) or compressed (`0x02…`/`0x03…`, 33 bytes). */
export const publicKeySchema = z
  .string()
  .regex(/^0x(04[0-9a-fA-F]{128}|0[23][0-9a-fA-F]{64})$/, "expected a secp256k1 public key (0x04… or 0x02/0x03…)")
  .transform(toHex);

/** Any spelling of an address in, its canonical EIP-55 form out (`toAddress`); a bad checksum is refused. */
export const addressSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, { error: "expected a 20-byte Ethereum address", abort: true })
  .refine((value) => {
    try {
      toAddress(value);
      return true;
    } catch {
      return false;
    }
  }, "bad EIP-55 checksum")
  .transform((value): Address => toAddress(value));

/** One uint256 EVM word as a decimal string. */
export const uint256Schema = z
  .string()
  .regex(DECIMAL, { error: "expected a decimal integer string", abort: true })
  .refine((value) => BigInt(value) <= UINT256_MAX, "exceeds uint256");

/** A decimal integer string within `(0, bound)`: scalars of a field. */
export function scalarBelow(bound: bigint, what: string) {
  return z
    .string()
    .regex(DECIMAL, { error: "expected a decimal integer string", abort: true })
    .refine((value) => {
      const n = BigInt(value);
      return n > 0n && n < bound;
    }, `expected ${what}`);
}

export const quantityWhSchema = z.int().positive("quantity must be a positive number of Wh").max(Number.MAX_SAFE_INTEGER);
export const energyWhSchema = z.int().min(0, "energy must be ≥ 0 Wh").max(Number.MAX_SAFE_INTEGER);
/** Money in integer micro-units (µ€); negative = debit. */
export const microSchema = z.int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
/** A signed amount of micro-units as a decimal string (ledger lines: exact beyond 2^53). */
export const microStringSchema = z.string().regex(/^(0|-?[1-9][0-9]*)$/, "expected a decimal integer");
export const unixMsSchema = z.int().min(0, "expected a Unix time in ms").max(Number.MAX_SAFE_INTEGER);
/** Ticket expiry, Unix seconds (what the contract compares with `block.timestamp`). */
export const unixSecondsSchema = z.int().min(0).max(2 ** 40);
