// Errors of the block-token encoding (PROTOCOL §3.2): one class per rejected condition.
import { type ErrorText, GridveilError, errorClass, faultErrorClass } from "../base/errors.ts";

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

/** The DSO refuses to certify a bid (PROTOCOL §4 v2): a closed slot, a level out of range, a ciphertext that differs. */
export class CertificationError extends faultErrorClass(GridveilError, {
  slotClosed: (f: { slot: number; gateClosure: number; now: number }) => [
    "the bid's slot is past its gate closure",
    { value: { slot: f.slot, gateClosure: f.gateClosure, now: f.now }, hint: "bid for a slot whose gate closure is still ahead" },
  ],
  levelOutOfRange: (f: { priceLevel: number; levels: number }) => [
    "the price level is outside the market's levels",
    { value: f.priceLevel, hint: `levels are 0 to ${f.levels - 1}` },
  ],
  quantity: (f: { quantityWh: number }) => ["the quantity must be a positive whole number of Wh", { value: f.quantityWh }],
  seed: (f: { length: number }) => ["the bid's seed must be 32 bytes", { value: f.length }],
  epochNotOpen: (f: { slot: number; epoch: number; open: readonly number[] }) => [
    "the bid's slot is in an epoch that does not take bids now",
    { value: { slot: f.slot, epoch: f.epoch }, hint: `bids are taken for the epochs ${f.open.join(" and ")} (the current one and the next)` },
  ],
  ticketPast: (f: { notAfter: number; now: number }) => ["the ticket would expire before it is issued", { value: { notAfter: f.notAfter, now: f.now } }],
  ciphertextMismatch: (f: { token: string }) => [
    "the meter's ciphertext is not the encryption of its opening under this epoch's key",
    { value: f.token, hint: "encrypt with the epoch key the DSO sent, and the opening's seed" },
  ],
}) {}
