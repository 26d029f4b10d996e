// The market's economic configuration (price levels, clearing rule, tariffs, fees, billing period): typed, validated,
// defaulted, and the one definition the DSO's machine, its runtime and the market description all use (PROTOCOL §3, §5).
import { z } from "zod";
import { InvalidConfigurationError } from "./base/errors.ts";

/**
 * All money is in integer micro-units of `currency` (µ€ by default: 1 € = 1 000 000 µ€) and all prices are per kWh,
 * so every amount is an exact integer. Defaults describe a small household market: ten price levels from
 * 0.10 €/kWh in steps of 0.01 €/kWh (top 0.19 €/kWh), below the retail tariff of 0.30 €/kWh, so trading pays.
 */
export const MICRO_PER_UNIT = 1_000_000;

/** Upper bound on the number of price levels n (the unary encoding's dimension is n + 1; PROTOCOL §3). */
export const MAX_PRICE_LEVELS = 1024;

const microPerKWh = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

/** PROTOCOL §5 trading step 2: midpoint of the two levels (default), the seller's or the buyer's level. */
export const clearingRuleSchema = z.enum(["midpoint", "seller", "buyer"]);
export type ClearingRule = z.output<typeof clearingRuleSchema>;

export const priceLevelsSchema = z
  .strictObject({
    /** p_0, the lowest level. */
    firstPriceMicroPerKWh: microPerKWh.default(100_000),
    /** p_(i+1) − p_i. */
    stepMicroPerKWh: z.int().positive().max(Number.MAX_SAFE_INTEGER).default(10_000),
    /** n: levels 0 … n−1 (the FHIPE dimension is n + 1, PROTOCOL §3). */
    count: z.int().min(2).max(MAX_PRICE_LEVELS).default(10),
  })
  .refine(
    (levels) => Number.isSafeInteger(levels.firstPriceMicroPerKWh + levels.stepMicroPerKWh * (levels.count - 1)),
    "the top price level overflows a safe integer",
  );
export type PriceLevels = z.output<typeof priceLevelsSchema>;

export const feePayerSchema = z.enum(["buyer", "seller", "split"]);
export type FeePayer = z.output<typeof feePayerSchema>;

export const marketConfigSchema = z.strictObject({
  currency: z.string().regex(/^[A-Z]{3}$/, "expected an ISO 4217 code such as EUR").default("EUR"),
  priceLevels: priceLevelsSchema.prefault({}),
  clearingRule: clearingRuleSchema.default("midpoint"),
  /** What the DSO, as retailer, charges a buyer for shortfall energy it supplies. */
  retailTariffMicroPerKWh: microPerKWh.default(300_000),
  /** What a seller pays per kWh it sold but did not deliver. */
  imbalanceRateMicroPerKWh: microPerKWh.default(200_000),
  /** The DSO's network/mediation fee per delivered kWh, credited to the DSO's revenue account. */
  networkFeeMicroPerKWh: microPerKWh.default(20_000),
  /** Who pays the fee: the buyer (default, as a network tariff), the seller, or `split` (seller's half rounded down). */
  feePayer: feePayerSchema.default("buyer"),
  /** Bills are per permanent meter id per calendar month (default) or day, in UTC. */
  billingPeriod: z.enum(["month", "day"]).default("month"),
});
export type MarketConfig = z.output<typeof marketConfigSchema>;
export type MarketConfigInput = z.input<typeof marketConfigSchema>;

/** What settlement needs of the market configuration (PROTOCOL §5 trading step 6). */
export type Tariffs = Pick<MarketConfig, "retailTariffMicroPerKWh" | "imbalanceRateMicroPerKWh" | "networkFeeMicroPerKWh" | "feePayer">;

/** Validates a (partial) configuration and fills in the defaults; throws `InvalidConfigurationError` listing every problem. */
export function parseMarketConfig(input: unknown = {}): MarketConfig {
  const result = marketConfigSchema.safeParse(input);
  if (!result.success) {
    throw new InvalidConfigurationError({ what: "market configuration", issues: result.error.issues, schemaIn: "protocol/marketConfig.ts" });
  }
  return result.data;
}

export function defaultMarketConfig(): MarketConfig {
  return parseMarketConfig({});
}

/** p_level in µ-units per kWh. */
export function priceOfLevel(levels: PriceLevels, level: number): number {
  return levels.firstPriceMicroPerKWh + levels.stepMicroPerKWh * level;
}

/** The whole level → price table. */
export function priceTable(levels: PriceLevels): number[] {
  return Array.from({ length: levels.count }, (_, level) => priceOfLevel(levels, level));
}

/** Billing period of a moment: `YYYY-MM` or `YYYY-MM-DD` (UTC). */
export function billingPeriodOf(config: Pick<MarketConfig, "billingPeriod">, timestampMs: number): string {
  const iso = new Date(timestampMs).toISOString();
  return config.billingPeriod === "day" ? iso.slice(0, 10) : iso.slice(0, 7);
}
