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

/**
 * A clock at market time `start` that runs `speed` times as fast as the wall clock from `run()` on (it holds `start`
 * until then: the demo's parties start, deploy and enrol on a clock that does not move). `running: true` runs at once.
 */
export function compressedClock(options: { start: number; speed: number; running?: boolean; wallNow?: () => number }): Clock & { run(): void } {
  const wallNow = options.wallNow ?? Date.now;
  let wallStart: number | null = options.running === true ? wallNow() : null;
  const now = () => (wallStart === null ? options.start : options.start + ((wallNow() - wallStart) / 1000) * options.speed);
  return {
    now,
    // Held: as if it ran from now on.
    msUntil: (unixSeconds) => Math.max(0, ((unixSeconds - now()) * 1000) / options.speed),
    speed: options.speed,
    run() {
      wallStart ??= wallNow();
    },
  };
}
