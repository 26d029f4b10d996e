// Errors of the benchmarks: a sample or a phase that did not go as the benchmark's design requires, each building
// its message from what was observed (protocol/base/errors.ts).
import { GridveilError, faultErrorClass } from "../protocol/base/errors.ts";

/** A gas sample did not do what it was built to measure (a resting bid matched, a matching one rested, a rejection). */
export class GasBenchError extends faultErrorClass(GridveilError, {
  restingMatched: (f: { levels: number; restingSide: number }) => [
    "a resting sample matched",
    { value: { levels: f.levels, restingSide: f.restingSide } },
  ],
  matchingRested: (f: { levels: number; matchingSide: number }) => [
    "a matching sample rested",
    { value: { levels: f.levels, matchingSide: f.matchingSide } },
  ],
  rejected: (f: { reasonName: string | undefined }) => ["the book rejected a bid", { value: f.reasonName }],
}) {}

/** The chain child process of `bench throughput` did not come up. */
export class ChainProcessError extends faultErrorClass(GridveilError, {
  timeout: (f: { timeoutMs: number }) => ["the chain process did not start in time", { value: f.timeoutMs }],
  noUrl: (f: { line: string }) => ["the chain process printed no URL", { value: f.line }],
  exited: (f: { code: number | null }) => ["the chain process exited during start-up", { value: f.code }],
}) {}

/** A throughput phase stalled or lost a bid. */
export class ThroughputBenchError extends faultErrorClass(GridveilError, {
  timedOut: (f: { what: string; timeoutMs: number; placed: number; rejected: number }) => [
    `timed out waiting for ${f.what}`,
    { value: { timeoutMs: f.timeoutMs, placed: f.placed, rejected: f.rejected } },
  ],
  bidRejected: (f: { bidder: string; reason: string }) => ["a bench bid was rejected", { value: { bidder: f.bidder, reason: f.reason } }],
  bidsRejected: (f: { examples: readonly (readonly [string, string])[] }) => ["bench bids were rejected", { value: f.examples }],
  singleMeterFailed: (f: { planId: string; failure: unknown }) => ["a single-meter bid failed", { value: { planId: f.planId, failure: f.failure } }],
  notVersion1: (f: { market: string }) => ["the version 1 feed enrolled in a version 2 market (no master key for meters)", { value: f.market }],
  notVersion2: (f: { market: string }) => ["the version 2 feed enrolled in a version 1 market (no slots)", { value: f.market }],
  noEpochKey: (f: { slot: number }) => ["meter mode: the enrolment brought no epoch key for the bench's slot", { value: f.slot }],
}) {}
