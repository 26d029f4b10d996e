// `ciphertextRoot` (PROTOCOL §4 v2): the Merkle root over a bid's 2(m + 1) tokens, what the DSO's ticket signs and the
// contract stores instead of the points. OpenZeppelin's standard tree (`@openzeppelin/merkle-tree`), so the contract
// checks proofs with OpenZeppelin's `MerkleProof`:
// - a leaf is `keccak256(bytes.concat(keccak256(abi.encode(uint8 half, uint8 token, uint256[] words))))`, `half` 0
//   for a left token (K2, 2d words) and 1 for a right one (C2, 4d words);
// - leaves in the fixed order left tokens 0 … m, then right tokens 0 … m (`sortLeaves: false`), no padding (the
//   library's complete binary tree); pairs hash sorted, so a proof needs no positions.
//
// The leaves are hashed here with ethers' ABI coder (the standard tree's own encoder, @metamask/abi-utils, spends
// ~10 ms per bid parsing `uint256[]`; measured in the day demo's profile) and handed to the library's
// `SimpleMerkleTree`, which builds and proves exactly as the standard tree does from the same leaf hashes.
import { SimpleMerkleTree, StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { AbiCoder, keccak256 } from "ethers";
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

/** The tree of one bid's tokens (keep it to prove several tokens of the same bid). */
/**
 * A ciphertext's tree, built once per ciphertext object (hint makers ask for proofs of the same resting bids again and
 * again; building the tree is most of a hint's time). Ciphertexts are treated as immutable once encrypted.
 */
export function ciphertextTree(ciphertext: BlockCiphertext): SimpleMerkleTree {
  let tree = trees.get(ciphertext);
  if (tree === undefined) {
    tree = SimpleMerkleTree.of(leavesOf(ciphertext).map(tokenLeafHash), { sortLeaves: false });
    trees.set(ciphertext, tree);
  }
  return tree;
}

const trees = new WeakMap<BlockCiphertext, SimpleMerkleTree>();
const abi = AbiCoder.defaultAbiCoder();

/** OpenZeppelin's standard leaf: `keccak256(bytes.concat(keccak256(abi.encode(half, token, words))))`. */
function tokenLeafHash(leaf: TokenLeaf): string {
  return keccak256(keccak256(abi.encode([...TOKEN_LEAF_ENCODING], leaf)));
}

export function ciphertextRoot(ciphertext: BlockCiphertext): `0x${string}` {
  return ciphertextTree(ciphertext).root as `0x${string}`;
}

/** The proof of one token against the bid's root (what a placement carries for a resting bid's token). */
export function tokenProof(tree: SimpleMerkleTree, tokens: number, half: TokenHalf, token: number): `0x${string}`[] {
  // Leaves sit in their fixed order: left tokens, then right tokens.
  return tree.getProof(halfCode(half) * tokens + token) as `0x${string}`[];
}

/** Checks a token's words against a root, as the contract does. */
export function verifyTokenProof(root: string, half: TokenHalf, token: number, words: readonly bigint[], proof: readonly string[]): boolean {
  return StandardMerkleTree.verify(root, [...TOKEN_LEAF_ENCODING], [halfCode(half), token, [...words]], [...proof]);
}
