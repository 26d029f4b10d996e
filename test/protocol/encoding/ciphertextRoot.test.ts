// ciphertextRoot (PROTOCOL §4 v2): every token of a bid proves against its root in the fixed leaf order; a token of
// another bid, another index or the other half, or one changed word, does not; the root is reproduced from the opening.
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { encryptBlockBid } from "../../../protocol/encoding/blockBid.ts";
import { blockParams } from "../../../protocol/encoding/blockTokens.ts";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { AbiCoder, hexlify } from "ethers";
import { ciphertextRoot, ciphertextTree, encodeTokenLeaf, TOKEN_LEAF_ENCODING, tokenProof, verifyTokenProof } from "../../../protocol/encoding/ciphertextRoot.ts";
import { initCurve } from "../../../protocol/fhipe/curve.ts";
import { setup } from "../../../protocol/fhipe/fhipe.ts";

beforeAll(async () => {
  await initCurve();
});

describe("ciphertextRoot", () => {
  it("proves each of a bid's 2(m + 1) tokens and nothing else", () => {
    const params = blockParams(10, 1);
    const msk = setup(params.dim);
    const tokenKey = randomBytes(32);
    const seed = randomBytes(32);
    const bid = encryptBlockBid(msk, tokenKey, params, 6, seed);
    const other = encryptBlockBid(msk, tokenKey, params, 6, randomBytes(32));
    const tree = ciphertextTree(bid);
    const root = ciphertextRoot(bid);
    expect(root).toMatch(/^0x[0-9a-f]{64}$/);
    expect(ciphertextRoot(encryptBlockBid(msk, tokenKey, params, 6, seed))).toBe(root);
    expect(ciphertextRoot(other)).not.toBe(root);
    for (const half of ["left", "right"] as const) {
      for (let token = 0; token < params.tokens; token++) {
        const words = bid[half][token]!;
        const proof = tokenProof(tree, params.tokens, half, token);
        expect(verifyTokenProof(root, half, token, words, proof), `${half} ${token}`).toBe(true);
        expect(verifyTokenProof(root, half, token, other[half][token]!, proof)).toBe(false);
        expect(verifyTokenProof(root, half === "left" ? "right" : "left", token, words, proof)).toBe(false);
        expect(verifyTokenProof(root, half, (token + 1) % params.tokens, words, proof)).toBe(false);
        expect(verifyTokenProof(root, half, token, [words[0]! + 1n, ...words.slice(1)], proof)).toBe(false);
      }
    }
  });

  it("is OpenZeppelin's standard tree of the same leaves (its own encoder and builder), leaf bytes as ethers' ABI coder", () => {
    const params = blockParams(1024, 1);
    const bid = encryptBlockBid(setup(params.dim), randomBytes(32), params, 777, randomBytes(32));
    const leaves = [...bid.left.map((words, token) => [0, token, words] as const), ...bid.right.map((words, token) => [1, token, words] as const)];
    for (const leaf of leaves) expect(hexlify(encodeTokenLeaf([leaf[0], leaf[1], [...leaf[2]]]))).toBe(AbiCoder.defaultAbiCoder().encode([...TOKEN_LEAF_ENCODING], leaf));
    const standard = StandardMerkleTree.of(leaves.map((leaf) => [leaf[0], leaf[1], [...leaf[2]]]), [...TOKEN_LEAF_ENCODING], { sortLeaves: false });
    expect(ciphertextRoot(bid)).toBe(standard.root);
    leaves.forEach((leaf, index) => expect(tokenProof(ciphertextTree(bid), params.tokens, leaf[0] === 0 ? "left" : "right", leaf[1])).toEqual(standard.getProof(index)));
  });
});
