// The market's memory of Compare results, mirrored from contracts/src/lib/KnownOrder.sol step for step, so that the
// plaintext reference book predicts exactly which order questions cost a pairing check on chain.

const LESS = 1; // Compare(L(a), R(b)) was false: level(a) < level(b)
const AT_LEAST = 2; // Compare(L(a), R(b)) was true: level(a) ≥ level(b)

export type Lookup = { known: true; result: boolean } | { known: false };

/**
 * Results of Compares that ran, per ordered pair of bids: a question is answered by its own earlier result or by the
 * reverse of a false one (no inference through third bids: see the library's NatSpec for why). `mark()` and
 * `rollback()` undo the writes of a placement the contract would revert (an `ExpiredBacklog`), as the chain rolls
 * back the library's storage.
 */
export class KnownOrderFacts {
  private readonly results = new Map<string, number>();
  private journal: string[] | undefined;

  lookup(a: number, b: number): Lookup {
    const direct = this.results.get(key(a, b));
    if (direct !== undefined) return { known: true, result: direct === AT_LEAST };
    if (this.results.get(key(b, a)) === LESS) return { known: true, result: true };
    return { known: false };
  }

  record(a: number, b: number, result: boolean): void {
    const pair = key(a, b);
    // Only pairs never asked are recorded (the contract records after a lookup that found nothing), so undoing a
    // write is deleting it.
    this.journal?.push(pair);
    this.results.set(pair, result ? AT_LEAST : LESS);
  }

  /** Number of pairs recorded: on chain, one storage slot each. */
  get size(): number {
    return this.results.size;
  }

  /** Starts journaling writes (one placement). */
  mark(): void {
    this.journal = [];
  }

  /** Undoes every write since `mark()`. */
  rollback(): void {
    for (const pair of this.journal ?? []) this.results.delete(pair);
    this.journal = undefined;
  }

  /** Ends journaling and keeps the writes. */
  commit(): void {
    this.journal = undefined;
  }
}

function key(a: number, b: number): string {
  return `${a}:${b}`;
}
