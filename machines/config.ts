// Typed, validated configuration of every timeout, delay, retry and size the party machines use (PROTOCOL §5, §6).
// Runtimes parse their flags/environment into `MachineConfigInput`, call `parseMachineConfig`, and pass the result
// as `input.config` to a machine; machines never contain literal durations.
import { z } from "zod";
import { InvalidConfigurationError } from "../protocol/base/errors.ts";
import { marketConfigSchema } from "../protocol/marketConfig.ts";

const ms = () => z.number().int().nonnegative();
const positiveMs = () => z.number().int().positive();
const count = () => z.number().int().positive();
/** 0 means "retry forever" (with the capped backoff). */
const attempts = () => z.number().int().nonnegative();

export const meterConfigSchema = z.object({
  /** First enrolment retry delay; doubles per failed attempt up to `enrolRetryMaxMs`. */
  enrolRetryBaseMs: positiveMs().default(500),
  enrolRetryMaxMs: positiveMs().default(30_000),
  /** Failed enrolment attempts before the meter gives up (state `enrolmentFailed`); 0 = never give up. */
  enrolMaxAttempts: attempts().default(0),
  /** Backoff for the meter's requests (ticket, submission, opening, dispute, reading): base and cap. */
  requestRetryBaseMs: positiveMs().default(200),
  requestRetryMaxMs: positiveMs().default(5_000),
  /** Attempts for a ticket request and for a bid submission before the bid session fails. */
  ticketMaxAttempts: count().default(5),
  submitMaxAttempts: count().default(5),
  /** Attempts for each step after the match (verify, dispute report, meter read, reading report). */
  tradeStepMaxAttempts: count().default(5),
  /** Lifetime asked for in the ticket (`notAfter = now + lifetime`, the DSO may shorten it). */
  bidLifetimeSeconds: count().default(120),
  /** After the bid lifetime, how long to wait for the gateway's expiry notice before deciding expiry locally. */
  expiryGraceMs: ms().default(5_000),
  /** From the match: how long to wait for the DSO's trade terms before treating the match as void. */
  termsTimeoutMs: positiveMs().default(30_000),
  /** Simulated delivery period between verified terms and the meter reading. */
  deliveryDurationMs: ms().default(1_000),
  /** After reporting the reading: how long to wait for the DSO's settlement notice. */
  settlementTimeoutMs: positiveMs().default(60_000),
  /** Bid sessions a meter runs at once. */
  maxConcurrentBids: count().default(2),
  /** Sessions (first bid + re-bids) per planned bid before it is abandoned. */
  maxAttemptsPerPlan: count().default(5),
  /** Ended sessions kept in the meter's `outcomes` (counters in `stats` cover all of them). */
  outcomeHistory: count().default(1_000),
});
export type MeterConfig = z.infer<typeof meterConfigSchema>;

export const dsoConfigSchema = z.object({
  /** Backoff of the setup steps (master key, contract, market description, resume). */
  setupRetryBaseMs: positiveMs().default(500),
  setupRetryMaxMs: positiveMs().default(10_000),
  setupMaxAttempts: attempts().default(10),
  /** From the match: how long the DSO waits for both openings. */
  openingTimeoutMs: positiveMs().default(10_000),
  /** From sending the terms: how long a meter may dispute the counterpart's opening. */
  disputeWindowMs: ms().default(5_000),
  /** From sending the terms: how long the DSO waits for both readings before settling with what it has. */
  readingTimeoutMs: positiveMs().default(20_000),
  /** Backoff of the DSO's per-trade effects (database, verification, messages): base and cap; never gives up. */
  retryBaseMs: positiveMs().default(200),
  retryMaxMs: positiveMs().default(5_000),
  /** Enrolment/ticket requests waiting to be handled; beyond it the DSO answers `busy`. */
  requestQueueLimit: count().default(1_000),
  /** Cap on the ticket lifetime a meter may ask for. */
  maxTicketLifetimeSeconds: count().default(3_600),
});
export type DsoConfig = z.infer<typeof dsoConfigSchema>;

export const gatewayConfigSchema = z.object({
  /** Flush a batch as soon as it holds this many bids... */
  batchMaxSize: count().default(16),
  /** ...or this long after its first bid arrived. */
  batchMaxDelayMs: ms().default(250),
  /** Backoff of a failed transaction (batch or cancel): base and cap. */
  submitRetryBaseMs: positiveMs().default(500),
  submitRetryMaxMs: positiveMs().default(10_000),
  /** Attempts per batch before its messages are nak'ed back to the durable queue. */
  submitMaxAttempts: count().default(5),
  /** Redelivery delay asked for when nak'ing. */
  nakDelayMs: ms().default(5_000),
  /** Backoff of the chain follower and of publishing notices: base and cap; never gives up. */
  followRetryBaseMs: positiveMs().default(500),
  followRetryMaxMs: positiveMs().default(10_000),
});
export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

export const machineConfigSchema = z
  .object({
    meter: meterConfigSchema.prefault({}),
    dso: dsoConfigSchema.prefault({}),
    gateway: gatewayConfigSchema.prefault({}),
    market: marketConfigSchema.prefault({}),
    /** Malformed events and failed effects kept in a machine's `errors` (oldest dropped first). */
    maxRecordedErrors: count().default(50),
  })
  .superRefine((config, ctx) => {
    if (config.meter.enrolRetryMaxMs < config.meter.enrolRetryBaseMs)
      ctx.addIssue({ code: "custom", path: ["meter", "enrolRetryMaxMs"], message: "must be ≥ enrolRetryBaseMs" });
    if (config.meter.requestRetryMaxMs < config.meter.requestRetryBaseMs)
      ctx.addIssue({ code: "custom", path: ["meter", "requestRetryMaxMs"], message: "must be ≥ requestRetryBaseMs" });
    if (config.dso.setupRetryMaxMs < config.dso.setupRetryBaseMs)
      ctx.addIssue({ code: "custom", path: ["dso", "setupRetryMaxMs"], message: "must be ≥ setupRetryBaseMs" });
    if (config.dso.retryMaxMs < config.dso.retryBaseMs)
      ctx.addIssue({ code: "custom", path: ["dso", "retryMaxMs"], message: "must be ≥ retryBaseMs" });
    if (config.gateway.submitRetryMaxMs < config.gateway.submitRetryBaseMs)
      ctx.addIssue({ code: "custom", path: ["gateway", "submitRetryMaxMs"], message: "must be ≥ submitRetryBaseMs" });
    if (config.gateway.followRetryMaxMs < config.gateway.followRetryBaseMs)
      ctx.addIssue({ code: "custom", path: ["gateway", "followRetryMaxMs"], message: "must be ≥ followRetryBaseMs" });
    // A meter that gives up on the terms before the DSO gave up on the openings would re-bid energy the DSO may
    // still trade: the meter must outwait the DSO.
    if (config.meter.termsTimeoutMs <= config.dso.openingTimeoutMs)
      ctx.addIssue({
        code: "custom",
        path: ["meter", "termsTimeoutMs"],
        message: "must exceed dso.openingTimeoutMs (the meter must outwait the DSO's opening window)",
      });
    if (config.meter.settlementTimeoutMs <= Math.max(config.dso.disputeWindowMs, config.dso.readingTimeoutMs))
      ctx.addIssue({
        code: "custom",
        path: ["meter", "settlementTimeoutMs"],
        message: "must exceed dso.disputeWindowMs and dso.readingTimeoutMs",
      });
  });

export type MachineConfig = z.infer<typeof machineConfigSchema>;
export type MachineConfigInput = z.input<typeof machineConfigSchema>;

/** Validates and completes a configuration with the defaults; throws `InvalidConfigurationError` naming every bad field. */
export function parseMachineConfig(input: MachineConfigInput | undefined = {}): MachineConfig {
  const parsed = machineConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new InvalidConfigurationError({ what: "machine configuration", issues: parsed.error.issues, schemaIn: "machines/config.ts", value: input });
}

/** The defaults, for tests and for runtimes that take no overrides. */
export const defaultMachineConfig: MachineConfig = parseMachineConfig({});

/**
 * Capped exponential backoff: `min(maxMs, baseMs · 2^(attempt − 1))` for attempt ≥ 1 (attempt 0 is treated as 1).
 * No jitter: randomness is an effect and the machines are pure; a runtime wanting jitter overrides the named delay.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  return Math.min(maxMs, baseMs * 2 ** exponent);
}
