// The v2 reference book (protocol/book/slotBooks.ts) under random sequences of placements, cancels, time steps and
// purges over three slots (fast-check: a failure shrinks to a minimal sequence). After every operation: each list is
// sorted with price-time priority, holds exactly the open bids of its slot and side, a resting bid never crosses the
// opposite head, every match crosses within one slot, and a rejected placement changes nothing.
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { SlotBooks, crosses, gateClosureOf, type BookSideName, type SlotCalendar } from "../../../protocol/book/slotBooks.ts";

const calendar: SlotCalendar = { slotSeconds: 900, gateClosureSeconds: 300 };
const SLOTS = [10, 11, 12];
const START = gateClosureOf(SLOTS[0]!, calendar) - 2_000;

type Op =
  | { kind: "place"; side: BookSideName; slot: number; level: number; lifetime: number }
  | { kind: "cancel"; pick: number }
  | { kind: "wait"; seconds: number }
  | { kind: "purge"; slot: number; side: BookSideName; max: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("place" as const), side: fc.constantFrom<BookSideName>("buy", "sell"), slot: fc.constantFrom(...SLOTS), level: fc.integer({ min: 0, max: 9 }), lifetime: fc.integer({ min: 1, max: 3_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cancel" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("wait" as const), seconds: fc.integer({ min: 1, max: 600 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("purge" as const), slot: fc.constantFrom(...SLOTS), side: fc.constantFrom<BookSideName>("buy", "sell"), max: fc.integer({ min: 1, max: 5 }) }) },
);

function checkInvariants(books: SlotBooks, placedIds: readonly number[]): void {
  const listed = new Set<number>();
  for (const slot of SLOTS) {
    for (const side of ["buy", "sell"] as const) {
      const bids = books.book(slot, side).map((id) => books.bid(id)!);
      bids.forEach((bid, index) => {
        expect(bid).toMatchObject({ slot, side, status: "open" });
        listed.add(bid.id);
        const next = bids[index + 1];
        if (next === undefined) return;
        // Price priority, then time priority (ids grow with arrival).
        if (next.level === bid.level) expect(next.id).toBeGreaterThan(bid.id);
        else expect(side === "buy" ? next.level < bid.level : next.level > bid.level).toBe(true);
      });
    }
  }
  // Every open bid is in its list, and only open bids are listed.
  const open = placedIds.filter((id) => books.bid(id)!.status === "open");
  expect([...listed].sort((a, b) => a - b)).toEqual(open);
}

const snapshot = (books: SlotBooks) => JSON.stringify(SLOTS.flatMap((slot) => [books.book(slot, "buy"), books.book(slot, "sell")]));

describe("v2 reference book", () => {
  test.prop([fc.array(op, { minLength: 1, maxLength: 120 })], { numRuns: 200 })("keeps price-time priority and never crosses", (ops) => {
    const books = new SlotBooks(calendar);
    let now = START;
    let bidders = 0;
    const placedIds: number[] = [];
    for (const step of ops) {
      switch (step.kind) {
        case "place": {
          const before = snapshot(books);
          const result = books.place({ bidder: `0x${(++bidders).toString(16).padStart(40, "0")}`, side: step.side, slot: step.slot, level: step.level, notAfter: now + step.lifetime }, now);
          if (!result.ok) {
            expect(snapshot(books)).toBe(before);
            break;
          }
          placedIds.push(result.id);
          const bid = books.bid(result.id)!;
          if (result.matchedWith !== null) {
            const other = books.bid(result.matchedWith)!;
            expect(other.slot).toBe(bid.slot);
            const [buy, sell] = bid.side === "buy" ? [bid, other] : [other, bid];
            expect(crosses(buy.level, sell.level)).toBe(true);
            expect(result.events.at(-1)).toEqual({ type: "matched", slot: bid.slot, buyId: buy.id, sellId: sell.id });
          } else {
            // Resting: the opposite head (if any) does not cross it.
            const head = books.book(bid.slot, bid.side === "buy" ? "sell" : "buy")[0];
            if (head !== undefined) {
              const opposite = books.bid(head)!;
              expect(bid.side === "buy" ? crosses(bid.level, opposite.level) : crosses(opposite.level, bid.level)).toBe(false);
            }
          }
          break;
        }
        case "cancel": {
          if (bidders === 0) break;
          books.cancel(`0x${((step.pick % bidders) + 1).toString(16).padStart(40, "0")}`);
          break;
        }
        case "wait":
          now += step.seconds;
          break;
        case "purge":
          for (const event of books.purge(step.slot, step.side, step.max, now)) expect(event.type).toBe("expired");
          break;
      }
      checkInvariants(books, placedIds);
    }
  });

  it("rejects a closed slot, an expired ticket and a reused bidder, and a backlog of expired heads; a purge clears it", () => {
    const books = new SlotBooks(calendar, { maxExpiredDrops: 1 });
    const now = START;
    expect(books.place({ bidder: "0xa", side: "buy", slot: 10, level: 5, notAfter: now + 10 }, gateClosureOf(10, calendar))).toMatchObject({ ok: false, reason: "SlotClosed" });
    expect(books.place({ bidder: "0xa", side: "buy", slot: 10, level: 5, notAfter: now - 1 }, now)).toMatchObject({ ok: false, reason: "TicketExpired" });
    expect(books.place({ bidder: "0xa", side: "buy", slot: 10, level: 5, notAfter: now + 10 }, now)).toMatchObject({ ok: true, matchedWith: null });
    expect(books.place({ bidder: "0xA", side: "buy", slot: 10, level: 6, notAfter: now + 10 }, now)).toMatchObject({ ok: false, reason: "BidderAlreadyUsed" });
    expect(books.place({ bidder: "0xb", side: "buy", slot: 10, level: 7, notAfter: now + 10 }, now)).toMatchObject({ ok: true });
    // Both buys expired: a sell may drop one, not two.
    expect(books.place({ bidder: "0xc", side: "sell", slot: 10, level: 1, notAfter: now + 100 }, now + 20)).toMatchObject({ ok: false, reason: "ExpiredBacklog" });
    expect(books.purge(10, "buy", 1, now + 20)).toHaveLength(1);
    const placed = books.place({ bidder: "0xc", side: "sell", slot: 10, level: 1, notAfter: now + 100 }, now + 20);
    expect(placed).toMatchObject({ ok: true, matchedWith: null });
    expect(placed.events.map((event) => event.type)).toEqual(["expired", "placed"]);
  });

  it("gives equal prices time priority: an equal later bid rests behind, a crossing bid takes the earliest", () => {
    const books = new SlotBooks(calendar);
    const now = START;
    const sell = (bidder: string, level: number) => {
      const placed = books.place({ bidder, side: "sell", slot: 11, level, notAfter: now + 900 }, now);
      if (!placed.ok) throw new Error(placed.reason);
      return placed.id;
    };
    const first = sell("0x1", 4);
    const second = sell("0x2", 4);
    const cheapest = sell("0x3", 3);
    expect(books.book(11, "sell")).toEqual([cheapest, first, second]);
    expect(books.place({ bidder: "0x4", side: "buy", slot: 11, level: 4, notAfter: now + 900 }, now)).toMatchObject({ matchedWith: cheapest });
    expect(books.place({ bidder: "0x5", side: "buy", slot: 11, level: 4, notAfter: now + 900 }, now)).toMatchObject({ matchedWith: first });
    // Another slot's sell never meets a buy of slot 11.
    books.place({ bidder: "0x6", side: "sell", slot: 12, level: 0, notAfter: now + 900 }, now);
    expect(books.place({ bidder: "0x7", side: "buy", slot: 11, level: 2, notAfter: now + 900 }, now)).toMatchObject({ matchedWith: null });
  });
});

describe("SlotBooks.restore", () => {
  it("loads a slot's lists as given and then places against them like books that grew there", () => {
    const now = START;
    const grown = new SlotBooks(calendar);
    const inputs = [
      { bidder: "0x01", side: "buy" as const, slot: 10, level: 5, notAfter: now + 900 },
      { bidder: "0x02", side: "buy" as const, slot: 10, level: 5, notAfter: now + 900 },
      { bidder: "0x03", side: "sell" as const, slot: 10, level: 8, notAfter: now + 900 },
      { bidder: "0x04", side: "buy" as const, slot: 10, level: 2, notAfter: now + 900 },
    ];
    for (const input of inputs) expect(grown.place(input, now).ok).toBe(true);
    const listOf = (books: SlotBooks, side: BookSideName) => books.book(10, side).map((id) => books.bid(id)!);
    const restored = new SlotBooks(calendar);
    const ids = restored.restore(10, { buy: listOf(grown, "buy"), sell: listOf(grown, "sell") });
    expect([...ids.keys()]).toEqual(["0x01", "0x02", "0x04", "0x03"]);
    const next = { bidder: "0x05", side: "sell" as const, slot: 10, level: 5, notAfter: now + 900 };
    const a = grown.place(next, now);
    const b = restored.place(next, now);
    expect(a.ok && b.ok && grown.bid(a.matchedWith!)!.bidder).toBe(b.ok && restored.bid(b.matchedWith!)!.bidder);
    expect(restored.place({ ...next, bidder: "0x02" }, now)).toMatchObject({ ok: false, reason: "BidderAlreadyUsed" });
  });

  it("refuses to load over a slot that holds bids, a bid of another slot or side, or a bidder twice", () => {
    const bid = { bidder: "0x01", side: "buy" as const, slot: 10, level: 5, notAfter: START + 900 };
    expect(() => new SlotBooks(calendar).restore(10, { buy: [{ ...bid, slot: 11 }], sell: [] })).toThrow(/another slot or side/);
    expect(() => new SlotBooks(calendar).restore(10, { buy: [], sell: [bid] })).toThrow(/another slot or side/);
    expect(() => new SlotBooks(calendar).restore(10, { buy: [bid, bid], sell: [] })).toThrow(/used already/);
    const books = new SlotBooks(calendar);
    books.restore(10, { buy: [bid], sell: [] });
    expect(() => books.restore(10, { buy: [], sell: [] })).toThrow(/empty slot/);
  });
});
