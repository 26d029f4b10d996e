// Fixed-base tables agree with mcl's own scalar multiplication on edge and random scalars, in G1 and G2.
import { beforeAll, describe, expect, it } from "vitest";
import * as mcl from "mcl-wasm";
import { frFromBigint, initCurve, standardG1, standardG2 } from "../../../protocol/fhipe/curve.ts";
import { randomScalar } from "../../../protocol/fhipe/fhipe.ts";
import { FixedBaseTable } from "../../../protocol/fhipe/fixedBase.ts";
import { FR_ORDER } from "../../../protocol/fhipe/order.ts";

beforeAll(async () => {
  await initCurve();
});

const EDGE_SCALARS = [0n, 1n, 2n, 255n, 256n, 257n, (1n << 128n) - 1n, 1n << 253n, FR_ORDER - 1n, FR_ORDER, FR_ORDER + 5n, -3n];

describe("FixedBaseTable", () => {
  for (const [windowBits, storage] of [[3, "wasm"], [8, "wasm"], [11, "wasm"], [5, "js"], [8, "js"]] as const) {
    it(`G1 and G2 with ${windowBits}-bit windows in ${storage} storage match mcl.mul`, () => {
      const base1 = mcl.mul(standardG1(), frFromBigint(randomScalar()));
      const base2 = mcl.mul(standardG2(), frFromBigint(randomScalar()));
      const table1 = new FixedBaseTable(base1, windowBits, storage);
      const table2 = new FixedBaseTable(base2, windowBits, storage);
      expect(table1.storage).toBe(storage);
      for (const scalar of [...EDGE_SCALARS, randomScalar(), randomScalar()]) {
        const reduced = frFromBigint(((scalar % FR_ORDER) + FR_ORDER) % FR_ORDER);
        expect(table1.mul(scalar).isEqual(mcl.mul(base1, reduced)), `G1 ${scalar}`).toBe(true);
        expect(table2.mul(scalar).isEqual(mcl.mul(base2, reduced)), `G2 ${scalar}`).toBe(true);
      }
    });
  }

  it("results are independent copies, never the table's own entries", () => {
    for (const storage of ["wasm", "js"] as const) {
      const table = new FixedBaseTable(standardG1(), 4, storage);
      const one = table.mul(1n);
      const two = table.mul(2n);
      one.clear();
      expect(table.mul(1n).isEqual(standardG1())).toBe(true);
      expect(two.isEqual(mcl.dbl(standardG1()))).toBe(true);
    }
  });

  it("rejects window sizes it cannot index", () => {
    expect(() => new FixedBaseTable(standardG1(), 0)).toThrow(RangeError);
    expect(() => new FixedBaseTable(standardG1(), 17)).toThrow(RangeError);
  });
});
