// Where hints come from (PROTOCOL §5 v2), measured: the DSO's way (clear levels, a mirror of the books) beside anyone's
// way (zero tests on the public ciphertexts), on the same book and the same new bids; the two must give the same hint.
import { initCurve } from "../protocol/fhipe/curve.ts";
import { setup } from "../protocol/fhipe/fhipe.ts";
import { blockParams } from "../protocol/encoding/blockTokens.ts";
import { decodeBlockCiphertext, encryptBlockBid, hintFromCiphertexts, zeroTestsOf, type BlockPoints } from "../protocol/encoding/blockBid.ts";
import { SlotBooks, type BookSideName } from "../protocol/book/slotBooks.ts";
import { ciphertextRoot } from "../protocol/encoding/ciphertextRoot.ts";
import { hintFromMirror, makeHint, type MirroredBid } from "../contracts/client/v2/slotMarket.ts";
import { seededRandom, systemRandom } from "./seededRandom.ts";
import type { BenchProgress } from "./progress.ts";
import { round3 } from "./stats.ts";
import { percentile } from "../actors/telemetry/latency.ts";

export type HintsOptions = { levels: number; widths: readonly number[]; book: number; hints: number; seed?: number; onProgress?: (progress: BenchProgress) => void };

export type HintsRow = {
  levels: number;
  width: number;
  /** Resting bids in the slot's two lists when the hints were made. */
  resting: number;
  hints: number;
  /** Median and 95th percentile ms per hint, the DSO's way (clear levels). */
  dsoP50Ms: number;
  dsoP95Ms: number;
  /** The same from public data: zero tests of the new bid's tokens against the resting bids' (points decoded once). */
  publicP50Ms: number;
  publicP95Ms: number;
  /** Zero tests per public hint (mean). */
  zeroTestsPerHint: number;
  /** Every public hint equal to the DSO's. */
  equal: boolean;
};

const CALENDAR = { slotSeconds: 900, gateClosureSeconds: 300 };
const SLOT = 10_000;
const NOT_AFTER = 2 ** 32;

export async function runHintsBench(options: HintsOptions): Promise<HintsRow[]> {
  await initCurve();
  const rows: HintsRow[] = [];
  const total = options.widths.length * (options.book + options.hints);
  let completed = 0;
  const step = (phase: string) => options.onProgress?.({ phase, completed: ++completed, total });
  for (const width of options.widths) {
    const params = blockParams(options.levels, width);
    const random = options.seed === undefined ? systemRandom : seededRandom(options.seed * 7_919 + width);
    const msk = setup(params.dim, random.bytes);
    const tokenKey = random.bytes(32);
    const books = new SlotBooks(CALENDAR);
    const mirrored = new Map<number, MirroredBid>();
    const points = new Map<number, BlockPoints>();
    const side = (): BookSideName => (random.fraction() < 0.5 ? "buy" : "sell");
    // Buys in the lower 60 % of levels, sells in the upper 60 %: a book that crosses now and then, as a market does.
    const level = (s: BookSideName) => (s === "buy" ? random.int(0, Math.ceil(0.6 * options.levels)) : random.int(Math.floor(0.4 * options.levels), options.levels));
    let bidderNumber = 0;
    const bidder = () => `0x${(++bidderNumber).toString(16).padStart(40, "0")}`;
    for (let i = 0; i < options.book; i++) {
      const s = side();
      const l = level(s);
      const ciphertext = encryptBlockBid(msk, tokenKey, params, l, random.bytes(32));
      const placed = books.place({ bidder: bidder(), side: s, slot: SLOT, level: l, notAfter: NOT_AFTER }, 0);
      // Certification computes each bid's root for its ticket: its tree is built then, not when a hint needs a proof.
      ciphertextRoot(ciphertext);
      if (placed.ok) {
        mirrored.set(placed.id, { level: l, ciphertext });
        points.set(placed.id, decodeBlockCiphertext(ciphertext));
      }
      step(`w=${width}: building the book`);
    }
    const dsoMs: number[] = [];
    const publicMs: number[] = [];
    let zeroTests = 0;
    let equal = true;
    for (let i = 0; i < options.hints; i++) {
      const s = side();
      const l = level(s);
      const ciphertext = encryptBlockBid(msk, tokenKey, params, l, random.bytes(32));
      let started = performance.now();
      const fromLevels = hintFromMirror(books, mirrored, { side: s, slot: SLOT, level: l }, 0, params);
      dsoMs.push(performance.now() - started);
      started = performance.now();
      const newPoints = decodeBlockCiphertext(ciphertext);
      const fromPublic = makeHint({
        side: s,
        ownList: books.book(SLOT, s),
        oppositeList: books.book(SLOT, s === "buy" ? "sell" : "buy"),
        notAfterOf: (id) => books.bid(id)!.notAfter,
        bidderOf: (id) => books.bid(id)!.bidder,
        ciphertextOf: (id) => mirrored.get(id)!.ciphertext,
        prove: (a, b) => {
          const answer = hintFromCiphertexts(a === "new" ? newPoints : points.get(a)!, b === "new" ? newPoints : points.get(b)!, params);
          zeroTests += zeroTestsOf(answer, params);
          return answer;
        },
        now: 0,
        params,
      });
      publicMs.push(performance.now() - started);
      if (JSON.stringify(fromPublic, bigints) !== JSON.stringify(fromLevels, bigints)) equal = false;
      step(`w=${width}: hints`);
    }
    const dsoSorted = [...dsoMs].sort((a, b) => a - b);
    const publicSorted = [...publicMs].sort((a, b) => a - b);
    rows.push({
      levels: options.levels,
      width,
      resting: books.book(SLOT, "buy").length + books.book(SLOT, "sell").length,
      hints: options.hints,
      dsoP50Ms: round3(percentile(dsoSorted, 0.5)),
      dsoP95Ms: round3(percentile(dsoSorted, 0.95)),
      publicP50Ms: round3(percentile(publicSorted, 0.5)),
      publicP95Ms: round3(percentile(publicSorted, 0.95)),
      zeroTestsPerHint: round3(zeroTests / options.hints),
      equal,
    });
  }
  return rows;
}

const bigints = (_key: string, value: unknown) => (typeof value === "bigint" ? value.toString() : value);
