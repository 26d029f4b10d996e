// Test helpers for the crypto core: plaintext reference arithmetic and hand-built bad points.
import * as mcl from "mcl-wasm";
import { randomInt } from "node:crypto";
import { FR_ORDER } from "../../../protocol/fhipe/order.ts";

/** <x, y> over the integers: the plaintext reference every decryption is checked against. */
export function innerProduct(x: readonly bigint[], y: readonly bigint[]): bigint {
  return x.reduce((sum, value, i) => sum + value * y[i]!, 0n);
}

export function smallVector(dim: number, max: number): bigint[] {
  return Array.from({ length: dim }, () => BigInt(randomInt(0, max + 1)));
}

/** The twist coefficient b' = 3 / (9 + i) of BN254's G2 curve y^2 = x^3 + b'. */
export function twistB(): mcl.Fp2 {
  const three = new mcl.Fp2();
  three.setInt(3, 0);
  const xi = new mcl.Fp2();
  xi.setInt(9, 1);
  return mcl.div(three, xi);
}

/** A point on the twist curve that is (with overwhelming probability) outside the order-r subgroup, as EIP-197 words. */
export function twistPointOutsideSubgroup(): bigint[] {
  for (let seed = 1; ; seed++) {
    const x = new mcl.Fp2();
    x.setInt(seed, 1);
    const rhs = mcl.add(mcl.mul(mcl.sqr(x), x), twistB());
    const [isSquare, y] = mcl.squareRoot(rhs);
    if (!isSquare) continue;
    return [fp(x.get_b()), fp(x.get_a()), fp(y.get_b()), fp(y.get_a())];
  }
}

export function fp(value: mcl.Fp): bigint {
  return BigInt(`0x${value.getStr(16)}`);
}

export const R = FR_ORDER;
