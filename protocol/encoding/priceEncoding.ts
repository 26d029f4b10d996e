// Unary price encoding (PROTOCOL §3): <x(a), y(b)> = 1 if a < b else 0, so Compare(L(a), R(b)) is true iff a ≥ b.
import { PriceLevelOutOfRangeError } from "../fhipe/errors.ts";

/** d = n + 1: the last slot keeps every right vector non-zero, so the lowest level does not encrypt to infinity. */
export function dimensionFor(levels: number): number {
  checkLevels(levels);
  return levels + 1;
}

/** x(a) = e_a: one-hot at the price level, last slot 0. */
export function leftVector(priceLevel: number, levels: number): bigint[] {
  checkLevel(priceLevel, levels);
  return Array.from({ length: levels + 1 }, (_, j) => (j === priceLevel ? 1n : 0n));
}

/** y(b) = (1 for j < b, 0 for b ≤ j < n) ‖ 1. */
export function rightVector(priceLevel: number, levels: number): bigint[] {
  checkLevel(priceLevel, levels);
  return Array.from({ length: levels + 1 }, (_, j) => (j < priceLevel || j === levels ? 1n : 0n));
}

function checkLevels(levels: number): void {
  if (!Number.isSafeInteger(levels) || levels < 1) {
    throw new PriceLevelOutOfRangeError({ levels });
  }
}

export function checkLevel(priceLevel: number, levels: number): void {
  checkLevels(levels);
  if (!Number.isSafeInteger(priceLevel) || priceLevel < 0 || priceLevel >= levels) {
    throw new PriceLevelOutOfRangeError({ priceLevel, levels });
  }
}
