// KnownOrder's rules (the TypeScript mirror of contracts/src/lib/KnownOrder.sol): a pair's own result, the reverse of
// a false one, nothing through third bids; journaled undo for rolled-back placements.
import { describe, expect, it } from "vitest";
import { KnownOrderFacts } from "../../../protocol/book/knownOrder.ts";

/** Asks like the contract's `_ge`: a recorded answer, or "run the check" with the given clear result. */
function ask(facts: KnownOrderFacts, a: number, b: number, truth: boolean): "known" | "checked" {
  const found = facts.lookup(a, b);
  if (found.known) {
    expect(found.result, `Compare(L(${a}), R(${b}))`).toBe(truth);
    return "known";
  }
  facts.record(a, b, truth);
  return "checked";
}

describe("KnownOrderFacts", () => {
  it("knows nothing at first and remembers a result it was given", () => {
    const facts = new KnownOrderFacts();
    expect(facts.lookup(1, 2)).toEqual({ known: false });
    expect(ask(facts, 1, 2, true)).toBe("checked"); // level(1) ≥ level(2)
    expect(ask(facts, 1, 2, true)).toBe("known");
    expect(facts.size).toBe(1);
  });

  it("turns a false result around, but not a true one: level(a) ≥ level(b) says nothing of level(b) ≥ level(a)", () => {
    const facts = new KnownOrderFacts();
    ask(facts, 3, 4, false); // level(3) < level(4)
    expect(facts.lookup(4, 3)).toEqual({ known: true, result: true });
    ask(facts, 5, 6, true);
    expect(facts.lookup(6, 5)).toEqual({ known: false });
  });

  it("infers nothing through a third bid (a crafted bid must not be able to order two honest ones)", () => {
    const facts = new KnownOrderFacts();
    ask(facts, 1, 2, true);
    ask(facts, 2, 3, true);
    ask(facts, 2, 1, true);
    expect(facts.lookup(1, 3)).toEqual({ known: false });
    expect(facts.lookup(3, 1)).toEqual({ known: false });
  });

  it("undoes a rolled-back placement's results and keeps committed ones", () => {
    const facts = new KnownOrderFacts();
    ask(facts, 1, 2, true);
    facts.mark();
    ask(facts, 3, 1, false);
    facts.rollback();
    expect(facts.lookup(3, 1)).toEqual({ known: false });
    expect(facts.lookup(1, 2)).toEqual({ known: true, result: true });
    facts.mark();
    ask(facts, 3, 1, false);
    facts.commit();
    expect(facts.lookup(3, 1)).toEqual({ known: true, result: false });
    expect(facts.size).toBe(2);
  });
});
