// Pure settlement (PROTOCOL §5 trading, step 7): a trade's double-entry postings from its terms and measured energies.
import { GridveilError } from "./base/errors.ts";
import type { MarketConfig } from "./marketConfig.ts";
import type { PostingKind } from "./wire/schemas.ts";

/**
 * Accounts: one per permanent meter id (its utility bill) and three of the DSO: `dso:revenue` (network/mediation
 * fees), `dso:retail` (shortfall energy it supplied as retailer), `dso:imbalance` (imbalance charges).
 * Sign: a positive amount credits the account (the account is owed money), a negative one debits it.
 */
export type LedgerAccount = `meter:${string}` | `dso:${string}`;

export const accounts = {
  meter: (meterId: string): LedgerAccount => `meter:${meterId}`,
  dsoRevenue: "dso:revenue",
  dsoRetail: "dso:retail",
  dsoImbalance: "dso:imbalance",
} as const satisfies Record<string, LedgerAccount | ((meterId: string) => LedgerAccount)>;

/** The DSO books of machines/types.ts `ledgerAccountSchema`, as accounts of this ledger. */
export const dsoBookAccounts = {
  networkFees: accounts.dsoRevenue,
  retailSupply: accounts.dsoRetail,
  imbalance: accounts.dsoImbalance,
} as const satisfies Record<string, LedgerAccount>;

export type Posting = { account: LedgerAccount; kind: PostingKind; amountMicro: number; memo: string };

export type SettlementInput = {
  buyerMeterId: string;
  sellerMeterId: string;
  priceMicroPerKWh: number;
  /** Contracted quantity (the trade terms). */
  quantityWh: number;
  /** The seller's reading: energy it fed in for this trade. */
  fedWh: number;
  /** The buyer's reading, if any: recorded for audit, it does not change the amounts. */
  consumedWh?: number | null;
};

export type Tariffs = Pick<MarketConfig, "retailTariffMicroPerKWh" | "imbalanceRateMicroPerKWh" | "networkFeeMicroPerKWh" | "feePayer">;

export type Settlement = {
  /** Energy that went from seller to buyer under the trade: min(quantity, fed). */
  deliveredWh: number;
  /** quantity − delivered: supplied to the buyer by the DSO at retail, charged to the seller as imbalance. */
  shortfallWh: number;
  /** Non-zero postings; they always sum to zero. */
  postings: Posting[];
};

export class InvalidSettlementInputError extends GridveilError {
  override name = "InvalidSettlementInputError";
}

export class UnbalancedPostingsError extends GridveilError {
  override name = "UnbalancedPostingsError";
}

const WH_PER_KWH = 1000n;

/**
 * `price × energy` in µ-units: price (µ/kWh) × energy (Wh) / 1000, computed exactly in bigint and rounded down to a
 * whole µ-unit (as machines/tradeTerms.ts does). Each amount is rounded once and posted twice with opposite signs,
 * so rounding can never unbalance a trade.
 */
export function amountMicro(priceMicroPerKWh: number, energyWh: number): number {
  const rounded = (BigInt(priceMicroPerKWh) * BigInt(energyWh)) / WH_PER_KWH;
  const result = Number(rounded);
  if (!Number.isSafeInteger(result)) throw new InvalidSettlementInputError("amount overflows a safe integer", { value: rounded });
  return result;
}

function assertWh(name: string, value: number, allowZero: boolean): void {
  if (!Number.isSafeInteger(value) || value < 0 || (!allowZero && value === 0)) {
    throw new InvalidSettlementInputError(`${name} must be a ${allowZero ? "non-negative" : "positive"} integer (Wh)`, { value });
  }
}

/**
 * Postings of one trade (the same rule as machines/tradeTerms.ts `settleTrade`):
 * - delivered = min(quantity, fed); shortfall = quantity − delivered (a missing seller reading is fed = 0);
 * - energy: buyer debited, seller credited `price × delivered`;
 * - shortfall: buyer debited, `dso:retail` credited `retail × shortfall` (the DSO supplies the missing energy);
 * - imbalance: seller debited, `dso:imbalance` credited `imbalanceRate × shortfall`;
 * - network fee: `fee × delivered` to `dso:revenue`, paid by the buyer (default), the seller, or split.
 */
export function settleTrade(input: SettlementInput, tariffs: Tariffs): Settlement {
  assertWh("quantityWh", input.quantityWh, false);
  assertWh("fedWh", input.fedWh, true);
  if (input.consumedWh !== undefined && input.consumedWh !== null) assertWh("consumedWh", input.consumedWh, true);
  if (!Number.isSafeInteger(input.priceMicroPerKWh) || input.priceMicroPerKWh < 0) {
    throw new InvalidSettlementInputError("price must be a non-negative integer (µ/kWh)", { value: input.priceMicroPerKWh });
  }
  const deliveredWh = Math.min(input.quantityWh, input.fedWh);
  const shortfallWh = input.quantityWh - deliveredWh;

  const buyer = accounts.meter(input.buyerMeterId);
  const seller = accounts.meter(input.sellerMeterId);
  const energy = amountMicro(input.priceMicroPerKWh, deliveredWh);
  const retail = amountMicro(tariffs.retailTariffMicroPerKWh, shortfallWh);
  const imbalance = amountMicro(tariffs.imbalanceRateMicroPerKWh, shortfallWh);
  const fee = amountMicro(tariffs.networkFeeMicroPerKWh, deliveredWh);
  const sellerFee = tariffs.feePayer === "seller" ? fee : tariffs.feePayer === "buyer" ? 0 : Math.floor(fee / 2);
  const buyerFee = fee - sellerFee;

  const all: Posting[] = [
    { account: buyer, kind: "energy.buy", amountMicro: -energy, memo: `${deliveredWh} Wh at ${input.priceMicroPerKWh} µ/kWh` },
    { account: seller, kind: "energy.sell", amountMicro: energy, memo: `${deliveredWh} Wh at ${input.priceMicroPerKWh} µ/kWh` },
    { account: buyer, kind: "shortfall.supply", amountMicro: -retail, memo: `${shortfallWh} Wh shortfall at retail` },
    { account: accounts.dsoRetail, kind: "shortfall.retail", amountMicro: retail, memo: `${shortfallWh} Wh shortfall supplied` },
    { account: seller, kind: "imbalance.charge", amountMicro: -imbalance, memo: `${shortfallWh} Wh not delivered` },
    { account: accounts.dsoImbalance, kind: "imbalance.income", amountMicro: imbalance, memo: `${shortfallWh} Wh imbalance` },
    { account: buyer, kind: "fee.buyer", amountMicro: -buyerFee, memo: `fee on ${deliveredWh} Wh` },
    { account: seller, kind: "fee.seller", amountMicro: -sellerFee, memo: `fee on ${deliveredWh} Wh` },
    { account: accounts.dsoRevenue, kind: "fee.revenue", amountMicro: fee, memo: `fee on ${deliveredWh} Wh` },
  ];
  const postings = all.filter((posting) => posting.amountMicro !== 0);
  assertBalanced(postings);
  return { deliveredWh, shortfallWh, postings };
}

/** Throws unless the postings sum to exactly zero. */
export function assertBalanced(postings: readonly Pick<Posting, "amountMicro">[]): void {
  const sum = postings.reduce((total, posting) => total + BigInt(posting.amountMicro), 0n);
  if (sum !== 0n) throw new UnbalancedPostingsError("postings do not sum to zero", { value: sum });
}

/** Net amount per account (what a bill sums). */
export function netByAccount(postings: readonly Posting[]): Map<LedgerAccount, number> {
  const net = new Map<LedgerAccount, number>();
  for (const posting of postings) net.set(posting.account, (net.get(posting.account) ?? 0) + posting.amountMicro);
  return net;
}
