// The market clock (actors/runtime/clock.ts): the system clock, and the demo's compressed clock that holds until the
// market runs, then runs `speed` times as fast as the wall.
import { describe, expect, it } from "vitest";
import { compressedClock, systemClock } from "../../actors/runtime/clock.ts";

describe("market clock", () => {
  it("the system clock is the wall in Unix seconds", () => {
    expect(Math.abs(systemClock.now() - Date.now() / 1000)).toBeLessThan(1);
    expect(systemClock.msUntil(Date.now() / 1000 - 10)).toBe(0);
    expect(systemClock.speed).toBe(1);
  });

  it("a compressed clock holds its start until run(), then runs speed times the wall", () => {
    let wall = 1_000_000;
    const clock = compressedClock({ start: 5_000, speed: 2_000, wallNow: () => wall });
    wall += 10_000;
    expect(clock.now()).toBe(5_000);
    expect(clock.msUntil(7_000)).toBe(1_000);
    clock.run();
    wall += 500;
    expect(clock.now()).toBe(6_000);
    expect(clock.msUntil(7_000)).toBe(500);
    expect(clock.msUntil(5_000)).toBe(0);
    clock.run(); // idempotent: it does not restart
    wall += 500;
    expect(clock.now()).toBe(7_000);
  });
});
