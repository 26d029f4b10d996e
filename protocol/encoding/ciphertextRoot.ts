// `ciphertextRoot` (PROTOCOL §4 v2): the Merkle root over a bid's 2(m + 1) tokens, what the DSO's ticket signs and the
// contract stores instead of the points. OpenZeppelin's standard tree (`@openzeppelin/merkle-tree`), so the contract
// checks proofs with OpenZeppelin's `MerkleProof`:
// - a leaf is `keccak256(bytes.concat(keccak256(abi.encode(uint8 half, uint8 token, uint256[] words))))`, `half` 0
//   for a left token (K2, 2d words) and 1 for a right one (C2, 4d words);
// - leaves in the fixed order left tokens 0 … m, then right tokens 0 … m (`sortLeaves: false`), no padding (the
//   library's complete binary tree); pairs hash sorted, so a proof needs no positions.
//
// Speed (the DSO, the gateway and the meter each compute a bid's root): the leaves are encoded here (one fixed ABI
// layout, checked against ethers' coder in test/protocol/encoding/ciphertextRoot.test.ts) and the tree is built with the
// library's core functions (`makeMerkleTree`, `getProof`), which take leaf hashes as they are. The standard tree's own
// encoder (@metamask/abi-utils) took ~4 ms of a bid's ~5 ms root; now a root takes ~1.5 ms.
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { getProof, makeMerkleTree } from "@openzeppelin/merkle-tree/dist/core.js";
import { getBytes, keccak256 } from "ethers";
import type { BlockCiphertext } from "./blockBid.ts";

export const TOKEN_LEAF_ENCODING = ["uint8", "uint8", "uint256[]"] as const;

export type TokenHalf = "left" | "right";
type TokenLeaf = [number, number, bigint[]];

const halfCode = (half: TokenHalf): number => (half === "left" ? 0 : 1);

function leavesOf(ciphertext: BlockCiphertext): TokenLeaf[] {
  return [
    ...ciphertext.left.map((words, token): TokenLeaf => [0, token, words]),
    ...ciphertext.right.map((words, token): TokenLeaf => [1, token, words]),
  ];
}

/** A bid's tree: OpenZeppelin's array form (root first; leaf i at `length - 1 - i`). */
export type CiphertextTree = { readonly nodes: readonly string[]; readonly root: `0x${string}` };

/**
 * A ciphertext's tree, built once per ciphertext object (hint makers ask for proofs of the same resting bids again and
 * again; building the tree is most of a hint's time). Ciphertexts are treated as immutable once encrypted.
 */
export function ciphertextTree(ciphertext: BlockCiphertext): CiphertextTree {
  let tree = trees.get(ciphertext);
  if (tree === undefined) {
    const nodes = makeMerkleTree(leavesOf(ciphertext).map(tokenLeafHash));
    tree = { nodes, root: nodes[0] as `0x${string}` };
    trees.set(ciphertext, tree);
  }
  return tree;
}

const trees = new WeakMap<BlockCiphertext, CiphertextTree>();

/** `abi.encode(uint8 half, uint8 token, uint256[] words)`: two static words, the array's offset (0x60), length, words. */
export function encodeTokenLeaf([half, token, words]: TokenLeaf): Uint8Array {
  const out = new Uint8Array(32 * (4 + words.length));
  out[31] = half;
  out[63] = token;
  out[95] = 0x60;
  new DataView(out.buffer).setUint32(124, words.length);
  words.forEach((word, index) => {
    let rest = word;
    for (let at = 32 * (5 + index) - 1; at >= 32 * (4 + index); at--) {
      out[at] = Number(rest & 0xffn);
      rest >>= 8n;
    }
  });
  return out;
}

/** OpenZeppelin's standard leaf: `keccak256(bytes.concat(keccak256(abi.encode(half, token, words))))`. */
function tokenLeafHash(leaf: TokenLeaf): string {
  return keccak256(getBytes(keccak256(encodeTokenLeaf(leaf))));
}

export function ciphertextRoot(ciphertext: BlockCiphertext): `0x${string}` {
  return ciphertextTree(ciphertext).root;
}

/** The proof of one token against the bid's root (what a placement carries for a resting bid's token). */
export function tokenProof(tree: CiphertextTree, tokens: number, half: TokenHalf, token: number): `0x${string}`[] {
  // Leaves sit in their fixed order: left tokens, then right tokens; leaf i is the tree's node `length - 1 - i`.
  return getProof([...tree.nodes], tree.nodes.length - 1 - (halfCode(half) * tokens + token)) as `0x${string}`[];
}

/** Checks a token's words against a root, as the contract does. */
export function verifyTokenProof(root: string, half: TokenHalf, token: number, words: readonly bigint[], proof: readonly string[]): boolean {
  return StandardMerkleTree.verify(root, [...TOKEN_LEAF_ENCODING], [halfCode(half), token, [...words]], [...proof]);
}
