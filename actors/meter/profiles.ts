// Prosumer profiles for the demo: per meter, the bids it plans per round (time of day), from a seeded PRNG (pure).
import type { PlannedBid } from "../../machines/meter.ts";
import { mulberry32 } from "../runtime/mulberry32.ts";

/**
 * Model (one round = one 15-minute trading interval at a time of day, rounds spread over the day):
 * - `pv-household`: rooftop PV (3–10 kWp) and a small household load; sells its surplus when the sun is up, in the
 *   lower-middle price levels (it has little alternative: the feed-in tariff is low).
 * - `consumer`: a larger load (a flat block, a shop: 1.6–9 kW) without generation; buys every round, in the
 *   middle-upper levels (below the retail tariff it would otherwise pay).
 * - `prosumer`: PV and a sizeable load (a farm, a workshop); sells at midday and buys in the morning and evening,
 *   whichever its net position is in that round.
 * Energy per round = power × 0.25 h, in Wh, rounded to 10 Wh and kept within [100 Wh, 4 kWh] (a bid below 100 Wh
 * is not worth its gas). Sell and buy bands overlap in the middle so that most but not all bids cross.
 */
export type ProsumerKind = "pv-household" | "consumer" | "prosumer";

/** A planned bid in the meter machine's format (`PlannedBid`) with the round it belongs to. */
export type ProfileBid = PlannedBid & { round: number };

export type MeterProfile = {
  /** Permanent meter id (what the DSO registry provisions). */
  meterId: string;
  name: string;
  kind: ProsumerKind;
  /** PV peak power, 0 without PV. */
  pvPeakW: number;
  /** In round order; at most one bid per round. */
  bids: ProfileBid[];
};

export type ProfileOptions = {
  meters: number;
  rounds: number;
  /** Price levels `n`: bids use levels 0..n-1. */
  levels: number;
  seed: number;
  /** Time of day (hours) the first and last round span; defaults 6:00–22:00. */
  firstHour?: number;
  lastHour?: number;
};

export const ROUND_MINUTES = 15;
export const MIN_BID_WH = 100;
export const MAX_BID_WH = 4_000;
const WH_GRANULARITY = 10;
/** The trading day the rounds spread over (6:00 to 22:00). */
const TRADING_DAY = { firstHour: 6, lastHour: 22 } as const;
const SUNRISE_HOUR = 6;
const SUNSET_HOUR = 20;
/** Kinds cycle in this order, so any two meters include a seller and a buyer (40 % PV, 40 % consumers, 20 % both). */
const KIND_CYCLE: readonly ProsumerKind[] = ["pv-household", "consumer", "pv-household", "consumer", "prosumer"];

/** Deterministic PRNG (mulberry32): the same seed gives the same sequence. */
export const createRandom = mulberry32;

function between(random: () => number, min: number, max: number): number {
  return min + random() * (max - min);
}

function intBetween(random: () => number, min: number, maxInclusive: number): number {
  return Math.min(maxInclusive, min + Math.floor(random() * (maxInclusive - min + 1)));
}

/** Time of day (hours) of a round's interval midpoint, rounds evenly spread over [firstHour, lastHour). */
export function roundHour(round: number, rounds: number, firstHour: number = TRADING_DAY.firstHour, lastHour: number = TRADING_DAY.lastHour): number {
  return firstHour + ((round + 0.5) * (lastHour - firstHour)) / rounds;
}

/** Clear-sky PV output as a fraction of peak power: a half sine between sunrise and sunset. */
export function pvOutputFraction(hour: number): number {
  if (hour <= SUNRISE_HOUR || hour >= SUNSET_HOUR) return 0;
  return Math.sin((Math.PI * (hour - SUNRISE_HOUR)) / (SUNSET_HOUR - SUNRISE_HOUR));
}

/** Load shape (multiplier of the base load): a morning and a larger evening peak. */
export function loadShape(hour: number): number {
  return 0.7 + 0.5 * Math.exp(-(((hour - 8) / 1.5) ** 2)) + 0.8 * Math.exp(-(((hour - 19) / 2) ** 2));
}

/** Price bands: sellers in the lower middle, buyers in the middle and above (inclusive level ranges). */
export function priceBands(levels: number): { sell: [number, number]; buy: [number, number] } {
  const top = levels - 1;
  const sellLow = Math.floor(0.1 * levels);
  const sellHigh = Math.min(top, Math.max(sellLow, Math.ceil(0.55 * levels) - 1));
  const buyLow = Math.min(top, Math.floor(0.4 * levels));
  return { sell: [sellLow, sellHigh], buy: [buyLow, top] };
}

function energyWh(powerW: number): number {
  const wh = (powerW * ROUND_MINUTES) / 60;
  return Math.round(Math.min(MAX_BID_WH, wh) / WH_GRANULARITY) * WH_GRANULARITY;
}

type Household = { kind: ProsumerKind; pvPeakW: number; baseLoadW: number; sellLevel: number; buyLevel: number };

function household(kind: ProsumerKind, random: () => number, levels: number): Household {
  const bands = priceBands(levels);
  // Every meter has its own reservation level in its band; rounds vary it by one level at most.
  const sellLevel = intBetween(random, bands.sell[0], bands.sell[1]);
  const buyLevel = intBetween(random, bands.buy[0], bands.buy[1]);
  switch (kind) {
    case "pv-household":
      return { kind, pvPeakW: Math.round(between(random, 3_000, 10_000)), baseLoadW: Math.round(between(random, 250, 600)), sellLevel, buyLevel };
    case "consumer":
      return { kind, pvPeakW: 0, baseLoadW: Math.round(between(random, 1_600, 9_000)), sellLevel, buyLevel };
    case "prosumer":
      return { kind, pvPeakW: Math.round(between(random, 4_000, 12_000)), baseLoadW: Math.round(between(random, 800, 3_000)), sellLevel, buyLevel };
  }
}

function jitterLevel(random: () => number, level: number, band: [number, number]): number {
  const step = intBetween(random, -1, 1);
  return Math.min(band[1], Math.max(band[0], level + step));
}

const NAMES: Record<ProsumerKind, string> = { "pv-household": "PV house", consumer: "Consumer", prosumer: "Prosumer" };

/**
 * The demo's meters and their bids, deterministic for `seed`. Meter ids are `meter-001`, `meter-002`, …; plan ids
 * `r<round>` (one bid per meter and round).
 */
export function buildProfiles(options: ProfileOptions): MeterProfile[] {
  const { meters, rounds, levels, seed } = options;
  if (!Number.isInteger(meters) || meters < 0) throw new RangeError(`meters must be a non-negative integer, got ${meters}`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`rounds must be a positive integer, got ${rounds}`);
  if (!Number.isInteger(levels) || levels < 2) throw new RangeError(`levels must be an integer ≥ 2, got ${levels}`);
  const random = createRandom(seed);
  const bands = priceBands(levels);
  const counts: Record<ProsumerKind, number> = { "pv-household": 0, consumer: 0, prosumer: 0 };
  const profiles: MeterProfile[] = [];
  for (let index = 0; index < meters; index++) {
    const kind = KIND_CYCLE[index % KIND_CYCLE.length] as ProsumerKind;
    counts[kind] += 1;
    const home = household(kind, random, levels);
    const bids: ProfileBid[] = [];
    for (let round = 0; round < rounds; round++) {
      const hour = roundHour(round, rounds, options.firstHour, options.lastHour);
      // Clouds: each round's PV output is 60–100 % of clear sky; loads vary ±15 %.
      const pvW = home.pvPeakW * pvOutputFraction(hour) * between(random, 0.6, 1);
      const loadW = home.baseLoadW * loadShape(hour) * between(random, 0.85, 1.15);
      const netW = pvW - loadW;
      const sellLevel = jitterLevel(random, home.sellLevel, bands.sell);
      const buyLevel = jitterLevel(random, home.buyLevel, bands.buy);
      let bid: Omit<ProfileBid, "planId" | "round"> | null = null;
      if (kind === "consumer") bid = { side: "buy", priceLevel: buyLevel, quantityWh: energyWh(loadW) };
      else if (netW > 0) bid = { side: "sell", priceLevel: sellLevel, quantityWh: energyWh(netW) };
      else if (kind === "prosumer") bid = { side: "buy", priceLevel: buyLevel, quantityWh: energyWh(-netW) };
      if (bid && bid.quantityWh >= MIN_BID_WH) bids.push({ planId: `r${round}`, round, ...bid });
    }
    const meterId = `meter-${String(index + 1).padStart(3, "0")}`;
    profiles.push({ meterId, name: `${NAMES[kind]} ${counts[kind]}`, kind, pvPeakW: home.pvPeakW, bids });
  }
  return profiles;
}

/** The bids of one round across all meters (what the demo feeds to the meters round by round). */
export function bidsOfRound(profiles: readonly MeterProfile[], round: number): { meterId: string; bid: ProfileBid }[] {
  return profiles.flatMap((profile) => profile.bids.filter((bid) => bid.round === round).map((bid) => ({ meterId: profile.meterId, bid })));
}

/** A bid of a day plan (version 2): for one delivery slot. */
export type SlotPlanBid = ProfileBid & { slot: number };

export type DayPlanOptions = { meters: number; levels: number; seed: number; day: number; slotsPerDay: number };

/**
 * A day of delivery slots for every meter (PROTOCOL §5 v2): the day is cut into `slotsPerDay` slots (96: 15 minutes),
 * slot `day · slotsPerDay + i` covering hours [24i / slotsPerDay, 24(i + 1) / slotsPerDay). The same households as
 * `buildProfiles`: PV surplus sold around midday, demand bought in the morning and more in the evening. Plan ids are
 * `s<slot>`.
 */
export function buildDayPlans(options: DayPlanOptions): (Omit<MeterProfile, "bids"> & { bids: SlotPlanBid[] })[] {
  const { slotsPerDay, day } = options;
  if (!Number.isInteger(slotsPerDay) || slotsPerDay < 1) throw new RangeError(`slotsPerDay must be a positive integer, got ${slotsPerDay}`);
  if (!Number.isInteger(day) || day < 0) throw new RangeError(`day must be a non-negative integer, got ${day}`);
  const profiles = buildProfiles({ meters: options.meters, rounds: slotsPerDay, levels: options.levels, seed: options.seed, firstHour: 0, lastHour: 24 });
  return profiles.map((profile) => ({
    ...profile,
    bids: profile.bids.map((bid) => {
      const slot = day * slotsPerDay + bid.round;
      return { ...bid, slot, planId: `s${slot}` };
    }),
  }));
}
