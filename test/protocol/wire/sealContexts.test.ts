// Sealed-message contexts: the exact strings both ends must use (docs/adapters.md), and that they bind subject and trade.
import { keccak256 } from "ethers";
import { describe, expect, it } from "vitest";
import { sealContexts } from "../../../protocol/wire/sealContexts.ts";
import { marketSubjects } from "../../../protocol/wire/subjects.ts";

const s = marketSubjects("m1");
const tradeId = `0x${"Ab".repeat(32)}`;

describe("sealContexts", () => {
  it("are the documented subject|purpose forms, trade ids lower-cased, nothing secret in them", () => {
    expect(sealContexts.enrolment(s)).toBe("gridveil.m1.dso.enrol|msk");
    expect(sealContexts.request(s.dso.ticket)).toBe("gridveil.m1.dso.ticket");
    expect(sealContexts.reply(s.dso.ticket, "0x1234")).toBe(`gridveil.m1.dso.ticket|reply|${keccak256("0x1234")}`);
    expect(sealContexts.opening(s, tradeId)).toBe(`gridveil.m1.dso.opening|0x${"ab".repeat(32)}`);
    expect(sealContexts.trade(s.meter.trade("inbox1"), tradeId)).toBe(`gridveil.m1.meter.inbox1.trade|0x${"ab".repeat(32)}`);
  });

  it("differ per market, subject, direction and trade", () => {
    const other = marketSubjects("m2");
    expect(sealContexts.opening(other, tradeId)).not.toBe(sealContexts.opening(s, tradeId));
    expect(sealContexts.trade(s.meter.trade("inbox2"), tradeId)).not.toBe(sealContexts.trade(s.meter.trade("inbox1"), tradeId));
    expect(sealContexts.trade(s.meter.settled("inbox1"), tradeId)).not.toBe(sealContexts.trade(s.meter.trade("inbox1"), tradeId));
    expect(sealContexts.request(s.dso.ticket)).not.toBe(sealContexts.reply(s.dso.ticket, "0x1234"));
    // A reply is bound to the request it answers.
    expect(sealContexts.reply(s.dso.ticket, "0x1234")).not.toBe(sealContexts.reply(s.dso.ticket, "0x1235"));
    expect(sealContexts.opening(s, `0x${"cd".repeat(32)}`)).not.toBe(sealContexts.opening(s, tradeId));
  });
});
