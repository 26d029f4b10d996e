// Protocol values carried in machine events, inputs and outputs: plain serialisable data, each with a zod schema so
// machines can reject malformed events instead of crashing (PROTOCOL §3 bid encoding, §4 identities, §5 stages).
// Big integers (uint256 words, FHIPE scalars, money) are decimal strings; addresses and hashes are 0x-hex strings.
import { z } from "zod";
import { clearingRuleSchema, priceLevelsSchema } from "./config.ts";

export type Hex = `0x${string}`;
/** An Ethereum address; for a bid, the one-time identity `bidder` (PROTOCOL §4). */
export type Address = `0x${string}`;

const hexPattern = /^0x(?:[0-9a-fA-F]{2})*$/;
const addressPattern = /^0x[0-9a-fA-F]{40}$/;
const bytes32Pattern = /^0x[0-9a-fA-F]{64}$/;

export const hexSchema = z.custom<Hex>((value) => typeof value === "string" && hexPattern.test(value), "expected 0x-hex");
export const addressSchema = z.custom<Address>(
  (value) => typeof value === "string" && addressPattern.test(value),
  "expected a 20-byte 0x address",
);
export const bytes32Schema = z.custom<Hex>(
  (value) => typeof value === "string" && bytes32Pattern.test(value),
  "expected 32 bytes of 0x-hex",
);
/** Unsigned integer as a decimal string (uint256 words, scalars). */
export const uintStringSchema = z.string().regex(/^(0|[1-9][0-9]*)$/, "expected an unsigned decimal integer");
/** Signed integer as a decimal string (ledger amounts). */
export const intStringSchema = z.string().regex(/^(0|-?[1-9][0-9]*)$/, "expected a decimal integer");
const nonEmpty = () => z.string().min(1).max(512);
const wh = () => z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const sideSchema = z.enum(["buy", "sell"]);
export type Side = z.infer<typeof sideSchema>;

/** EVM wire format of a bid's ciphertexts: `left: uint256[2d]` (K2), `right: uint256[4d]` (C2) (PROTOCOL §3). */
export const bidCiphertextSchema = z.object({
  left: z.array(uintStringSchema).min(2),
  right: z.array(uintStringSchema).min(4),
});
export type BidCiphertext = z.infer<typeof bidCiphertextSchema>;

/** Opening of a bid `(priceLevel, quantityWh, salt, α, β)` (PROTOCOL §4); α, β are F_r scalars. */
export const openingSchema = z.object({
  priceLevel: z.number().int().nonnegative(),
  quantityWh: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  salt: bytes32Schema,
  alpha: uintStringSchema,
  beta: uintStringSchema,
});
export type Opening = z.infer<typeof openingSchema>;

/** DSO's EIP-712 ticket over `(bidder, notAfter)`; `notAfter` in unix seconds (PROTOCOL §4). */
export const ticketSchema = z.object({
  bidder: addressSchema,
  notAfter: z.number().int().positive(),
  signature: hexSchema,
});
export type Ticket = z.infer<typeof ticketSchema>;

/** What the meter submits to the gateway: everything the contract's `placeBid` needs, nothing in clear. */
export const signedBidSchema = z.object({
  bidder: addressSchema,
  side: sideSchema,
  ciphertext: bidCiphertextSchema,
  commitment: bytes32Schema,
  ticket: ticketSchema,
  bidderSignature: hexSchema,
});
export type SignedBid = z.infer<typeof signedBidSchema>;

/** A bidder's signed request to cancel its open bid, relayed by the gateway. */
export const cancelRequestSchema = z.object({
  bidder: addressSchema,
  signature: hexSchema,
});
export type CancelRequest = z.infer<typeof cancelRequestSchema>;

/** A `Matched(buyId, sellId)` event as published by the gateway; `matchId` is `matchIdOf` of the chain log. */
export const matchSchema = z.object({
  matchId: nonEmpty(),
  buyBidder: addressSchema,
  sellBidder: addressSchema,
});
export type Match = z.infer<typeof matchSchema>;

/** The trade the DSO fixes from two verified openings (PROTOCOL §5 trading, step 3). */
export const tradeTermsSchema = z.object({
  matchId: nonEmpty(),
  buyBidder: addressSchema,
  sellBidder: addressSchema,
  buyLevel: z.number().int().nonnegative(),
  sellLevel: z.number().int().nonnegative(),
  quantityWh: z.number().int().positive(),
  priceMicroPerKWh: z.number().int().nonnegative(),
  clearingRule: clearingRuleSchema,
});
export type TradeTerms = z.infer<typeof tradeTermsSchema>;

/** Ledger account: a bidder (the DSO's database maps it to the permanent id) or one of the DSO's books. */
export const ledgerAccountSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("bidder"), bidder: addressSchema }),
  z.object({ kind: z.literal("dso"), book: z.enum(["networkFees", "retailSupply", "imbalance"]) }),
]);
export type LedgerAccount = z.infer<typeof ledgerAccountSchema>;

/** One double-entry line; `amountMicro` is signed (negative = debit), in millionths of the currency unit. */
export const ledgerEntrySchema = z.object({
  account: ledgerAccountSchema,
  amountMicro: intStringSchema,
  kind: z.enum(["energy", "networkFee", "shortfallSupply", "imbalance"]),
});
export type LedgerEntry = z.infer<typeof ledgerEntrySchema>;

/** A settled trade: what was delivered and the ledger lines, which sum to zero (PROTOCOL §5 step 7). */
export const settlementSchema = z.object({
  matchId: nonEmpty(),
  quantityWh: wh(),
  deliveredWh: wh(),
  shortfallWh: wh(),
  buyReadingWh: wh().nullable(),
  sellReadingWh: wh().nullable(),
  priceMicroPerKWh: z.number().int().nonnegative(),
  entries: z.array(ledgerEntrySchema),
});
export type Settlement = z.infer<typeof settlementSchema>;

/** Published by the DSO once per market (PROTOCOL §5 setup); a meter receives it at enrolment. */
export const marketDescriptionSchema = z.object({
  marketId: nonEmpty(),
  chainId: z.number().int().positive(),
  contractAddress: addressSchema,
  ticketSigner: addressSchema,
  /** FHIPE dimension `d = priceLevels.count + 1`. */
  dimension: z.number().int().min(3),
  priceLevels: priceLevelsSchema,
  clearingRule: clearingRuleSchema,
});
export type MarketDescription = z.infer<typeof marketDescriptionSchema>;

/** Why a match was voided (PROTOCOL §5 step 5). */
export const voidReasonSchema = z.enum([
  "openingTimeout",
  "openingInvalid",
  "levelOrder",
  "termsTimeout",
]);
export type VoidReason = z.infer<typeof voidReasonSchema>;

/** An error a machine kept instead of crashing: a malformed event, a failed effect, an unroutable message. */
export type MachineErrorRecord = {
  kind: "malformedEvent" | "effectFailed" | "unroutable" | "invalidOutput" | "rejected";
  /** Event type or effect name. */
  source: string;
  detail: string;
};

/** Appends to a bounded error list (oldest dropped). */
export function appendError(
  errors: readonly MachineErrorRecord[],
  record: MachineErrorRecord,
  max: number,
): MachineErrorRecord[] {
  const next = [...errors, record];
  return next.length > max ? next.slice(next.length - max) : next;
}

/** Short, log-safe description of whatever an actor rejected with. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.split("\n")[0] ?? error.name;
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/** First issue of a failed zod parse, as one line. */
export function describeIssues(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "invalid";
}

/** Address equality regardless of EIP-55 checksum casing. */
export function sameAddress(a: string | null | undefined, b: string | null | undefined): boolean {
  return typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
}
