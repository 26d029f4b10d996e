// Key epochs (PROTOCOL §5 v2), pure: numbering, which keys must exist, when a key may go.
import { describe, expect, it } from "vitest";
import { checkEpochCalendar, epochAt, epochOfSlot, epochsToDestroy, epochsToPrepare, firstSlotOf, retentionEndsAt, type EpochCalendar } from "../../protocol/epochs.ts";
import { EpochCalendarError } from "../../protocol/errors.ts";

const day: EpochCalendar = { slotSeconds: 900, gateClosureSeconds: 300, slotsPerEpoch: 96, retentionSeconds: 7 * 86_400 };

describe("epochs", () => {
  it("numbers a day of 96 fifteen-minute slots as one epoch", () => {
    expect(epochOfSlot(0, day)).toBe(0);
    expect(epochOfSlot(95, day)).toBe(0);
    expect(epochOfSlot(96, day)).toBe(1);
    expect(firstSlotOf(3, day)).toBe(288);
    // 2026-12-07T12:00Z is in the epoch of that UTC day.
    const noon = Date.UTC(2026, 11, 7, 12) / 1000;
    expect(epochAt(noon, day)).toBe(Math.floor(noon / 86_400));
  });

  it("keeps the current and the next epoch's keys ready (bids are day-ahead)", () => {
    const noon = Date.UTC(2026, 11, 7, 12) / 1000;
    const today = Math.floor(noon / 86_400);
    expect(epochsToPrepare(noon, day)).toEqual([today, today + 1]);
    // At the boundary the next day is current.
    expect(epochsToPrepare((today + 1) * 86_400, day)).toEqual([today + 1, today + 2]);
  });

  it("destroys a key once its last slot is over and the retention has passed, not a second before", () => {
    const ends = retentionEndsAt(10, day);
    expect(ends).toBe(11 * 86_400 + 7 * 86_400);
    expect(epochsToDestroy([9, 10, 11], ends - 1, day)).toEqual([9]);
    expect(epochsToDestroy([9, 10, 11], ends, day)).toEqual([9, 10]);
  });

  it("refuses a calendar that cannot number epochs", () => {
    expect(() => checkEpochCalendar({ ...day, slotsPerEpoch: 0 })).toThrow(EpochCalendarError);
    expect(() => checkEpochCalendar({ ...day, retentionSeconds: -1 })).toThrow(/retentionSeconds/);
    expect(() => checkEpochCalendar({ ...day, slotSeconds: 1.5 })).toThrow(/slotSeconds/);
  });
});
