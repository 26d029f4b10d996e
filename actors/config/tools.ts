// Defaults of the commands that are not parties: the demo, the benchmarks, `watch`, `trace`, `diagrams`, and the
// provisioning of a compose market.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adapterDefaults, partyDefaults } from "./common.ts";

export const demoDefaults = {
  meters: 6,
  rounds: 4,
  levels: 10,
  seed: 1,
  /** Give up when a round does not settle in this time. */
  roundTimeoutMs: 120_000,
  /** Span file, DSO database and gateway cursor of the demo (also what `gridveil trace` reads by default). */
  dataDir: join(tmpdir(), "gridveil-demo"),
} as const;

/** The version 2 demo: a day of delivery slots at 1,024 price levels (0.00–51.15 ct/kWh in 0.05 ct steps), w = 1. */
export const dayDemoDefaults = {
  /** Four households keep the day under a minute on a 2-core machine (≈ 330 bids: the local chain places ≈ 8–10 v2 bids/s). */
  meters: 4,
  slots: 96,
  levels: 1024,
  width: 1,
  encryptAt: "dso" as "dso" | "meter",
  /** Wall seconds the day's 24 hours take (compressed time), after the day-ahead bidding window. */
  daySeconds: 40,
  /** Wall seconds of bidding before the first slot's gate closure. */
  biddingSeconds: 4,
  /**
   * A meter plans a slot's bid this long (market seconds) before the slot's gate closure: ahead of the day for the
   * night's slots, intraday for the rest. It spreads the DSO's certifications (≈ 23 ms of pairing-group work per bid
   * at n = 1,024) over the day instead of queueing the whole day's bids at once.
   */
  planLeadSeconds: 6 * 3600,
  /** Gate closure: bids of a slot close this long before it starts (market seconds). */
  gateClosureSeconds: 300,
  /** p_0 and the step of the 1,024 levels: 0.00 to 51.15 ct/kWh. */
  firstPriceMicroPerKWh: 0,
  stepMicroPerKWh: 500,
  /** The slow-down check: the whole run must end within this (wall). */
  timeoutMs: 180_000,
} as const;

export const benchDefaults = {
  fhipe: { levels: [10, 20, 30, 40, 50], iterations: 100 },
  gas: { levels: [10, 50, 1024], widths: [1], bookSize: 100, samples: 10 },
  leakage: { levels: 1024, widths: [1, 2, 5], bids: 200 },
  hints: { levels: 1024, widths: [1, 2], book: 200, hints: 30 },
  /** Both designs at each n; version 1 at 1,024 reports that it does not fit (d = n + 1 > 127). */
  throughput: { levels: [10, 50, 1024], bids: 500, meters: 4 },
  load: { levels: [10], meters: [4, 16, 64], rounds: 2, seed: 1 },
  soak: { meters: 4, minutes: 5, rounds: 96 },
} as const;

export const watchDefaults = {
  natsUrl: partyDefaults.natsUrl,
  market: partyDefaults.market,
  /** With `--once`: listen one heartbeat and a second, so that every live actor has reported. */
  onceWaitMs: adapterDefaults.snapshotIntervalMs + 1_000,
} as const;

export const diagramsDefaults = {
  dir: "docs/machines",
  readme: "README.md",
} as const;

/** `gridveil market up`: the market of processes (infra/market.ts). */
export const marketDefaults = {
  market: partyDefaults.market,
  meters: 4,
  dir: ".gridveil/market",
  /** How long `market down` waits for a process to stop on SIGTERM before it kills it. */
  stopGraceMs: 15_000,
} as const;

export const provisionDefaults = {
  market: partyDefaults.market,
  /** Meter identities provisioned for `--scale meter=N` (each replica claims one). */
  meterSlots: 16,
} as const;
