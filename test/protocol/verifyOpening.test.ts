// The opening check (PROTOCOL §4; v2: §5 trading step 3): an honest opening verifies; each kind of lie is caught and named.
import { beforeAll, describe, expect, it } from "vitest";
import { encryptBid } from "../../protocol/encoding/bidCiphertext.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { randomScalar, setup, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { dimensionFor } from "../../protocol/encoding/priceEncoding.ts";
import { computeCommitment, randomSalt } from "../../protocol/commitment.ts";
import { verifyOpening, verifySlotOpening, type OnChainBid, type Opening } from "../../protocol/verifyOpening.ts";
import { randomBytes } from "node:crypto";
import { blockParams } from "../../protocol/encoding/blockTokens.ts";
import { certifyOpening } from "../../protocol/encoding/certify.ts";

const LEVELS = 10;
const BIDDER = "0x1111111111111111111111111111111111111111";
const OTHER = "0x2222222222222222222222222222222222222222";

describe("verifyOpening", () => {
  let msk: MasterSecretKey;
  let opening: Opening & { alpha: bigint; beta: bigint };
  let onChain: OnChainBid;

  beforeAll(async () => {
    await initCurve();
    msk = setup(dimensionFor(LEVELS));
    opening = { priceLevel: 6, quantityWh: 1500, salt: randomSalt(), alpha: randomScalar(), beta: randomScalar() };
    const ciphertext = encryptBid(msk, LEVELS, opening.priceLevel, opening);
    onChain = { ...ciphertext, commitment: computeCommitment({ bidder: BIDDER, side: 1, ...opening }) };
  });

  it("accepts the honest opening, also with α and β as the wire's decimal strings", () => {
    expect(verifyOpening(msk, LEVELS, BIDDER, 1, onChain, opening)).toEqual({ ok: true });
    const wire = { ...opening, alpha: opening.alpha.toString(), beta: opening.beta.toString() };
    expect(verifyOpening(msk, LEVELS, BIDDER, 1, onChain, wire)).toEqual({ ok: true });
  });

  it("names each lie", () => {
    const check = (changes: Partial<Opening>, bidder = BIDDER, side: 0 | 1 = 1) =>
      verifyOpening(msk, LEVELS, bidder, side, onChain, { ...opening, ...changes });
    expect(check({ priceLevel: 5 })).toMatchObject({ ok: false, reason: "commitment-mismatch" });
    expect(check({ quantityWh: 1501 })).toMatchObject({ ok: false, reason: "commitment-mismatch" });
    expect(check({ salt: randomSalt() })).toMatchObject({ ok: false, reason: "commitment-mismatch" });
    expect(check({}, OTHER)).toMatchObject({ ok: false, reason: "commitment-mismatch" });
    expect(check({}, BIDDER, 0)).toMatchObject({ ok: false, reason: "commitment-mismatch" });
    expect(check({ alpha: opening.alpha + 1n })).toMatchObject({ ok: false, reason: "ciphertext-mismatch" });
    expect(check({ beta: 7n })).toMatchObject({ ok: false, reason: "ciphertext-mismatch" });
    expect(check({ salt: "0x1234" })).toMatchObject({ ok: false, reason: "malformed-opening" });
    expect(check({ alpha: "not a number" })).toMatchObject({ ok: false, reason: "malformed-opening" });
  });

  it("catches a commitment to an impossible level or randomizer (a bidder lying from the start)", () => {
    const committed = (priceLevel: number) => ({ ...onChain, commitment: computeCommitment({ bidder: BIDDER, side: 1, ...opening, priceLevel }) });
    expect(verifyOpening(msk, LEVELS, BIDDER, 1, committed(LEVELS), { ...opening, priceLevel: LEVELS })).toMatchObject({
      ok: false,
      reason: "price-level-out-of-range",
    });
    expect(verifyOpening(msk, LEVELS, BIDDER, 1, onChain, { ...opening, alpha: 0n })).toMatchObject({ ok: false, reason: "bad-randomizer" });
    expect(verifyOpening(msk, LEVELS + 1, BIDDER, 1, onChain, opening)).toMatchObject({ ok: false, reason: "dimension-mismatch" });
  });
});

describe("verifySlotOpening (v2)", () => {
  it("accepts the certified opening against the chain's commitment (and, with the epoch key, its root); names each lie", async () => {
    await initCurve();
    const params = blockParams(1024, 1);
    const calendar = { slotSeconds: 900, gateClosureSeconds: 300 };
    const now = 1_800_000_000;
    const epochKey = { msk: setup(params.dim), tokenKey: new Uint8Array(randomBytes(32)) };
    const opening = { side: 1 as const, slot: Math.floor(now / 900) + 3, priceLevel: 700, quantityWh: 2_000, salt: randomSalt(), seed: new Uint8Array(randomBytes(32)) };
    const certified = certifyOpening({ bidder: BIDDER, opening, epochKey, params, calendar, now });
    const onChain = { commitment: certified.commitment, ciphertextRoot: certified.ciphertextRoot };
    const check = (changed: Partial<typeof opening>, bidder = BIDDER, withKey = false) =>
      verifySlotOpening(bidder, 1, onChain, { ...opening, ...changed }, withKey ? { epochKey, params } : undefined);
    expect(check({})).toEqual({ ok: true });
    expect(check({}, BIDDER, true)).toEqual({ ok: true });
    for (const lie of [{ priceLevel: 699 }, { quantityWh: 1_999 }, { slot: opening.slot + 1 }, { salt: randomSalt() }]) expect(check(lie)).toMatchObject({ ok: false, reason: "commitment-mismatch" });
    expect(check({}, OTHER)).toMatchObject({ ok: false, reason: "commitment-mismatch" });
    expect(verifySlotOpening(BIDDER, 0, onChain, opening)).toMatchObject({ ok: false, reason: "malformed-opening" });
    // The commitment holds but the seed is not the one encrypted: only the meter-mode check (with the key) sees it.
    const otherSeed = { seed: new Uint8Array(randomBytes(32)) };
    expect(check(otherSeed)).toEqual({ ok: true });
    expect(check(otherSeed, BIDDER, true)).toMatchObject({ ok: false, reason: "ciphertext-mismatch" });
  });
});
