// Typed access to the few mcl-wasm internals that the public API lacks: wasm-heap memory and in-place point addition.
//
// Why: mcl's public `add` allocates a new point (and an off-heap ArrayBuffer) per call. A fixed-base
// multiplication is ~32 additions, so those allocations cost more than the field arithmetic and keep V8's
// background GC threads busy, which a 2-core machine running two encryption workers cannot spare. These
// internals are stable in the pinned mcl-wasm 2.4.1; if they ever disappear, callers fall back to the public API.
import mclInternals from "mcl-wasm/dist/mcl.js";
import mclConstants from "mcl-wasm/dist/constants.js";

type WasmModule = {
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  _mclBnG1_add(sum: number, left: number, right: number): void;
  _mclBnG2_add(sum: number, left: number, right: number): void;
};

export type WasmHeap = {
  malloc(bytes: number): number;
  free(pointer: number): void;
  /** z = x + y on points stored in the wasm heap; z may alias x. */
  addG1(sum: number, left: number, right: number): void;
  addG2(sum: number, left: number, right: number): void;
  g1Bytes: number;
  g2Bytes: number;
};

/** The loaded module's heap functions, or undefined if this mcl-wasm build does not expose them. */
export function wasmHeap(): WasmHeap | undefined {
  const candidate = (mclInternals as unknown as { mod?: Partial<WasmModule> }).mod;
  if (
    candidate === undefined ||
    typeof candidate._malloc !== "function" ||
    typeof candidate._free !== "function" ||
    typeof candidate._mclBnG1_add !== "function" ||
    typeof candidate._mclBnG2_add !== "function"
  ) {
    return undefined;
  }
  const module = candidate as WasmModule;
  return {
    malloc: (bytes) => module._malloc(bytes),
    free: (pointer) => module._free(pointer),
    addG1: (sum, left, right) => module._mclBnG1_add(sum, left, right),
    addG2: (sum, left, right) => module._mclBnG2_add(sum, left, right),
    g1Bytes: mclConstants.MCLBN_G1_SIZE,
    g2Bytes: mclConstants.MCLBN_G2_SIZE,
  };
}
