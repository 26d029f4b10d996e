// `ciphertextRoot` on chain (PROTOCOL §4 v2; the layout is protocol/encoding/ciphertextRoot.ts's, OpenZeppelin's
// standard Merkle tree): leaves (half, token, words) in the order left 0 … m, then right 0 … m; no padding.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title TokenTree
library TokenTree {
    uint8 internal constant LEFT = 0;
    uint8 internal constant RIGHT = 1;

    /// @notice The standard tree's leaf: keccak256(bytes.concat(keccak256(abi.encode(half, token, words)))).
    /// @dev `abi.encode` written once from calldata past the free memory pointer (not kept), as in `root`.
    function leaf(uint8 half, uint8 token, uint256[] calldata words) internal pure returns (bytes32 result) {
        assembly ("memory-safe") {
            let buffer := mload(0x40)
            mstore(buffer, half)
            mstore(add(buffer, 0x20), token)
            mstore(add(buffer, 0x40), 0x60)
            mstore(add(buffer, 0x60), words.length)
            calldatacopy(add(buffer, 0x80), words.offset, shl(5, words.length))
            mstore(0x00, keccak256(buffer, add(0x80, shl(5, words.length))))
            result := keccak256(0x00, 0x20)
        }
    }

    /// @notice The root over a bid's tokens, as `StandardMerkleTree.of(leaves, …, { sortLeaves: false })` builds it:
    /// the complete binary tree in an array, leaf i at the end in reverse order, parents hashed as sorted pairs.
    /// `ciphertext` is the bid's word array (left tokens 0 … m of 2d words, then right tokens of 4d words); the caller
    /// checks its length (6d(m + 1)).
    /// @dev In assembly: each leaf's `abi.encode` is written once to a scratch buffer straight from calldata (Solidity
    /// would copy each token to fresh memory twice); the tree lives in memory that is not kept.
    function root(uint256[] calldata ciphertext, uint256 tokens, uint256 dim) internal pure returns (bytes32 result) {
        uint256 size = 4 * tokens - 1;
        assembly ("memory-safe") {
            let tree := mload(0x40)
            let buffer := add(tree, shl(5, size))
            mstore(add(buffer, 0x40), 0x60)
            let source := ciphertext.offset
            for { let half := 0 } lt(half, 2) { half := add(half, 1) } {
                let words := shl(add(half, 1), dim)
                let bytes_ := shl(5, words)
                mstore(buffer, half)
                mstore(add(buffer, 0x60), words)
                for { let token := 0 } lt(token, tokens) { token := add(token, 1) } {
                    mstore(add(buffer, 0x20), token)
                    calldatacopy(add(buffer, 0x80), source, bytes_)
                    source := add(source, bytes_)
                    mstore(0x00, keccak256(buffer, add(0x80, bytes_)))
                    let position := add(mul(half, tokens), token)
                    mstore(add(tree, shl(5, sub(sub(size, 1), position))), keccak256(0x00, 0x20))
                }
            }
            // Parents: node i = hash of its sorted children 2i + 1 and 2i + 2.
            for { let i := sub(shl(1, tokens), 1) } i { } {
                i := sub(i, 1)
                let a := mload(add(tree, shl(5, add(shl(1, i), 1))))
                let b := mload(add(tree, shl(5, add(shl(1, i), 2))))
                if gt(a, b) {
                    let swap := a
                    a := b
                    b := swap
                }
                mstore(0x00, a)
                mstore(0x20, b)
                mstore(add(tree, shl(5, i)), keccak256(0x00, 0x40))
            }
            result := mload(tree)
        }
    }

    function verify(bytes32[] calldata proof, bytes32 root_, uint8 half, uint8 token, uint256[] calldata words) internal pure returns (bool) {
        return MerkleProof.verifyCalldata(proof, root_, leaf(half, token, words));
    }
}
