// Sealed-message contexts: the exact strings both ends must use (docs/adapters.md), and that they bind subject and trade.
import { describe, expect, it } from "vitest";
import { sealContexts } from "../../../protocol/wire/sealContexts.ts";
import { marketSubjects } from "../../../protocol/wire/subjects.ts";

const s = marketSubjects("m1");
const tradeId = `0x${"Ab".repeat(32)}`;

describe("sealContexts", () => {
  it("are the documented subject|purpose forms, trade ids lower-cased", () => {
    expect(sealContexts.enrolment(s, "meter-7")).toBe("gridveil.m1.dso.enrol|meter-7");
    expect(sealContexts.opening(s, tradeId)).toBe(`gridveil.m1.dso.opening|0x${"ab".repeat(32)}`);
    expect(sealContexts.terms(s, "inbox1", tradeId)).toBe(`gridveil.m1.meter.inbox1.trade|0x${"ab".repeat(32)}`);
  });

  it("differ per market, meter inbox and trade", () => {
    const other = marketSubjects("m2");
    expect(sealContexts.opening(other, tradeId)).not.toBe(sealContexts.opening(s, tradeId));
    expect(sealContexts.terms(s, "inbox2", tradeId)).not.toBe(sealContexts.terms(s, "inbox1", tradeId));
    expect(sealContexts.opening(s, `0x${"cd".repeat(32)}`)).not.toBe(sealContexts.opening(s, tradeId));
  });
});
