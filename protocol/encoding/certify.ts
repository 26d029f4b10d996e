// Certified bids (PROTOCOL §4 v2), the DSO's rule: from a meter's opening (side, slot, level, quantity, salt, seed)
// and the epoch's key, the bid's ciphertext, its root and its commitment — the fields the ticket signs. With
// `encryptAt: dso` the DSO encrypts; with `encryptAt: meter` it re-encrypts and requires the meter's ciphertext to be
// exactly that (the paper's check). Pure apart from the encryption (mcl).
import type { MasterSecretKey } from "../fhipe/fhipe.ts";
import { computeSlotCommitment, type Bytes32 } from "../commitment.ts";
import { gateClosureOf, slotOpen, type SlotCalendar } from "../book/slotBooks.ts";
import type { SideCode } from "../domain.ts";
import { encryptBlockBid, type BlockCiphertext } from "./blockBid.ts";
import type { BlockParams } from "./blockTokens.ts";
import { ciphertextRoot } from "./ciphertextRoot.ts";
import { CertificationError } from "./errors.ts";

/** A v2 opening: with the epoch's key it reproduces the ciphertext and the commitment exactly. */
export type SlotOpening = { side: SideCode; slot: number; priceLevel: number; quantityWh: number; salt: Bytes32; seed: Uint8Array };

export type CertifiedFields = { ciphertext: BlockCiphertext; ciphertextRoot: string; commitment: Bytes32 };

/**
 * The fields the DSO's ticket signs for `bidder`'s opening, or a CertificationError. `meterCiphertext` is the meter's
 * own encryption (meter mode); without it the DSO's encryption is the bid's (DSO mode).
 */
export function certifyOpening(options: {
  bidder: string;
  opening: SlotOpening;
  epochKey: { msk: MasterSecretKey; tokenKey: Uint8Array };
  params: BlockParams;
  calendar: SlotCalendar;
  /** Unix seconds. */
  now: number;
  meterCiphertext?: BlockCiphertext;
}): CertifiedFields {
  const { opening, params, calendar, now } = options;
  if (!slotOpen(opening.slot, now, calendar)) throw new CertificationError({ kind: "slotClosed", slot: opening.slot, gateClosure: gateClosureOf(opening.slot, calendar), now });
  if (!Number.isSafeInteger(opening.priceLevel) || opening.priceLevel < 0 || opening.priceLevel >= params.levels) {
    throw new CertificationError({ kind: "levelOutOfRange", priceLevel: opening.priceLevel, levels: params.levels });
  }
  if (!Number.isSafeInteger(opening.quantityWh) || opening.quantityWh <= 0) throw new CertificationError({ kind: "quantity", quantityWh: opening.quantityWh });
  if (opening.seed.length !== 32) throw new CertificationError({ kind: "seed", length: opening.seed.length });
  const ciphertext = encryptBlockBid(options.epochKey.msk, options.epochKey.tokenKey, params, opening.priceLevel, opening.seed);
  if (options.meterCiphertext !== undefined) {
    const differing = firstDifference(ciphertext, options.meterCiphertext);
    if (differing !== null) throw new CertificationError({ kind: "ciphertextMismatch", token: differing });
  }
  return {
    ciphertext,
    ciphertextRoot: ciphertextRoot(ciphertext),
    commitment: computeSlotCommitment({ bidder: options.bidder, side: opening.side, slot: opening.slot, priceLevel: opening.priceLevel, quantityWh: opening.quantityWh, salt: opening.salt }),
  };
}

/** The first token (e.g. "left 3") in which two ciphertexts differ, or null when they are the same word for word. */
function firstDifference(expected: BlockCiphertext, actual: BlockCiphertext): string | null {
  for (const half of ["left", "right"] as const) {
    if (actual[half]?.length !== expected[half].length) return `${half} (token count)`;
    for (const [token, words] of expected[half].entries()) {
      const theirs = actual[half][token];
      if (theirs === undefined || theirs.length !== words.length || words.some((word, i) => word !== theirs[i])) return `${half} ${token}`;
    }
  }
  return null;
}
