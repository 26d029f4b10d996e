// Test kit for the machine tests: fake effects that record their inputs, a microtask flush, and protocol fixtures.
import { fromPromise } from "xstate";
import type { PromiseActorLogic } from "xstate";
import { parseMachineConfig } from "../../machines/config.ts";
import type { MachineConfig, MachineConfigInput } from "../../machines/config.ts";
import { toAddress, type Address, type Hex } from "../../protocol/base/hex.ts";
import { type BidCiphertext, type MarketDescription, type Opening, type SignedBid } from "../../protocol/domain.ts";

/** Lets resolved promises and the actors' deferred work run (fake effects resolve in microtasks). */
export async function flush(rounds = 8): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export type Deferred<T> = { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void };
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A fake promise effect: records every input in `calls` and answers with `respond(input, callIndex)`, which may
 * return a value, a promise, or throw.
 */
export type FakeEffect<TOutput, TInput> = {
  /** The effect as a runtime provides it (`provideX`). */
  run: (input: TInput) => Promise<TOutput>;
  /** The same as XState actor logic (`machine.provide`). */
  logic: PromiseActorLogic<TOutput, TInput>;
  calls: TInput[];
  respond: (input: TInput, call: number) => TOutput | Promise<TOutput>;
};
export function fake<TOutput, TInput>(
  respond: (input: TInput, call: number) => TOutput | Promise<TOutput>,
): FakeEffect<TOutput, TInput> {
  const run = async (input: TInput): Promise<TOutput> => {
    effect.calls.push(input);
    return effect.respond(input, effect.calls.length - 1);
  };
  const effect: FakeEffect<TOutput, TInput> = {
    calls: [],
    respond,
    run,
    logic: fromPromise<TOutput, TInput>(({ input }) => run(input)),
  };
  return effect;
}

/** `{ name: fake }` → `{ name: fake.run }`, the shape the `provideX` helpers take. */
export function runsOf<T extends Record<string, { run: unknown }>>(fakes: T): { [K in keyof T]: T[K]["run"] } {
  return Object.fromEntries(Object.entries(fakes).map(([name, effect]) => [name, effect.run])) as {
    [K in keyof T]: T[K]["run"];
  };
}

export function config(overrides: MachineConfigInput = {}): MachineConfig {
  return parseMachineConfig(overrides);
}

export const LEVELS = 10;
export const DIMENSION = LEVELS + 1;

/** A test address in its canonical (EIP-55) form, as every parsed event carries it. */
export function address(n: number): Address {
  return toAddress(`0x${n.toString(16).padStart(40, "0")}`);
}
export function bytes32(n: number): Hex {
  return `0x${n.toString(16).padStart(64, "0")}`;
}

/** A 65-byte signature-shaped value (the machines check the shape; the runtimes check the signature itself). */
export function signature(byte: number): Hex {
  return `0x${byte.toString(16).padStart(2, "0").repeat(65)}`;
}

export const market: MarketDescription = {
  marketId: "m1",
  chainId: 31337,
  contractAddress: address(0xc0),
  ticketSigner: address(0xd5),
  fhipe: { curve: "BN254", dimension: DIMENSION },
  priceLevels: { firstPriceMicroPerKWh: 100_000, stepMicroPerKWh: 10_000, count: LEVELS },
  clearingRule: "midpoint",
};

export function ciphertext(seed = 1): BidCiphertext {
  return {
    left: Array.from({ length: 2 * DIMENSION }, (_, i) => String(seed * 1000 + i)),
    right: Array.from({ length: 4 * DIMENSION }, (_, i) => String(seed * 1000 + i)),
  };
}

export function opening(priceLevel: number, quantityWh: number, seed = 1): Opening {
  return { priceLevel, quantityWh, salt: bytes32(seed), alpha: String(1000 + seed), beta: String(2000 + seed) };
}

export function signedBid(bidderNumber: number, side: "buy" | "sell" = "buy"): SignedBid {
  const bidder = address(bidderNumber);
  return {
    bidder,
    side,
    ciphertext: ciphertext(bidderNumber),
    commitment: bytes32(bidderNumber),
    ticket: { bidder, notAfter: 2_000_000_000, signature: signature(0x12) },
    bidderSignature: signature(0xab),
  };
}

/** Leaf state path of a snapshot value, e.g. `trading.opening.awaitingTerms`. */
export function leafPath(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    return entries.map(([key, child]) => `${key}.${leafPath(child)}`).join("|");
  }
  return String(value);
}

/** Every active leaf of a (possibly parallel) state value as a full dotted path. */
export function leafPaths(value: unknown, prefix = ""): string[] {
  if (typeof value === "string") return [prefix + value];
  if (value && typeof value === "object")
    return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => leafPaths(child, `${prefix}${key}.`));
  return [];
}
