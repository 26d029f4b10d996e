// The meter's key store (docs/machines.md §9.1): msk and per-bid one-time keys and material, never in a machine or a log.
import { Wallet, getAddress, hexlify, randomBytes } from "ethers";
import type { BidCiphertext, BidRandomizers } from "../../protocol/encoding/bidCiphertext.ts";
import type { MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { MeterSecretMissingError } from "./errors.ts";
import { type Address, type Hex, toAddress } from "../../protocol/base/hex.ts";
import { type Ticket } from "../../protocol/domain.ts";
import type { CertifiedBid } from "../../contracts/client/v2/slotMarket.ts";
import type { SlotOpening } from "../../protocol/encoding/certify.ts";
import type { MeterEpochKey } from "./epochKeys.ts";

/** What one bid needs between its effects: the one-time key, its ticket and what its ciphertext was made from. */
export type BidMaterial = {
  oneTimeKey: Wallet;
  ticket: Ticket | null;
  /** Version 2: the certified bid and its opening (salt and seed), kept until the session ends. */
  slotBid: { certified: CertifiedBid; opening: SlotOpening } | null;
  encryption: {
    priceLevel: number;
    quantityWh: number;
    salt: Hex;
    randomizers: BidRandomizers;
    ciphertext: BidCiphertext;
    commitment: Hex;
  } | null;
};

/**
 * One per runtime (no process-wide state: the demo runs many meters in one process). The one-time key of a bid is
 * dropped when its session ends: nothing is signed for that bidder afterwards.
 */
export class MeterSecrets {
  #msk: MasterSecretKey | null = null;
  /** Version 2 meter mode: the epochs' keys the DSO sealed to this meter, by epoch. */
  readonly #epochKeys = new Map<number, MeterEpochKey>();

  setEpochKeys(keys: readonly MeterEpochKey[]): void {
    for (const key of keys) this.#epochKeys.set(key.epoch, key);
  }

  epochKey(epoch: number): MeterEpochKey | undefined {
    return this.#epochKeys.get(epoch);
  }
  readonly #bids = new Map<string, BidMaterial>();

  setMasterKey(msk: MasterSecretKey): void {
    this.#msk = msk;
  }

  masterKey(): MasterSecretKey {
    if (this.#msk === null) {
      throw new MeterSecretMissingError({ secret: "masterKey" });
    }
    return this.#msk;
  }

  /** A fresh one-time key pair (PROTOCOL §4): its address is the bid's one-time identity. */
  createOneTimeKey(): Address {
    const oneTimeKey = randomWallet();
    const bidder = getAddress(oneTimeKey.address) as Address;
    this.#bids.set(toAddress(bidder), { oneTimeKey, ticket: null, encryption: null, slotBid: null });
    return bidder;
  }

  bid(bidder: string): BidMaterial {
    const material = this.#bids.get(toAddress(bidder));
    if (material === undefined) {
      throw new MeterSecretMissingError({ secret: "oneTimeKey", bidder });
    }
    return material;
  }

  owns(bidder: string): boolean {
    return this.#bids.has(toAddress(bidder));
  }

  forget(bidder: string): void {
    this.#bids.delete(toAddress(bidder));
  }

  clear(): void {
    this.#bids.clear();
    this.#epochKeys.clear();
    this.#msk = null;
  }
}

/**
 * A key from 32 CSPRNG bytes. Not `Wallet.createRandom()`: that draws a mnemonic and derives an HD path (pbkdf2),
 * ~15 ms per bid on the meter's critical path for a key that is used once. The bytes are drawn again in the
 * ~2^-128 case that they are not a valid secp256k1 scalar.
 */
function randomWallet(): Wallet {
  for (;;) {
    try {
      return new Wallet(hexlify(randomBytes(32)));
    } catch {
      // Zero or not below the group order: draw again.
    }
  }
}
