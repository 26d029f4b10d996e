// Compact binary form of msk and bid ciphertexts for NATS messages (PROTOCOL §6): fixed header, then 32-byte big-endian words.
import type { BidCiphertext } from "../encoding/bidCiphertext.ts";
import { BinaryFormatError, PointNotOnCurveError, ScalarOutOfRangeError, TruncatedBufferError } from "./errors.ts";
import { g1FromWords, g1ToWords, g1VectorFromWords, g2FromWords, g2ToWords, g2VectorFromWords } from "./evmWords.ts";
import { masterKeyFromParts, type MasterSecretKey } from "./fhipe.ts";
import { FR_ORDER } from "./order.ts";

// Header: "GV", kind, format version, dimension (uint16 big-endian).
const MAGIC = [0x47, 0x56] as const;
const FORMAT_VERSION = 1;
const HEADER_BYTES = 6;
const WORD_BYTES = 32;
const MAX_DIM = 0xffff;
const GENERATOR_WORDS = 6; // g1 (2) and g2 (4)
const BID_WORDS_PER_DIM = 6; // K2_j (2) and C2_j (4)

export const BinaryKind = { masterSecretKey: 1, bidCiphertext: 2 } as const;
type Kind = (typeof BinaryKind)[keyof typeof BinaryKind];

/**
 * msk = header ‖ g1 (2 words) ‖ g2 (4 words, EIP-197 order) ‖ B (d² words, row-major). B* and det(B) are not
 * sent: the decoder recomputes them, so a message cannot carry an inconsistent B*.
 */
export function encodeMsk(msk: MasterSecretKey): Uint8Array {
  const words = [...g1ToWords(msk.g1), ...g2ToWords(msk.g2), ...msk.B.flat()];
  return encode(BinaryKind.masterSecretKey, msk.dim, words);
}

export function decodeMsk(bytes: Uint8Array): MasterSecretKey {
  const { dim, words } = decode(bytes, BinaryKind.masterSecretKey, (d) => GENERATOR_WORDS + d * d);
  const g1 = g1FromWords(words.slice(0, 2));
  const g2 = g2FromWords(words.slice(2, 6));
  if (g1.isZero() || g2.isZero()) {
    throw new PointNotOnCurveError({ point: "msk generator", atInfinity: true });
  }
  const B = Array.from({ length: dim }, (_, i) => words.slice(GENERATOR_WORDS + i * dim, GENERATOR_WORDS + (i + 1) * dim));
  for (const entry of B.flat()) {
    if (entry >= FR_ORDER) throw new ScalarOutOfRangeError({ name: "matrix entry", value: entry, unreduced: true });
  }
  return masterKeyFromParts(dim, g1, g2, B);
}

/** Ciphertext = header ‖ left (2d words) ‖ right (4d words): the EVM words, so no conversion on the way to the chain. */
export function encodeBidCiphertext(ciphertext: BidCiphertext): Uint8Array {
  const dim = ciphertext.left.length / 2;
  if (!Number.isInteger(dim) || ciphertext.right.length !== 4 * dim) {
    throw new BinaryFormatError({ kind: "halves", left: ciphertext.left.length, right: ciphertext.right.length });
  }
  return encode(BinaryKind.bidCiphertext, dim, [...ciphertext.left, ...ciphertext.right]);
}

/** Decodes and validates every point (curve and subgroup), so what comes off the wire is what the precompile accepts. */
export function decodeBidCiphertext(bytes: Uint8Array): BidCiphertext {
  const { dim, words } = decode(bytes, BinaryKind.bidCiphertext, (d) => BID_WORDS_PER_DIM * d);
  const left = words.slice(0, 2 * dim);
  const right = words.slice(2 * dim);
  g1VectorFromWords(left);
  g2VectorFromWords(right);
  return { left, right };
}

function encode(kind: Kind, dim: number, words: readonly bigint[]): Uint8Array {
  if (!Number.isInteger(dim) || dim < 1 || dim > MAX_DIM) throw new BinaryFormatError({ kind: "dimensionTooLarge", dim });
  const bytes = new Uint8Array(HEADER_BYTES + words.length * WORD_BYTES);
  bytes.set([MAGIC[0], MAGIC[1], kind, FORMAT_VERSION, dim >>> 8, dim & 0xff]);
  words.forEach((word, i) => {
    if (word < 0n || word >= 1n << 256n) throw new BinaryFormatError({ kind: "notUint256", word });
    bytes.set(Buffer.from(word.toString(16).padStart(2 * WORD_BYTES, "0"), "hex"), HEADER_BYTES + i * WORD_BYTES);
  });
  return bytes;
}

function decode(bytes: Uint8Array, kind: Kind, wordCount: (dim: number) => number): { dim: number; words: bigint[] } {
  if (bytes.length < HEADER_BYTES) {
    throw new TruncatedBufferError({ headerBytes: HEADER_BYTES, bytes });
  }
  if (bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1] || bytes[2] !== kind || bytes[3] !== FORMAT_VERSION) {
    throw new BinaryFormatError({ kind: "header", found: Array.from(bytes.subarray(0, 4)), expected: [...MAGIC, kind, FORMAT_VERSION] });
  }
  const dim = (bytes[4]! << 8) | bytes[5]!;
  if (dim === 0) throw new BinaryFormatError({ kind: "dimensionZero" });
  const expected = HEADER_BYTES + wordCount(dim) * WORD_BYTES;
  if (bytes.length < expected) {
    throw new TruncatedBufferError({ expected, actual: bytes.length });
  }
  if (bytes.length > expected) {
    throw new BinaryFormatError({ kind: "trailingBytes", expected, actual: bytes.length });
  }
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset + HEADER_BYTES, expected - HEADER_BYTES).toString("hex");
  const words = Array.from({ length: wordCount(dim) }, (_, i) => BigInt(`0x${hex.slice(i * 64, i * 64 + 64)}`));
  return { dim, words };
}
