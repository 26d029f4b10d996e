// Fixed-base scalar multiplication by a windowed table: every point of a ciphertext has base g1 or g2 (PROTOCOL §2),
// so after a one-time table per master key each multiplication is ~⌈254/w⌉ additions instead of a full ladder.
import * as mcl from "mcl-wasm";
import { wasmHeap, type WasmHeap } from "./mclWasmHeap.ts";
import { FR_ORDER } from "./order.ts";

/** Default window: 2^8 entries per window, 32 windows; ~8k points per base (≈1.2 MB in G1, 2.4 MB in G2). */
export const FIXED_BASE_WINDOW_BITS = 8;
const SCALAR_BITS = 254; // r < 2^254
const HEX_DIGITS = 64;
const CHUNK_BITS = 16;
const NORMALIZE_BATCH = 256;

export type CurvePoint = mcl.G1 | mcl.G2;

/** Where the table lives: the wasm heap (in-place additions, no allocation) or JS point objects (public API only). */
export type TableStorage = "wasm" | "js";

type WasmTable = { heap: WasmHeap; base: number; accumulator: number; pointBytes: number; add: (z: number, x: number, y: number) => void };

// Tables are cached per master key in a WeakMap; when a key is dropped, its table's wasm memory is released.
const releaseWasmTable = new FinalizationRegistry<{ heap: WasmHeap; pointer: number }>(({ heap, pointer }) => heap.free(pointer));

/**
 * rows[i][k] = k · 2^(w·i) · base for k in [1, 2^w); a scalar with base-2^w digits k_i is Σ_i rows[i][k_i].
 * Entries are normalized (affine) so that each addition takes mcl's cheaper mixed-addition path.
 */
export class FixedBaseTable<P extends CurvePoint> {
  readonly windowBits: number;
  readonly storage: TableStorage;
  private readonly windows: number;
  private readonly entries: number;
  private readonly newPoint: () => P;
  private readonly rows: P[][] | undefined;
  private readonly wasm: WasmTable | undefined;
  private readonly zero: P;

  constructor(base: P, windowBits = FIXED_BASE_WINDOW_BITS, storage: TableStorage = "wasm") {
    if (!Number.isInteger(windowBits) || windowBits < 1 || windowBits > CHUNK_BITS) {
      throw new RangeError(`windowBits must be an integer in [1, ${CHUNK_BITS}], got ${windowBits}`);
    }
    this.windowBits = windowBits;
    const Point = base.constructor as new () => P;
    this.newPoint = () => new Point();
    this.zero = this.newPoint();
    this.windows = Math.ceil(SCALAR_BITS / windowBits);
    this.entries = 1 << windowBits;
    const rows = buildRows(base, this.windows, this.entries, this.newPoint);
    const heap = storage === "wasm" ? wasmHeap() : undefined;
    if (heap === undefined) {
      this.storage = "js";
      this.rows = rows;
      this.wasm = undefined;
      return;
    }
    this.storage = "wasm";
    this.rows = undefined;
    const isG1 = base instanceof mcl.G1;
    const pointBytes = isG1 ? heap.g1Bytes : heap.g2Bytes;
    // One block: the table, then one accumulator slot.
    const pointer = heap.malloc((this.windows * this.entries + 1) * pointBytes);
    if (pointer === 0) throw new RangeError("mcl wasm heap is exhausted");
    rows.forEach((row, i) => row.forEach((entry, k) => entry.copyToMem(pointer + (i * this.entries + k) * pointBytes)));
    this.wasm = {
      heap,
      base: pointer,
      accumulator: pointer + this.windows * this.entries * pointBytes,
      pointBytes,
      add: isG1 ? heap.addG1 : heap.addG2,
    };
    releaseWasmTable.register(this, { heap, pointer });
  }

  /** scalar · base for any bigint scalar (reduced mod r first). */
  mul(scalar: bigint): P {
    let reduced = scalar % FR_ORDER;
    if (reduced < 0n) reduced += FR_ORDER;
    const digits = toDigits(reduced, this.windowBits, this.windows);
    return this.wasm === undefined ? this.mulInJs(digits) : this.mulInWasm(digits, this.wasm);
  }

  private mulInWasm(digits: readonly number[], wasm: WasmTable): P {
    const { base, accumulator, pointBytes, add } = wasm;
    this.zero.copyToMem(accumulator);
    for (let i = 0; i < digits.length; i++) {
      const digit = digits[i]!;
      if (digit !== 0) add(accumulator, accumulator, base + (i * this.entries + digit) * pointBytes);
    }
    const result = this.newPoint();
    result.copyFromMem(accumulator);
    return result;
  }

  private mulInJs(digits: readonly number[]): P {
    const rows = this.rows!;
    let sum: P | undefined;
    let sumIsTableEntry = false;
    for (let i = 0; i < digits.length; i++) {
      const digit = digits[i]!;
      if (digit === 0) continue;
      const entry = rows[i]![digit]!;
      sumIsTableEntry = sum === undefined;
      sum = sum === undefined ? entry : mcl.add(sum, entry);
    }
    if (sum === undefined) return this.newPoint();
    // Entries are shared table objects: hand out a copy so a caller mutating the result cannot corrupt the table.
    return sumIsTableEntry ? (sum.clone() as P) : sum;
  }
}

function buildRows<P extends CurvePoint>(base: P, windows: number, entries: number, newPoint: () => P): P[][] {
  const rows: P[][] = [];
  let windowBase = base;
  for (let i = 0; i < windows; i++) {
    const row: P[] = [newPoint(), windowBase];
    for (let k = 2; k < entries; k++) row.push(mcl.add(row[k - 1]!, windowBase));
    // The next window's base, 2^w · windowBase; normalization below changes only the representation.
    const nextBase = mcl.add(row[entries - 1]!, windowBase);
    // mcl's batch normalization copies its input onto the wasm stack, which has a hard size limit.
    for (let start = 1; start < entries; start += NORMALIZE_BATCH) mcl.normalizeVec(row.slice(start, start + NORMALIZE_BATCH));
    rows.push(row);
    windowBase = nextBase;
  }
  return rows;
}

/** Base-2^w digits of a scalar in [0, 2^256), least significant first, via 16-bit chunks of its hex form. */
function toDigits(value: bigint, windowBits: number, windows: number): number[] {
  const hex = value.toString(16).padStart(HEX_DIGITS, "0");
  const chunks = new Array<number>(HEX_DIGITS / 4 + 1).fill(0);
  for (let c = 0; c < HEX_DIGITS / 4; c++) {
    const end = HEX_DIGITS - 4 * c;
    chunks[c] = Number.parseInt(hex.slice(end - 4, end), 16);
  }
  const mask = (1 << windowBits) - 1;
  const digits = new Array<number>(windows);
  for (let i = 0; i < windows; i++) {
    const bit = i * windowBits;
    const chunk = bit >>> 4;
    const offset = bit & (CHUNK_BITS - 1);
    digits[i] = ((chunks[chunk]! >>> offset) | (chunks[chunk + 1]! << (CHUNK_BITS - offset))) & mask;
  }
  return digits;
}
