// Sealed messages: real ECIES (actors/secure/ecies.ts, eciesjs format) and ethers signatures; every tampering is rejected with its own error.
import { Wallet, getBytes, hexlify, type HDNodeWallet } from "ethers";
import { describe, expect, it } from "vitest";
import { openingPayloadSchema, type Sealed } from "../../protocol/wire/schemas.ts";
import * as rejected from "../../actors/secure/errors.ts";
import { addressOfPublicKey, identityOf } from "../../actors/secure/keys.ts";
import { eciesDecrypt, eciesEncrypt } from "../../actors/secure/ecies.ts";
import { open, openAs, openSealed, seal } from "../../actors/secure/sealed.ts";

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
  it("round-trips a payload to the recipient; the wire shows neither payload, sender, recipient nor context", () => {
    const sealed = sealOpening();
    expect(Object.keys(sealed).sort()).toEqual(["ciphertext", "v"]);
    expect(sealed.v).toBe(2);
    const wire = JSON.stringify(sealed).toLowerCase();
    for (const hidden of [meter.address, dso.address, CONTEXT, "678910"])
      expect(wire).not.toContain(Buffer.from(hidden.toLowerCase()).toString("hex").slice(0, 16));
    expect(wire).not.toContain(meter.address.slice(2).toLowerCase());
    expect(wire).not.toContain(dso.address.slice(2).toLowerCase());
    expect(open(sealed, dso.privateKey, meter.address, CONTEXT)).toEqual(opening);
    expect(openAs(openingPayloadSchema, sealed, dso.privateKey, [otherMeter.address, meter.address.toLowerCase()], CONTEXT).opening.quantityWh).toBe(1500);
  });

  it("tells the recipient who sealed it, with the public key to seal a reply to", () => {
    const opened = openSealed(sealOpening(), dso.privateKey, "anyone", CONTEXT);
    expect(opened.sender).toBe(meter.address);
    expect(opened.senderPublicKey).toBe(meter.signingKey.publicKey);
  });

  it("encrypts freshly each time (ephemeral key), and works with a compressed recipient key", () => {
    const compressed = dso.signingKey.compressedPublicKey;
    const a = sealOpening({ recipientPublicKey: compressed });
    const b = sealOpening({ recipientPublicKey: compressed });
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(addressOfPublicKey(compressed)).toBe(dso.address);
    expect(open(a, dso.privateKey, meter.address, CONTEXT)).toEqual(opening);
  });

  it("rejects a tampered ciphertext", () => {
    const sealed = sealOpening();
    expect(() => open({ ...sealed, ciphertext: flipByte(sealed.ciphertext, 40) }, dso.privateKey, meter.address, CONTEXT)).toThrow(rejected.DecryptionFailedError);
    expect(() => open({ ...sealed, ciphertext: flipByte(sealed.ciphertext, sealed.ciphertext.length / 2 - 3) }, dso.privateKey, meter.address, CONTEXT)).toThrow(
      rejected.DecryptionFailedError,
    );
  });

  it("rejects the wrong recipient", () => {
    const sealed = sealOpening();
    expect(() => open(sealed, otherMeter.privateKey, meter.address, CONTEXT)).toThrow(rejected.DecryptionFailedError);
    // Encrypted to us but addressed inside to someone else (a recipient forwarding what it received).
    const forwarded = reencrypt(sealed, dso, otherMeter.signingKey.publicKey);
    expect(() => open(forwarded, otherMeter.privateKey, meter.address, CONTEXT)).toThrow(rejected.WrongRecipientError);
  });

  it("rejects a sender that is not allowed", () => {
    const sealed = sealOpening({ senderWallet: otherMeter });
    expect(() => open(sealed, dso.privateKey, meter.address, CONTEXT)).toThrow(rejected.UnexpectedSenderError);
  });

  it("rejects a replay to another context, even with the inner context rewritten", () => {
    const sealed = sealOpening();
    expect(() => open(sealed, dso.privateKey, meter.address, "gridveil.m1.dso.dispute|0xabc")).toThrow(rejected.WrongContextError);
    const rewritten = reencrypt(sealed, dso, dso.signingKey.publicKey, (inner) => ({ ...inner, context: "gridveil.m1.dso.dispute|0xabc" }));
    expect(() => open(rewritten, dso.privateKey, meter.address, "gridveil.m1.dso.dispute|0xabc")).toThrow(rejected.BadSignatureError);
  });

  it("rejects a payload or sender rewritten inside, and a broken signature", () => {
    const sealed = sealOpening();
    const payload = reencrypt(sealed, dso, dso.signingKey.publicKey, (inner) => ({ ...inner, payload: JSON.stringify({ ...opening, side: 0 }) }));
    expect(() => open(payload, dso.privateKey, meter.address, CONTEXT)).toThrow(rejected.BadSignatureError);
    const sender = reencrypt(sealed, dso, dso.signingKey.publicKey, (inner) => ({ ...inner, sender: otherMeter.address }));
    expect(() => open(sender, dso.privateKey, [meter.address, otherMeter.address], CONTEXT)).toThrow(rejected.BadSignatureError);
    const signature = reencrypt(sealed, dso, dso.signingKey.publicKey, (inner) => ({ ...inner, signature: "0x1234" }));
    expect(() => open(signature, dso.privateKey, meter.address, CONTEXT)).toThrow(rejected.BadSignatureError);
  });

  it("reports an undecryptable or non-envelope ciphertext as DecryptionFailedError", () => {
    const garbage: Sealed = { v: 2, ciphertext: `0x02${"ab".repeat(80)}` as `0x${string}` };
    expect(() => open(garbage, dso.privateKey, meter.address, CONTEXT)).toThrow(rejected.DecryptionFailedError);
    const notEnvelope: Sealed = { v: 2, ciphertext: hexlify(eciesEncrypt(dso.signingKey.publicKey, new TextEncoder().encode('{"hello":1}'))) as `0x${string}` };
    expect(() => open(notEnvelope, dso.privateKey, meter.address, CONTEXT)).toThrow(rejected.DecryptionFailedError);
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

type Inner = { v: number; sender: string; recipient: string; context: string; payload: string; signature: string };

/**
 * What a recipient (`holder`) can do with a message it opened: decrypt it, change the inner envelope, and encrypt it
 * again to anyone. Mirrors the construction documented in actors/secure/sealed.ts.
 */
function reencrypt(sealed: Sealed, holder: Wallet | HDNodeWallet, toPublicKey: string, change: (inner: Inner) => Inner = (inner) => inner): Sealed {
  const inner = JSON.parse(new TextDecoder().decode(eciesDecrypt(holder.privateKey, getBytes(sealed.ciphertext)))) as Inner;
  const plaintext = new TextEncoder().encode(JSON.stringify(change(inner)));
  return { v: 2, ciphertext: hexlify(eciesEncrypt(toPublicKey, plaintext)) as `0x${string}` };
}
