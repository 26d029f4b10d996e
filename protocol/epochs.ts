// Key epochs (PROTOCOL §5 v2, setup and epochs): a span of delivery slots with its own key msk_e. Pure: which epoch a
// slot belongs to, which epochs need a key now (the current one and, for day-ahead bids, the next), and when an
// epoch's key may be destroyed (its last slot over and the retention past: trades settled, disputes closed).
import { EpochCalendarError } from "./errors.ts";
import type { SlotCalendar } from "./book/slotBooks.ts";

export type EpochCalendar = SlotCalendar & {
  /** Slots per epoch (default: one day of 15-minute slots). */
  slotsPerEpoch: number;
  /** How long an epoch's key is kept after its last slot ends (settlement and the dispute window). */
  retentionSeconds: number;
};


export function checkEpochCalendar(calendar: EpochCalendar): EpochCalendar {
  const whole = (field: string, value: number, min: number) => {
    if (!Number.isSafeInteger(value) || value < min) throw new EpochCalendarError({ field, value });
  };
  whole("slotsPerEpoch", calendar.slotsPerEpoch, 1);
  whole("retentionSeconds", calendar.retentionSeconds, 0);
  whole("slotSeconds", calendar.slotSeconds, 1);
  return calendar;
}

export function epochOfSlot(slot: number, calendar: EpochCalendar): number {
  return Math.floor(slot / calendar.slotsPerEpoch);
}

export function firstSlotOf(epoch: number, calendar: EpochCalendar): number {
  return epoch * calendar.slotsPerEpoch;
}

/** The epoch of the slot running at `now` (Unix seconds; slot s runs from s·slotSeconds). */
export function epochAt(now: number, calendar: EpochCalendar): number {
  return epochOfSlot(Math.floor(now / calendar.slotSeconds), calendar);
}

/** Epochs whose keys must exist at `now`: the current one and the next (bids are placed day-ahead). */
export function epochsToPrepare(now: number, calendar: EpochCalendar): number[] {
  const current = epochAt(now, calendar);
  return [current, current + 1];
}

/** When the epoch's key may go: its last slot has ended and the retention has passed. */
export function retentionEndsAt(epoch: number, calendar: EpochCalendar): number {
  return firstSlotOf(epoch + 1, calendar) * calendar.slotSeconds + calendar.retentionSeconds;
}

/** Of the epochs whose keys are kept, those whose retention has ended at `now`. */
export function epochsToDestroy(kept: readonly number[], now: number, calendar: EpochCalendar): number[] {
  return kept.filter((epoch) => now >= retentionEndsAt(epoch, calendar));
}
