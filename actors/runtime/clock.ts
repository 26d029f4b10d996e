// The market's clock (PROTOCOL §5 delivery slots): every party judges gate closures, slot ends and epochs by it. In
// production it is the system clock; the demo runs a day of slots in compressed time, where one wall second is
// `speed` market seconds and the local chain is kept on the same time (actors/chain/chainClock.ts).

export type Clock = {
  /** Market time, Unix seconds (fractional). */
  now(): number;
  /** Wall milliseconds until market time `unixSeconds` (0 once it has passed). */
  msUntil(unixSeconds: number): number;
  /** Market seconds per wall second (1 for the system clock). */
  speed: number;
};

export const systemClock: Clock = {
  now: () => Date.now() / 1000,
  msUntil: (unixSeconds) => Math.max(0, unixSeconds * 1000 - Date.now()),
  speed: 1,
};

/** A clock that starts at market time `start` now and runs `speed` times as fast as the wall clock. */
export function compressedClock(options: { start: number; speed: number; wallNow?: () => number }): Clock {
  const wallNow = options.wallNow ?? Date.now;
  const wallStart = wallNow();
  const now = () => options.start + ((wallNow() - wallStart) / 1000) * options.speed;
  return {
    now,
    msUntil: (unixSeconds) => Math.max(0, ((unixSeconds - now()) * 1000) / options.speed),
    speed: options.speed,
  };
}
