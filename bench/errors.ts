// Errors of the benchmarks: a sample or a phase that did not go as the benchmark's design requires, each building
// its message from what was observed (protocol/base/errors.ts).
import { GridveilError, errorClass, faultErrorClass } from "../protocol/base/errors.ts";

/** A gas sample did not do what it was built to measure (a resting bid matched, a matching one rested, a rejection). */
export type GasSampleFault =
  | { kind: "restingMatched"; levels: number; restingSide: number }
  | { kind: "matchingRested"; levels: number; matchingSide: number }
  | { kind: "rejected"; reasonName: string | undefined };

const GAS_TEXT: Record<GasSampleFault["kind"], string> = {
  restingMatched: "a resting sample matched",
  matchingRested: "a matching sample rested",
  rejected: "the book rejected a bid",
};

export class GasBenchError extends errorClass(GridveilError, (fault: GasSampleFault) => {
  const { kind, ...value } = fault;
  return [GAS_TEXT[kind], { value: kind === "rejected" ? fault.reasonName : value }];
}) {}

/** The chain child process of `bench throughput` did not come up. */
export type ChainStartFault = { kind: "timeout"; timeoutMs: number } | { kind: "noUrl"; line: string } | { kind: "exited"; code: number | null };

const CHAIN_TEXT: Record<ChainStartFault["kind"], string> = {
  timeout: "the chain process did not start in time",
  noUrl: "the chain process printed no URL",
  exited: "the chain process exited during start-up",
};

export class ChainProcessError extends errorClass(GridveilError, (fault: ChainStartFault) => [
  CHAIN_TEXT[fault.kind],
  { value: fault.kind === "timeout" ? fault.timeoutMs : fault.kind === "noUrl" ? fault.line : fault.code },
]) {}

/** A throughput phase stalled or lost a bid. */
export class ThroughputBenchError extends faultErrorClass(GridveilError, {
  timedOut: (f: { what: string; timeoutMs: number; placed: number; rejected: number }) => [
    `timed out waiting for ${f.what}`,
    { value: { timeoutMs: f.timeoutMs, placed: f.placed, rejected: f.rejected } },
  ],
  bidRejected: (f: { bidder: string; reason: string }) => ["a bench bid was rejected", { value: { bidder: f.bidder, reason: f.reason } }],
  bidsRejected: (f: { examples: readonly (readonly [string, string])[] }) => ["bench bids were rejected", { value: f.examples }],
  singleMeterFailed: (f: { planId: string; failure: unknown }) => ["a single-meter bid failed", { value: { planId: f.planId, failure: f.failure } }],
}) {}
