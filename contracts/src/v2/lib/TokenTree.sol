// `ciphertextRoot` on chain (PROTOCOL §4 v2; the layout is protocol/encoding/ciphertextRoot.ts's, OpenZeppelin's
// standard Merkle tree): leaves (half, token, words) in the order left 0 … m, then right 0 … m; no padding.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title TokenTree
library TokenTree {
    uint8 internal constant LEFT = 0;
    uint8 internal constant RIGHT = 1;

    /// @notice The standard tree's leaf: keccak256(bytes.concat(keccak256(abi.encode(half, token, words)))).
    function leaf(uint8 half, uint8 token, uint256[] calldata words) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(half, token, words))));
    }

    /// @notice The root over a bid's tokens, as `StandardMerkleTree.of(leaves, …, { sortLeaves: false })` builds it:
    /// the complete binary tree in an array, leaf i at the end in reverse order, parents hashed as sorted pairs.
    function root(uint256[][] calldata left, uint256[][] calldata right) internal pure returns (bytes32) {
        uint256 tokens = left.length;
        uint256 leaves = 2 * tokens;
        bytes32[] memory tree = new bytes32[](2 * leaves - 1);
        for (uint256 i; i < tokens; ++i) {
            tree[tree.length - 1 - i] = leaf(LEFT, uint8(i), left[i]);
            tree[tree.length - 1 - tokens - i] = leaf(RIGHT, uint8(i), right[i]);
        }
        for (uint256 i = leaves - 1; i > 0; ) {
            --i;
            tree[i] = Hashes.commutativeKeccak256(tree[2 * i + 1], tree[2 * i + 2]);
        }
        return tree[0];
    }

    function verify(bytes32[] calldata proof, bytes32 root_, uint8 half, uint8 token, uint256[] calldata words) internal pure returns (bool) {
        return MerkleProof.verifyCalldata(proof, root_, leaf(half, token, words));
    }
}
