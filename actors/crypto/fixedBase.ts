// Fixed-base scalar multiplication by a windowed table: every point of a ciphertext has base g1 or g2 (PROTOCOL §2),
// so after a one-time table per master key each multiplication is ~⌈254/w⌉ additions instead of a full ladder.
import * as mcl from "mcl-wasm";
import { FR_ORDER } from "./curve.ts";

/** Default window: 2^8 entries per window, 32 windows; ~8k points per base (≈1.2 MB in G1, 2.4 MB in G2). */
export const DEFAULT_WINDOW_BITS = 8;
const SCALAR_BITS = 254; // r < 2^254
const HEX_DIGITS = 64;
const CHUNK_BITS = 16;
const NORMALIZE_BATCH = 256;

export type CurvePoint = mcl.G1 | mcl.G2;

/**
 * rows[i][k] = k · 2^(w·i) · base for k in [1, 2^w); a scalar with base-2^w digits k_i is Σ_i rows[i][k_i].
 * Entries are normalized (affine) so that each addition takes mcl's cheaper mixed-addition path.
 */
export class FixedBaseTable<P extends CurvePoint> {
  readonly windowBits: number;
  private readonly rows: P[][];
  private readonly zero: () => P;

  constructor(base: P, windowBits = DEFAULT_WINDOW_BITS) {
    if (!Number.isInteger(windowBits) || windowBits < 1 || windowBits > CHUNK_BITS) {
      throw new RangeError(`windowBits must be an integer in [1, ${CHUNK_BITS}], got ${windowBits}`);
    }
    this.windowBits = windowBits;
    const Point = base.constructor as new () => P;
    this.zero = () => new Point();
    const windows = Math.ceil(SCALAR_BITS / windowBits);
    const entries = 1 << windowBits;
    this.rows = [];
    let windowBase = base;
    for (let i = 0; i < windows; i++) {
      const row: P[] = [this.zero(), windowBase];
      for (let k = 2; k < entries; k++) row.push(mcl.add(row[k - 1]!, windowBase));
      // The next window's base, 2^w · windowBase, before normalization changes nothing but the representation.
      const nextBase = mcl.add(row[entries - 1]!, windowBase);
      // mcl's batch normalization copies its input onto the wasm stack, which has a hard size limit.
      for (let start = 1; start < entries; start += NORMALIZE_BATCH) mcl.normalizeVec(row.slice(start, start + NORMALIZE_BATCH));
      this.rows.push(row);
      windowBase = nextBase;
    }
  }

  /** scalar · base for any bigint scalar (reduced mod r first). */
  mul(scalar: bigint): P {
    let reduced = scalar % FR_ORDER;
    if (reduced < 0n) reduced += FR_ORDER;
    const chunks = toChunks(reduced);
    const mask = (1 << this.windowBits) - 1;
    let sum: P | undefined;
    let sumIsTableEntry = false;
    for (let i = 0; i < this.rows.length; i++) {
      const bit = i * this.windowBits;
      const chunk = bit >>> 4;
      const offset = bit & (CHUNK_BITS - 1);
      const digit = ((chunks[chunk]! >>> offset) | ((chunks[chunk + 1] ?? 0) << (CHUNK_BITS - offset))) & mask;
      if (digit === 0) continue;
      const entry = this.rows[i]![digit]!;
      sumIsTableEntry = sum === undefined;
      sum = sum === undefined ? entry : mcl.add(sum, entry);
    }
    if (sum === undefined) return this.zero();
    // Entries are shared table objects: hand out a copy so a caller mutating the result cannot corrupt the table.
    return sumIsTableEntry ? (sum.clone() as P) : sum;
  }
}

/** Little-endian 16-bit chunks of a scalar in [0, 2^256). */
function toChunks(value: bigint): number[] {
  const hex = value.toString(16).padStart(HEX_DIGITS, "0");
  const chunks = new Array<number>(HEX_DIGITS / 4);
  for (let c = 0; c < chunks.length; c++) {
    const end = HEX_DIGITS - 4 * c;
    chunks[c] = Number.parseInt(hex.slice(end - 4, end), 16);
  }
  return chunks;
}
