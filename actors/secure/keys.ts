// Long-term and one-time identities are ethers wallets (secp256k1); helpers to name them by address and public key.
import { SigningKey, computeAddress, getAddress } from "ethers";
import type { Address, Hex } from "../protocol/schemas.ts";
import { MalformedSecureMessageError } from "./errors.ts";

/** What sealing and signing need from a wallet: ethers `Wallet` and `HDNodeWallet` both fit. */
export type SigningWallet = {
  readonly address: string;
  readonly signingKey: SigningKey;
  signMessageSync(message: string | Uint8Array): string;
};

export type PublicIdentity = { address: Address; publicKey: Hex };

/** Address and uncompressed public key of a wallet: what the DSO registry stores for a meter. */
export function identityOf(wallet: SigningWallet): PublicIdentity {
  return { address: getAddress(wallet.address) as Address, publicKey: wallet.signingKey.publicKey as Hex };
}

/** Address of a secp256k1 public key (compressed or not). */
export function addressOfPublicKey(publicKey: string): Address {
  try {
    return getAddress(computeAddress(publicKey)) as Address;
  } catch (cause) {
    throw new MalformedSecureMessageError("not a secp256k1 public key", { value: publicKey, cause });
  }
}

/** Address of a private key, without building a wallet. */
export function addressOfPrivateKey(privateKey: string): Address {
  try {
    return getAddress(computeAddress(new SigningKey(privateKey))) as Address;
  } catch (cause) {
    throw new MalformedSecureMessageError("not a secp256k1 private key", { value: "<redacted>", cause });
  }
}
