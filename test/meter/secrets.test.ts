// The meter's key store: one-time keys are plain random keys (no mnemonic, no HD derivation on the bid's path).
import { describe, expect, it } from "vitest";
import { HDNodeWallet, Wallet, getAddress } from "ethers";
import { MeterSecrets } from "../../actors/meter/secrets.ts";

describe("MeterSecrets one-time keys", () => {
  it("draws a fresh plain key per bid, keyed by its checksummed address", () => {
    const secrets = new MeterSecrets();
    const bidders = Array.from({ length: 20 }, () => secrets.createOneTimeKey());
    expect(new Set(bidders.map((bidder) => bidder.toLowerCase())).size).toBe(bidders.length);
    for (const bidder of bidders) {
      expect(bidder).toBe(getAddress(bidder));
      const { oneTimeKey } = secrets.bid(bidder);
      expect(oneTimeKey.address).toBe(bidder);
      // Wallet.createRandom() returns an HDNodeWallet (mnemonic + pbkdf2 + derivation, ~15 ms each).
      expect(oneTimeKey).toBeInstanceOf(Wallet);
      expect(oneTimeKey).not.toBeInstanceOf(HDNodeWallet);
    }
  });
});
