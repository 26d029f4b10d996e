// Certified bids (PROTOCOL §4 v2) with real pairings: the DSO's encryption of an opening, the meter-mode check
// (word for word), every refusal named, and a certified bid placed on the real v2 contract with its root and commitment.
import { randomBytes } from "node:crypto";
import { JsonRpcProvider, NonceManager, Wallet, hexlify } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalChain, type LocalChain } from "../../../actors/chain/localChain.ts";
import { bidTuple, certifyBid, decodeSlotMarketEvents, deploySlotMarket, hintFromMirror } from "../../../contracts/client/v2/slotMarket.ts";
import { SlotBooks, type SlotCalendar } from "../../../protocol/book/slotBooks.ts";
import { computeSlotCommitment } from "../../../protocol/commitment.ts";
import { encryptBlockBid } from "../../../protocol/encoding/blockBid.ts";
import { blockParams } from "../../../protocol/encoding/blockTokens.ts";
import { certifyOpening, type SlotOpening } from "../../../protocol/encoding/certify.ts";
import { ciphertextRoot } from "../../../protocol/encoding/ciphertextRoot.ts";
import { CertificationError } from "../../../protocol/encoding/errors.ts";
import { initCurve } from "../../../protocol/fhipe/curve.ts";
import { setup } from "../../../protocol/fhipe/fhipe.ts";

const params = blockParams(1024, 1);
const calendar: SlotCalendar = { slotSeconds: 900, gateClosureSeconds: 300 };
const now = 1_800_000_000;
const slot = Math.floor(now / calendar.slotSeconds) + 4;
let epochKey: { msk: ReturnType<typeof setup>; tokenKey: Uint8Array };
let chain: LocalChain | undefined;

beforeAll(async () => {
  await initCurve();
  epochKey = { msk: setup(params.dim), tokenKey: new Uint8Array(randomBytes(32)) };
});

afterAll(async () => {
  await chain?.stop();
});

const opening = (overrides: Partial<SlotOpening> = {}): SlotOpening => ({
  side: 1,
  slot,
  priceLevel: 613,
  quantityWh: 1_500,
  salt: hexlify(randomBytes(32)) as `0x${string}`,
  seed: new Uint8Array(randomBytes(32)),
  ...overrides,
});

describe("certified bids", () => {
  it("DSO mode: the opening's encryption under the epoch key, its root and its commitment", () => {
    const bidder = Wallet.createRandom().address;
    const input = opening();
    const fields = certifyOpening({ bidder, opening: input, epochKey, params, calendar, now });
    expect(fields.ciphertext).toEqual(encryptBlockBid(epochKey.msk, epochKey.tokenKey, params, input.priceLevel, input.seed));
    expect(fields.ciphertextRoot).toBe(ciphertextRoot(fields.ciphertext));
    expect(fields.commitment).toBe(computeSlotCommitment({ bidder, ...input }));
    // The slot is in the commitment: the same opening for another slot commits to something else.
    expect(computeSlotCommitment({ bidder, ...input, slot: slot + 1 })).not.toBe(fields.commitment);
  });

  it("meter mode: accepts the meter's ciphertext only if it is the encryption word for word", () => {
    const bidder = Wallet.createRandom().address;
    const input = opening();
    const meterCiphertext = encryptBlockBid(epochKey.msk, epochKey.tokenKey, params, input.priceLevel, input.seed);
    const dso = certifyOpening({ bidder, opening: input, epochKey, params, calendar, now });
    expect(certifyOpening({ bidder, opening: input, epochKey, params, calendar, now, meterCiphertext })).toEqual(dso);
    const altered = structuredClone(meterCiphertext);
    altered.right[4]![7]! ^= 1n;
    expect(() => certifyOpening({ bidder, opening: input, epochKey, params, calendar, now, meterCiphertext: altered })).toThrow(/right 4/);
    // Another level, or another epoch's key: not this opening's ciphertext.
    const otherLevel = encryptBlockBid(epochKey.msk, epochKey.tokenKey, params, 612, input.seed);
    expect(() => certifyOpening({ bidder, opening: input, epochKey, params, calendar, now, meterCiphertext: otherLevel })).toThrow(CertificationError);
    const otherEpoch = encryptBlockBid(setup(params.dim), epochKey.tokenKey, params, input.priceLevel, input.seed);
    expect(() => certifyOpening({ bidder, opening: input, epochKey, params, calendar, now, meterCiphertext: otherEpoch })).toThrow(/not the encryption/);
  });

  it("refuses a closed slot, a level out of range, a quantity of zero and a short seed, each by name", () => {
    const bidder = Wallet.createRandom().address;
    const refuse = (input: SlotOpening) => {
      try {
        certifyOpening({ bidder, opening: input, epochKey, params, calendar, now });
      } catch (error) {
        return error instanceof CertificationError ? error.message : `not a CertificationError: ${String(error)}`;
      }
      return "certified";
    };
    expect(refuse(opening({ slot: Math.floor(now / calendar.slotSeconds) }))).toMatch(/past its gate closure/);
    expect(refuse(opening({ priceLevel: 1024 }))).toMatch(/outside the market's levels/);
    expect(refuse(opening({ priceLevel: -1 }))).toMatch(/outside the market's levels/);
    expect(refuse(opening({ quantityWh: 0 }))).toMatch(/positive whole number/);
    expect(refuse(opening({ seed: new Uint8Array(16) }))).toMatch(/seed must be 32 bytes/);
  });

  it("a certified bid places on the v2 contract under the DSO's ticket, with its root and commitment", async () => {
    chain = await startLocalChain({ network: "osaka" });
    const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    try {
      const dso = Wallet.createRandom();
      const market = await deploySlotMarket(new NonceManager(new Wallet(chain.accountKeys[0]!, provider)), { ticketSigner: dso.address, params, calendar });
      const chainNow = (await provider.getBlock("latest"))!.timestamp;
      const chainSlot = Math.floor(chainNow / calendar.slotSeconds) + 4;
      const bidder = Wallet.createRandom().address;
      const fields = certifyOpening({ bidder, opening: opening({ slot: chainSlot }), epochKey, params, calendar, now: chainNow });
      const bid = await certifyBid(dso, market, { bidder, side: "sell", slot: chainSlot, notAfter: chainNow + 3_600, commitment: fields.commitment, ciphertext: fields.ciphertext });
      const hint = hintFromMirror(new SlotBooks(calendar), new Map(), { side: "sell", slot: chainSlot, level: 613 }, chainNow + 1, params);
      const receipt = await (await market.contract.getFunction("placeBid")(bidTuple(bid, hint), { gasLimit: 16_777_216n })).wait();
      expect(decodeSlotMarketEvents(market, receipt.logs)).toEqual([
        { type: "placed", slot: chainSlot, bidder, side: "sell", prev: "0x0000000000000000000000000000000000000000", commitment: fields.commitment, ciphertextRoot: fields.ciphertextRoot },
      ]);
    } finally {
      provider.destroy();
    }
  });
});
