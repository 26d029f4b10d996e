// Errors of the block-token encoding (PROTOCOL §3.2): one class per rejected condition.
import { type ErrorText, GridveilError, errorClass } from "../base/errors.ts";

/** A block width the market's levels cannot use, or a token index outside a bid's tokens. */
export class BlockWidthError extends errorClass(GridveilError, (params: { width: number; levels: number; maxWidth: number } | { token: number; tokens: number }) =>
  "width" in params
    ? ([
        "block width does not fit the market's price levels",
        { value: params.width, hint: `a width is 1 to ${params.maxWidth} bits for ${params.levels} levels (⌈log2 n⌉ is one block: order only)` },
      ] as ErrorText)
    : (["token index is outside the bid's tokens", { value: params.token, hint: `tokens are 0 to ${params.tokens - 1} (the last is the equality token)` }] as ErrorText),
) {}

/** A token key or a bid seed that is not 32 bytes. */
export class TokenKeyError extends errorClass(GridveilError, (params: { length: number; what?: "seed" }) => [
  `${params.what ?? "token key"} must be 32 bytes`,
  { value: params.length, hint: params.what === "seed" ? "a bid's seed is 32 random bytes, part of its opening" : "the token key is part of msk (Setup)" },
]) {}

/** Relations that do not form a total order: a neighbour in sorted order answered "above" (inconsistent ciphertexts). */
export class RelationOrderError extends errorClass(GridveilError, (params: { a: number; b: number }) => [
  "relations do not form a total order",
  { value: params, hint: "every pair of a market's ciphertexts must answer eq, lt or gt consistently (same msk and token key)" },
]) {}
