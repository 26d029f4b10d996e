// Settlement (PROTOCOL §5 trading step 6): a trade's double-entry ledger lines from its terms and the meters'
// readings. The DSO's machine computes them, its database stores them per permanent id, each meter is told its own.
import { z } from "zod";
import { InvalidSettlementInputError } from "./errors.ts";
import { sameAddress, type Address } from "./base/hex.ts";
import { addressSchema, energyWhSchema, microStringSchema, quantityWhSchema } from "./base/primitives.ts";
import type { TradeTerms } from "./clearing.ts";
import type { Tariffs } from "./marketConfig.ts";

/** One kind per role, so a meter on both sides of a trade keeps distinct lines. */
export const postingKindSchema = z.enum([
  "energy.buy",
  "energy.sell",
  "shortfall.supply",
  "shortfall.retail",
  "imbalance.charge",
  "imbalance.income",
  "fee.buyer",
  "fee.seller",
  "fee.revenue",
]);
export type PostingKind = z.output<typeof postingKindSchema>;

/** The DSO's books: network/mediation fees, shortfall energy it supplied as retailer, imbalance charges. */
export const dsoBookSchema = z.enum(["dso:revenue", "dso:retail", "dso:imbalance"]);
export type DsoBook = z.output<typeof dsoBookSchema>;

/** A line's account: a party of the trade by its one-time id (the DSO maps it to the permanent id), or a DSO book. */
export const ledgerAccountSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("bidder"), bidder: addressSchema }),
  z.object({ kind: z.literal("dso"), book: dsoBookSchema }),
]);
export type LedgerAccount = z.output<typeof ledgerAccountSchema>;

/** One double-entry line; `amountMicro` is signed (negative = debit), in millionths of the currency unit. */
export const ledgerEntrySchema = z.object({
  account: ledgerAccountSchema,
  amountMicro: microStringSchema,
  kind: postingKindSchema,
});
export type LedgerEntry = z.output<typeof ledgerEntrySchema>;

/** A settled trade: what was delivered and its lines, which sum to zero. */
export const settlementSchema = z.object({
  matchId: z.string().min(1).max(512),
  quantityWh: quantityWhSchema,
  deliveredWh: energyWhSchema,
  shortfallWh: energyWhSchema,
  buyReadingWh: energyWhSchema.nullable(),
  sellReadingWh: energyWhSchema.nullable(),
  priceMicroPerKWh: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  entries: z.array(ledgerEntrySchema),
});
export type Settlement = z.output<typeof settlementSchema>;

/** What a party is told of its settled trade: the trade's figures and its own lines (it knows its own reading). */
export const settledNoticeSchema = settlementSchema.omit({ buyReadingWh: true, sellReadingWh: true });
export type SettledNotice = z.output<typeof settledNoticeSchema>;

/** `rate × energy` in micro-units, rounded down to a whole micro-unit: `rate[µ/kWh] · wh / 1000`. */
export function amountMicro(rateMicroPerKWh: number, wh: number): bigint {
  return (BigInt(rateMicroPerKWh) * BigInt(wh)) / 1000n;
}

function assertWhole(field: string, value: number | null): void {
  if (value !== null && (!Number.isSafeInteger(value) || value < 0)) throw new InvalidSettlementInputError({ field, value });
}

/**
 * The settlement rule (decisions in docs/machines.md):
 * - delivered = min(quantity, seller's reading); a missing seller reading counts as 0 delivered (the seller could
 *   not show it fed anything). The buyer's reading is recorded for audit and does not change the amounts.
 * - shortfall = quantity − delivered: the DSO supplies it to the buyer at the retail tariff and charges the seller
 *   the imbalance rate on it.
 * - buyer → seller: price × delivered; network fee × delivered → DSO, paid by `feePayer` (buyer, seller, or
 *   split with the seller's half rounded down).
 * Each amount is rounded once and posted twice with opposite signs, so the lines sum to exactly zero; zero-amount
 * lines are left out. Inputs come from validated terms and readings; anything else is a programming error and throws.
 */
export function settleTrade(args: {
  terms: TradeTerms;
  buyReadingWh: number | null;
  sellReadingWh: number | null;
  tariffs: Tariffs;
}): Settlement {
  const { terms, tariffs } = args;
  assertWhole("quantityWh", terms.quantityWh);
  assertWhole("priceMicroPerKWh", terms.priceMicroPerKWh);
  assertWhole("buyReadingWh", args.buyReadingWh);
  assertWhole("sellReadingWh", args.sellReadingWh);
  if (terms.quantityWh === 0) throw new InvalidSettlementInputError({ field: "quantityWh", value: 0 });
  const deliveredWh = Math.min(terms.quantityWh, args.sellReadingWh ?? 0);
  const shortfallWh = terms.quantityWh - deliveredWh;
  const buyer = { kind: "bidder", bidder: terms.buyBidder } as const;
  const seller = { kind: "bidder", bidder: terms.sellBidder } as const;
  const book = (name: DsoBook) => ({ kind: "dso", book: name }) as const;
  const entries: LedgerEntry[] = [];
  const pair = (from: LedgerAccount, fromKind: PostingKind, to: LedgerAccount, toKind: PostingKind, amount: bigint): void => {
    if (amount === 0n) return;
    entries.push({ account: from, amountMicro: (-amount).toString(), kind: fromKind });
    entries.push({ account: to, amountMicro: amount.toString(), kind: toKind });
  };
  pair(buyer, "energy.buy", seller, "energy.sell", amountMicro(terms.priceMicroPerKWh, deliveredWh));
  const fee = amountMicro(tariffs.networkFeeMicroPerKWh, deliveredWh);
  const sellerFee = tariffs.feePayer === "seller" ? fee : tariffs.feePayer === "buyer" ? 0n : fee / 2n;
  pair(buyer, "fee.buyer", book("dso:revenue"), "fee.revenue", fee - sellerFee);
  pair(seller, "fee.seller", book("dso:revenue"), "fee.revenue", sellerFee);
  pair(buyer, "shortfall.supply", book("dso:retail"), "shortfall.retail", amountMicro(tariffs.retailTariffMicroPerKWh, shortfallWh));
  pair(seller, "imbalance.charge", book("dso:imbalance"), "imbalance.income", amountMicro(tariffs.imbalanceRateMicroPerKWh, shortfallWh));
  return {
    matchId: terms.matchId,
    quantityWh: terms.quantityWh,
    deliveredWh,
    shortfallWh,
    buyReadingWh: args.buyReadingWh,
    sellReadingWh: args.sellReadingWh,
    priceMicroPerKWh: terms.priceMicroPerKWh,
    entries,
  };
}

/** Sum of a settlement's lines (zero for every settlement `settleTrade` produces). */
export function entriesSum(entries: readonly { amountMicro: string | number | bigint }[]): bigint {
  return entries.reduce((sum, entry) => sum + BigInt(entry.amountMicro), 0n);
}

/** A party's own lines (its one-time id), e.g. for its settlement notice. */
export function linesOf(entries: readonly LedgerEntry[], bidder: Address): LedgerEntry[] {
  return entries.filter((entry) => entry.account.kind === "bidder" && sameAddress(entry.account.bidder, bidder));
}
