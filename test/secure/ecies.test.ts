// The sealed-message ECIES (libsecp256k1 + Node's HKDF/AES-GCM) against eciesjs, the format's reference, both ways;
// and the libsecp256k1 key helpers against ethers.
import { randomBytes } from "node:crypto";
import { decrypt as eciesjsDecrypt, encrypt as eciesjsEncrypt } from "eciesjs";
import { Config as EciesjsConfig } from "eciesjs/config";
import { Wallet, computeAddress, getBytes, hexlify, verifyMessage } from "ethers";
import { describe, expect, it } from "vitest";
import { ECIES_OVERHEAD_BYTES, eciesDecrypt, eciesEncrypt } from "../../actors/secure/ecies.ts";
import { DecryptionFailedError, MalformedSecureMessageError } from "../../actors/secure/errors.ts";
import { addressOfPrivateKey, addressOfPublicKey, recoverMessageSigner } from "../../actors/secure/keys.ts";

/** The configuration sealed messages were made with when they went through eciesjs. */
const ECIESJS_FORMAT = (() => {
  const config = new EciesjsConfig();
  config.ellipticCurve = "secp256k1";
  config.isEphemeralKeyCompressed = true;
  config.isHkdfKeyCompressed = false;
  config.symmetricAlgorithm = "aes-256-gcm";
  config.symmetricNonceLength = 16;
  return config;
})();

const recipient = Wallet.createRandom();
const plaintexts = [new Uint8Array(0), new Uint8Array([7]), new TextEncoder().encode('{"alpha":"123"}'), randomBytes(5_000)];

describe("ECIES in eciesjs's format", () => {
  it("opens what eciesjs sealed, and eciesjs opens what it seals, for every plaintext size", () => {
    for (const plaintext of plaintexts) {
      const byEciesjs = eciesjsEncrypt(recipient.signingKey.publicKey, plaintext, ECIESJS_FORMAT);
      expect(Buffer.from(eciesDecrypt(recipient.privateKey, byEciesjs)).equals(Buffer.from(plaintext))).toBe(true);
      const ours = eciesEncrypt(recipient.signingKey.publicKey, plaintext);
      expect(ours.length).toBe(byEciesjs.length);
      expect(Buffer.from(eciesjsDecrypt(recipient.privateKey, ours, ECIESJS_FORMAT)).equals(Buffer.from(plaintext))).toBe(true);
    }
  });

  it("takes the recipient key uncompressed, compressed, bare x‖y or as bytes, and encrypts freshly each time", () => {
    const message = new TextEncoder().encode("opening");
    const keys = [
      recipient.signingKey.publicKey,
      recipient.signingKey.compressedPublicKey,
      `0x${recipient.signingKey.publicKey.slice(4)}`,
      getBytes(recipient.signingKey.compressedPublicKey),
    ];
    const sealed = keys.map((key) => eciesEncrypt(key, message));
    for (const ciphertext of sealed) expect(new TextDecoder().decode(eciesDecrypt(recipient.privateKey, ciphertext))).toBe("opening");
    expect(new Set(sealed.map((ciphertext) => hexlify(ciphertext))).size).toBe(keys.length);
  });

  it("rejects another key, any flipped byte, a truncated ciphertext and a bad ephemeral key", () => {
    const ciphertext = eciesEncrypt(recipient.signingKey.publicKey, new TextEncoder().encode("secret quantity"));
    expect(() => eciesDecrypt(Wallet.createRandom().privateKey, ciphertext)).toThrow(DecryptionFailedError);
    for (const index of [1, 33, 49, ECIES_OVERHEAD_BYTES, ciphertext.length - 1]) {
      const tampered = Uint8Array.from(ciphertext);
      tampered[index] ^= 0x01;
      expect(() => eciesDecrypt(recipient.privateKey, tampered), `byte ${index}`).toThrow(DecryptionFailedError);
    }
    expect(() => eciesDecrypt(recipient.privateKey, ciphertext.subarray(0, ECIES_OVERHEAD_BYTES - 1))).toThrow(DecryptionFailedError);
    const notAPoint = Uint8Array.from(ciphertext);
    notAPoint[0] = 0x05;
    expect(() => eciesDecrypt(recipient.privateKey, notAPoint)).toThrow(/not a secp256k1 point/);
  });

  it("rejects keys that are not secp256k1 keys, naming which", () => {
    const message = new Uint8Array([1]);
    expect(() => eciesEncrypt("0x1234", message)).toThrow(MalformedSecureMessageError);
    expect(() => eciesEncrypt(`0x04${"00".repeat(64)}`, message)).toThrow(/not a secp256k1 public key/);
    expect(() => eciesEncrypt("not hex at all", message)).toThrow(/public key is not hex/);
    const ciphertext = eciesEncrypt(recipient.signingKey.publicKey, message);
    expect(() => eciesDecrypt(`0x${"00".repeat(32)}`, ciphertext)).toThrow(/not a secp256k1 private key/);
    expect(() => eciesDecrypt(`0x${"ff".repeat(32)}`, ciphertext)).toThrow(MalformedSecureMessageError);
  });
});

describe("key helpers on libsecp256k1", () => {
  it("name keys by the same addresses as ethers", () => {
    for (let i = 0; i < 5; i++) {
      const wallet = Wallet.createRandom();
      expect(addressOfPrivateKey(wallet.privateKey)).toBe(wallet.address);
      expect(addressOfPrivateKey(wallet.privateKey.slice(2))).toBe(wallet.address);
      expect(addressOfPublicKey(wallet.signingKey.publicKey)).toBe(computeAddress(wallet.signingKey.publicKey));
      expect(addressOfPublicKey(wallet.signingKey.compressedPublicKey)).toBe(wallet.address);
    }
    expect(() => addressOfPrivateKey("0x12")).toThrow(MalformedSecureMessageError);
    expect(() => addressOfPublicKey(`0x02${"00".repeat(32)}`)).toThrow(MalformedSecureMessageError);
  });

  it("recover the signer of an EIP-191 signature exactly as ethers' verifyMessage does", () => {
    for (let i = 0; i < 10; i++) {
      const wallet = Wallet.createRandom();
      const message = i % 2 === 0 ? randomBytes(32) : `message ${i}`;
      const signature = wallet.signMessageSync(message);
      expect(recoverMessageSigner(message, signature)).toBe(wallet.address);
      expect(recoverMessageSigner(message, signature)).toBe(verifyMessage(message, signature));
      // Another message recovers to some other address, never the signer's.
      expect(recoverMessageSigner(`${String(message)}!`, signature)).not.toBe(wallet.address);
    }
  });

  it("rejects malformed signatures as ethers does", () => {
    const wallet = Wallet.createRandom();
    const signature = getBytes(wallet.signMessageSync("hello"));
    expect(() => recoverMessageSigner("hello", "0x1234")).toThrow();
    const highS = Uint8Array.from(signature);
    highS[32] |= 0x80;
    expect(() => recoverMessageSigner("hello", hexlify(highS))).toThrow(/non-canonical s/);
    expect(() => verifyMessage("hello", hexlify(highS))).toThrow(/non-canonical s/);
  });
});
