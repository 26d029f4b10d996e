// ECIES on secp256k1 in eciesjs's wire format, on libsecp256k1 (tiny-secp256k1, WebAssembly) and Node's own
// HKDF and AES-GCM: the sealed-message layer's encryption (actors/secure/sealed.ts).
//
// Why not eciesjs itself: on @noble/curves it costs ≈ 15 ms per encryption or decryption on this machine (five
// constant-time variable-base multiplications, four of them only to convert key formats), and a trade seals and
// opens eight messages; here one is ≈ 0.3 ms. The format is eciesjs's, byte for byte, with the configuration the
// project has always used, so messages sealed before this change still open and either side can run either code
// (test/secure/ecies.test.ts checks both directions against eciesjs):
//   ephemeral public key (33 bytes, compressed) ‖ nonce (16) ‖ GCM tag (16) ‖ AES-256-GCM ciphertext,
//   key = HKDF-SHA256(ikm = ephemeral public key, uncompressed ‖ shared point, uncompressed; no salt, no info).
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import * as secp from "tiny-secp256k1";
import { DecryptionFailedError } from "./errors.ts";
import { keyBytes, privateKeyScalar, publicKeyPoint } from "./keys.ts";

const EPHEMERAL_KEY_BYTES = 33;
const NONCE_BYTES = 16;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const NO_BYTES = new Uint8Array(0);
/** Ephemeral key, nonce and tag: the shortest sealed payload (an empty plaintext). */
export const ECIES_OVERHEAD_BYTES = EPHEMERAL_KEY_BYTES + NONCE_BYTES + TAG_BYTES;

/** A recipient key: what `publicKeyPoint` takes, or 64 bytes x‖y as Ethereum tooling prints it. */
function recipientPoint(publicKey: string | Uint8Array): Uint8Array {
  const bytes = typeof publicKey === "string" ? keyBytes(publicKey, "public key") : publicKey;
  return publicKeyPoint(bytes.length === 64 ? Buffer.concat([Buffer.from([4]), bytes]) : bytes);
}

function deriveKey(ephemeralUncompressed: Uint8Array, sharedUncompressed: Uint8Array): Buffer {
  const ikm = Buffer.concat([ephemeralUncompressed, sharedUncompressed]);
  return Buffer.from(hkdfSync("sha256", ikm, NO_BYTES, NO_BYTES, KEY_BYTES));
}

function sharedPoint(point: Uint8Array, scalar: Uint8Array): Uint8Array {
  const shared = secp.pointMultiply(point, scalar, false);
  // Only a scalar ≡ 0 mod n gives the point at infinity; isPrivate excludes it.
  if (shared === null) throw new DecryptionFailedError({ kind: "pointAtInfinity" });
  return shared;
}

/** Encrypts `plaintext` to a secp256k1 public key (hex or bytes); a fresh ephemeral key and nonce each call. */
export function eciesEncrypt(recipientPublicKey: string | Uint8Array, plaintext: Uint8Array): Uint8Array {
  const recipient = recipientPoint(recipientPublicKey);
  let ephemeralSecret: Uint8Array;
  do ephemeralSecret = randomBytes(32);
  while (!secp.isPrivate(ephemeralSecret));
  const ephemeral = secp.pointFromScalar(ephemeralSecret, false)!;
  const key = deriveKey(ephemeral, sharedPoint(recipient, ephemeralSecret));
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([secp.pointCompress(ephemeral, true), nonce, cipher.getAuthTag(), body]);
}

/** Decrypts what `eciesEncrypt` (or eciesjs with the same configuration) produced for this private key. */
export function eciesDecrypt(recipientPrivateKey: string | Uint8Array, data: Uint8Array): Uint8Array {
  const secret = privateKeyScalar(recipientPrivateKey);
  if (data.length < ECIES_OVERHEAD_BYTES) {
    throw new DecryptionFailedError({ kind: "tooShort", length: data.length });
  }
  const ephemeralCompressed = data.subarray(0, EPHEMERAL_KEY_BYTES);
  if (!secp.isPoint(ephemeralCompressed)) throw new DecryptionFailedError({ kind: "ephemeralKeyNotOnCurve" });
  const ephemeral = secp.pointCompress(ephemeralCompressed, false);
  const key = deriveKey(ephemeral, sharedPoint(ephemeral, secret));
  const nonce = data.subarray(EPHEMERAL_KEY_BYTES, EPHEMERAL_KEY_BYTES + NONCE_BYTES);
  const tag = data.subarray(EPHEMERAL_KEY_BYTES + NONCE_BYTES, ECIES_OVERHEAD_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(data.subarray(ECIES_OVERHEAD_BYTES)), decipher.final()]);
  } catch (cause) {
    throw new DecryptionFailedError({ kind: "authenticationTag", cause });
  }
}
