// Sealed messages: real ECIES (actors/secure/ecies.ts, eciesjs format) and ethers signatures; every tampering is rejected with its own error.
import { AbiCoder, Wallet, getBytes, hexlify, keccak256 } from "ethers";
import { describe, expect, it } from "vitest";
import { openingPayloadSchema, type Sealed } from "../../protocol/wire/schemas.ts";
import * as rejected from "../../actors/secure/errors.ts";
import { addressOfPublicKey, identityOf, type SigningWallet } from "../../actors/secure/keys.ts";
import { open, openAs, seal } from "../../actors/secure/sealed.ts";

const dso = Wallet.createRandom();
const meter = Wallet.createRandom();
const otherMeter = Wallet.createRandom();
const CONTEXT = "gridveil.m1.dso.opening|0xabc";
const opening = {
  type: "opening",
  tradeId: `0x${"12".repeat(32)}`,
  bidder: meter.address,
  side: 1,
  opening: { priceLevel: 3, quantityWh: 1500, salt: `0x${"ee".repeat(32)}`, alpha: "12345", beta: "678910" },
};

function sealOpening(overrides: Partial<Parameters<typeof seal>[0]> = {}): Sealed {
  return seal({ payload: opening, senderWallet: meter, recipientPublicKey: dso.signingKey.publicKey, context: CONTEXT, ...overrides });
}

function flipByte(hex: string, index: number): `0x${string}` {
  const bytes = getBytes(hex);
  bytes[index] ^= 0x01;
  return hexlify(bytes) as `0x${string}`;
}

describe("seal / open", () => {
  it("round-trips a payload to the recipient, and the ciphertext hides it", () => {
    const sealed = sealOpening();
    expect(sealed).toMatchObject({ v: 1, sender: meter.address, recipient: dso.address, context: CONTEXT });
    expect(sealed.ciphertext).not.toContain(Buffer.from("678910").toString("hex"));
    expect(open(sealed, dso.privateKey, meter.address, CONTEXT)).toEqual(opening);
    expect(openAs(openingPayloadSchema, sealed, dso.privateKey, [otherMeter.address, meter.address.toLowerCase()], CONTEXT).opening.quantityWh).toBe(1500);
  });

  it("encrypts freshly each time (ephemeral key), and works with a compressed recipient key", () => {
    const compressed = dso.signingKey.compressedPublicKey;
    const a = sealOpening({ recipientPublicKey: compressed });
    const b = sealOpening({ recipientPublicKey: compressed });
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(addressOfPublicKey(compressed)).toBe(dso.address);
    expect(open(a, dso.privateKey, meter.address, CONTEXT)).toEqual(opening);
  });

  it("rejects a tampered ciphertext, signature or sender field", () => {
    const sealed = sealOpening();
    expect(() => open({ ...sealed, ciphertext: flipByte(sealed.ciphertext, 40) }, dso.privateKey, meter.address, CONTEXT)).toThrow(rejected.BadSignatureError);
    expect(() => open({ ...sealed, signature: flipByte(sealed.signature, 10) }, dso.privateKey, meter.address, CONTEXT)).toThrow(rejected.BadSignatureError);
    expect(() => open({ ...sealed, sender: otherMeter.address }, dso.privateKey, [meter.address, otherMeter.address], CONTEXT)).toThrow(
      rejected.BadSignatureError,
    );
  });

  it("rejects the wrong recipient, even if the recipient field is rewritten", () => {
    const sealed = sealOpening();
    expect(() => open(sealed, otherMeter.privateKey, meter.address, CONTEXT)).toThrow(rejected.WrongRecipientError);
    expect(() => open({ ...sealed, recipient: otherMeter.address }, otherMeter.privateKey, meter.address, CONTEXT)).toThrow(rejected.BadSignatureError);
  });

  it("rejects a sender that is not allowed", () => {
    const sealed = sealOpening({ senderWallet: otherMeter });
    expect(() => open(sealed, dso.privateKey, meter.address, CONTEXT)).toThrow(rejected.UnexpectedSenderError);
  });

  it("rejects a replay to another context, even with the context field rewritten", () => {
    const sealed = sealOpening();
    expect(() => open(sealed, dso.privateKey, meter.address, "gridveil.m1.dso.dispute|0xabc")).toThrow(rejected.WrongContextError);
    expect(() => open({ ...sealed, context: "gridveil.m1.dso.dispute|0xabc" }, dso.privateKey, meter.address, "gridveil.m1.dso.dispute|0xabc")).toThrow(
      rejected.BadSignatureError,
    );
  });

  it("rejects someone else's ciphertext re-signed by another allowed sender", () => {
    const sealed = sealOpening();
    // The attacker re-seals the same ciphertext under its own signature, as a fully valid outer envelope.
    const forged = seal({ payload: null, senderWallet: otherMeter, recipientPublicKey: dso.signingKey.publicKey, context: CONTEXT });
    const resigned: Sealed = { ...forged, ciphertext: sealed.ciphertext };
    // Its signature no longer matches (it covers the ciphertext)…
    expect(() => open(resigned, dso.privateKey, [meter.address, otherMeter.address], CONTEXT)).toThrow(rejected.BadSignatureError);
    // …and a correct signature over the stolen ciphertext is caught by the inner envelope.
    const digestSigned = resignAs(otherMeter, sealed);
    expect(() => open(digestSigned, dso.privateKey, [meter.address, otherMeter.address], CONTEXT)).toThrow(rejected.UnexpectedSenderError);
  });

  it("reports a validly signed but undecryptable ciphertext as rejected.DecryptionFailedError", () => {
    const sealed = sealOpening();
    const garbage = { ...sealed, ciphertext: `0x02${"ab".repeat(80)}` as `0x${string}` };
    expect(() => open(resignAs(meter, garbage), dso.privateKey, meter.address, CONTEXT)).toThrow(rejected.DecryptionFailedError);
  });

  it("rejects malformed envelopes and payloads that do not fit the schema", () => {
    expect(() => open({ v: 1, sender: "0x12" }, dso.privateKey, meter.address, CONTEXT)).toThrow(rejected.MalformedSecureMessageError);
    expect(() => open("hello", dso.privateKey, meter.address, CONTEXT)).toThrow(rejected.MalformedSecureMessageError);
    const sealed = seal({ payload: { type: "opening" }, senderWallet: meter, recipientPublicKey: dso.signingKey.publicKey, context: CONTEXT });
    expect(() => openAs(openingPayloadSchema, sealed, dso.privateKey, meter.address, CONTEXT)).toThrow(rejected.UnexpectedPayloadError);
  });

  it("exposes a wallet's registry identity", () => {
    expect(identityOf(meter)).toEqual({ address: meter.address, publicKey: meter.signingKey.publicKey });
  });
});

/**
 * Signs `sealed`'s ciphertext, recipient and context as `wallet`: what an attacker holding its own key can do. Mirrors
 * the construction documented in actors/secure/sealed.ts, so a change there must be reflected here.
 */
function resignAs(wallet: SigningWallet, sealed: Sealed): Sealed {
  const digest = keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["string", "uint8", "address", "address", "string", "bytes32"],
      ["gridveil.sealed", 1, wallet.address, sealed.recipient, sealed.context, keccak256(sealed.ciphertext)],
    ),
  );
  return { ...sealed, sender: wallet.address as `0x${string}`, signature: wallet.signMessageSync(getBytes(digest)) as `0x${string}` };
}
