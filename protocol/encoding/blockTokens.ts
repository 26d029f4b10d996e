// Block-token price encoding (PROTOCOL §3.2, v2): a level's base-B digits, one token per block proving "a < b with
// the first differing block i", plus an equality token; every token has dimension d = B + 1 whatever n is.
// Pure vectors and hints; encryption of the tokens is blockBid.ts.
import { concat, keccak256, toUtf8Bytes, zeroPadValue, toBeHex } from "ethers";
import { PriceLevelOutOfRangeError } from "../fhipe/errors.ts";
import { FR_ORDER } from "../fhipe/order.ts";
import { modR } from "../fhipe/field.ts";
import { BlockWidthError, TokenKeyError } from "./errors.ts";

/** The encoding's shape for `levels` price levels and block width `width` bits. */
export type BlockParams = {
  readonly levels: number;
  /** w: bits per block. */
  readonly width: number;
  /** B = 2^w: values a block digit takes. */
  readonly base: number;
  /** m = ⌈log2(n) / w⌉ blocks (at least 1). */
  readonly blocks: number;
  /** d = B + 1: every token's dimension. */
  readonly dim: number;
  /** m + 1: the block tokens, then the equality token. */
  readonly tokens: number;
};

/** Widths above this make d = 2^w + 1 tokens of more than 257 points: beyond any market the contract serves. */
export const MAX_BLOCK_WIDTH = 8;

/** The encoding of a market: `width` from 1 to ⌈log2 n⌉ (one block: order only, like unary). */
export function blockParams(levels: number, width: number): BlockParams {
  if (!Number.isSafeInteger(levels) || levels < 2) throw new PriceLevelOutOfRangeError({ levels });
  const bits = Math.max(1, Math.ceil(Math.log2(levels)));
  if (!Number.isSafeInteger(width) || width < 1 || width > Math.min(bits, MAX_BLOCK_WIDTH)) {
    throw new BlockWidthError({ width, levels, maxWidth: Math.min(bits, MAX_BLOCK_WIDTH) });
  }
  const base = 2 ** width;
  const blocks = Math.ceil(bits / width);
  return { levels, width, base, blocks, dim: base + 1, tokens: blocks + 1 };
}

/** The index of the equality token among a bid's tokens (after the m block tokens). */
export const equalityToken = (params: BlockParams): number => params.blocks;

/** a's base-B digits a_1 … a_m, most significant first. */
export function digitsOf(level: number, params: BlockParams): number[] {
  checkLevel(level, params);
  const digits: number[] = [];
  let rest = level;
  for (let i = 0; i < params.blocks; i++) {
    digits.unshift(rest % params.base);
    rest = Math.floor(rest / params.base);
  }
  return digits;
}

/** π_i(a) = (a_1, …, a_(i−1)) as a number: the level with its last m − i + 1 digits dropped (block i is 1-based). */
export function prefixOf(level: number, block: number, params: BlockParams): number {
  return Math.floor(level / params.base ** (params.blocks - block + 1));
}

/** The first block (1-based) in which two levels' digits differ, or null when they are equal. */
export function firstDifferingBlock(a: number, b: number, params: BlockParams): number | null {
  const da = digitsOf(a, params);
  const db = digitsOf(b, params);
  const index = da.findIndex((digit, i) => digit !== db[i]);
  return index === -1 ? null : index + 1;
}

const TOKEN_KEY_BYTES = 32;

/**
 * h(tag, i, prefix) = keccak256(k ‖ tag ‖ uint16(i) ‖ uint64(prefix)), mapped onto F_r \ {0} as (H mod (r − 1)) + 1:
 * non-zero by construction, and as uniform as H mod r for any purpose here.
 */
export function tokenValue(tokenKey: Uint8Array, tag: "lt" | "eq", block: number, prefix: number): bigint {
  if (tokenKey.length !== TOKEN_KEY_BYTES) throw new TokenKeyError({ length: tokenKey.length });
  const digest = keccak256(concat([tokenKey, toUtf8Bytes(tag), zeroPadValue(toBeHex(block), 2), zeroPadValue(toBeHex(prefix), 8)]));
  return (BigInt(digest) % (FR_ORDER - 1n)) + 1n;
}

/**
 * Per-bid randomness from its 32-byte seed (PROTOCOL §2 v2): keccak256(seed ‖ "gridveil/v2" ‖ label ‖ uint16(token)
 * ‖ uint16(coordinate)) onto F_r \ {0}, one domain per use, so (msk, level, seed) fixes the ciphertext byte for byte.
 */
export function seedScalar(seed: Uint8Array, label: "alpha" | "beta" | "filler", token: number, coordinate = 0): bigint {
  if (seed.length !== 32) throw new TokenKeyError({ length: seed.length, what: "seed" });
  const digest = keccak256(
    concat([seed, toUtf8Bytes("gridveil/v2"), toUtf8Bytes(label), zeroPadValue(toBeHex(token), 2), zeroPadValue(toBeHex(coordinate), 2)]),
  );
  return (BigInt(digest) % (FR_ORDER - 1n)) + 1n;
}

/** Left vector of token `token` (0-based; m = the equality token) for level a. */
export function leftTokenVector(tokenKey: Uint8Array, level: number, token: number, params: BlockParams): bigint[] {
  checkToken(token, params);
  const vector = new Array<bigint>(params.dim).fill(0n);
  if (token === equalityToken(params)) {
    // (h("eq", 0, a), 1, 0, …)
    vector[0] = tokenValue(tokenKey, "eq", 0, checkLevel(level, params));
    vector[1] = 1n;
    return vector;
  }
  // e_(a_i) ‖ −h("lt", i, π_i(a))
  const block = token + 1;
  vector[digitsOf(level, params)[token]!] = 1n;
  vector[params.base] = modR(-tokenValue(tokenKey, "lt", block, prefixOf(level, block, params)));
  return vector;
}

/** Right vector of token `token` for level b; its fillers come from the bid's seed. */
export function rightTokenVector(tokenKey: Uint8Array, seed: Uint8Array, level: number, token: number, params: BlockParams): bigint[] {
  checkToken(token, params);
  const filler = (coordinate: number) => seedScalar(seed, "filler", token, coordinate);
  if (token === equalityToken(params)) {
    // (1, −h("eq", 0, b), fillers…): the fillers meet the left token's zeros.
    return Array.from({ length: params.dim }, (_, j) =>
      j === 0 ? 1n : j === 1 ? modR(-tokenValue(tokenKey, "eq", 0, checkLevel(level, params))) : filler(j),
    );
  }
  // (f_0, …, f_(B−1)) ‖ 1, f_j = h("lt", i, π_i(b)) for j < b_i, else a filler.
  const block = token + 1;
  const digit = digitsOf(level, params)[token]!;
  const value = tokenValue(tokenKey, "lt", block, prefixOf(level, block, params));
  return Array.from({ length: params.dim }, (_, j) => (j === params.base ? 1n : j < digit ? value : filler(j)));
}

/** A relation and the token that proves it (PROTOCOL §3.2): `lt` with a block, or `eq`. */
export type RelationHint = { relation: "lt"; block: number } | { relation: "eq" };

/**
 * The DSO's way, from clear levels: how to prove that a is below or equal to b, or null when a > b. `lt(a, b)` is
 * proved with the first differing block, `eq` with the equality token.
 */
export function hintFromLevels(a: number, b: number, params: BlockParams): RelationHint | null {
  const block = firstDifferingBlock(a, b, params);
  if (block === null) return { relation: "eq" };
  return a < b ? { relation: "lt", block } : null;
}

/** The token a hint tests: the block's token, or the equality token. */
export function tokenOfHint(hint: RelationHint, params: BlockParams): number {
  return hint.relation === "eq" ? equalityToken(params) : hint.block - 1;
}

function checkLevel(level: number, params: BlockParams): number {
  if (!Number.isSafeInteger(level) || level < 0 || level >= params.levels) throw new PriceLevelOutOfRangeError({ priceLevel: level, levels: params.levels });
  return level;
}

function checkToken(token: number, params: BlockParams): void {
  if (!Number.isSafeInteger(token) || token < 0 || token >= params.tokens) throw new BlockWidthError({ token, tokens: params.tokens });
}


