// BN254 (alt_bn128, mcl-wasm BN_SNARK1) set-up and constants shared by FHIPE and the EVM serialization (PROTOCOL §2).
import * as mcl from "mcl-wasm";
import { CurveNotInitializedError } from "./errors.ts";

/** The standard generators as EIP-197 words (G1 = (1, 2); G2 as (x_im, x_re, y_im, y_re)). */
export const G1_GENERATOR_WORDS = [1n, 2n] as const;
export const G2_GENERATOR_WORDS = [
  11559732032986387107991004021392285783925812861821192530917403151452391805634n,
  10857046999023057135944570762232829481370756359578518086990519993285655852781n,
  4082367875863433681332203403145435568316851327593401208105741076214120093531n,
  8495653923123431417604973247489272438418190587263600148770280649306958101930n,
] as const;

let ready: Promise<void> | undefined;
let initialized = false;

/** Loads the wasm module once per thread; every later call returns the same promise. */
export function initCurve(): Promise<void> {
  ready ??= mcl.init(mcl.BN_SNARK1).then(() => {
    initialized = true;
  });
  return ready;
}

/** Synchronous crypto functions call this so that a forgotten `await initCurve()` fails with a clear error. */
export function assertCurveReady(): void {
  if (!initialized) {
    throw new CurveNotInitializedError();
  }
}

/**
 * The standard generators. mcl has no base point for pairing curves (getBasePointG1 throws for BN_SNARK1),
 * so they are set from the EIP-197 constants; the tests check them against the pairing.
 */
export function standardG1(): mcl.G1 {
  assertCurveReady();
  const point = new mcl.G1();
  point.setStr(`1 ${G1_GENERATOR_WORDS[0].toString(16)} ${G1_GENERATOR_WORDS[1].toString(16)}`, 16);
  return point;
}

export function standardG2(): mcl.G2 {
  assertCurveReady();
  const [xIm, xRe, yIm, yRe] = G2_GENERATOR_WORDS;
  const point = new mcl.G2();
  // mcl writes an F_p2 element as "real imaginary"; EIP-197 puts the imaginary part first.
  point.setStr(`1 ${hex(xRe)} ${hex(xIm)} ${hex(yRe)} ${hex(yIm)}`, 16);
  return point;
}

/** An mcl scalar from a bigint already reduced into [0, r). */
export function frFromBigint(value: bigint): mcl.Fr {
  const scalar = new mcl.Fr();
  scalar.setStr(value.toString(16), 16);
  return scalar;
}

export function frToBigint(value: mcl.Fr): bigint {
  return BigInt(`0x${value.getStr(16)}`);
}

function hex(value: bigint): string {
  return value.toString(16);
}
