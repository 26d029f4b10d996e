// The bid commitment keccak256(abi.encode(bidder, side, priceLevel, quantityWh, salt)) (PROTOCOL §4).
import { describe, expect, it } from "vitest";
import { CommitmentInputError } from "../../protocol/errors.ts";
import { AbiCoder, keccak256 } from "ethers";
import { computeCommitment, randomSalt } from "../../protocol/commitment.ts";

const input = {
  bidder: "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4",
  side: 0 as const,
  priceLevel: 7,
  quantityWh: 2500,
  salt: `0x${"ab".repeat(32)}`,
};

describe("computeCommitment", () => {
  it("is the keccak of the ABI encoding with Solidity's types", () => {
    const encoded =
      "0x" +
      "0000000000000000000000005b38da6a701c568545dcfcb03fcb875f56beddc4" +
      "0000000000000000000000000000000000000000000000000000000000000000" +
      "0000000000000000000000000000000000000000000000000000000000000007" +
      "00000000000000000000000000000000000000000000000000000000000009c4" +
      "ab".repeat(32);
    expect(computeCommitment(input)).toBe(keccak256(encoded));
    expect(AbiCoder.defaultAbiCoder().encode(["address", "uint8", "uint16", "uint64", "bytes32"], [input.bidder, 0, 7, 2500, input.salt])).toBe(encoded);
  });

  it("binds every field, ignores address checksum case", () => {
    const base = computeCommitment(input);
    expect(computeCommitment({ ...input, bidder: input.bidder.toLowerCase() })).toBe(base);
    for (const changed of [{ side: 1 as const }, { priceLevel: 8 }, { quantityWh: 2501n }, { salt: randomSalt() }, { bidder: "0x0000000000000000000000000000000000000001" }]) {
      expect(computeCommitment({ ...input, ...changed })).not.toBe(base);
    }
  });

  it("rejects values the Solidity types cannot hold", () => {
    for (const bad of [{ priceLevel: 65536 }, { priceLevel: -1 }, { quantityWh: 1n << 64n }, { salt: "0x12" }, { bidder: "0x1234" }, { side: 2 as 0 }]) {
      expect(() => computeCommitment({ ...input, ...bad })).toThrow(CommitmentInputError);
    }
  });
});
