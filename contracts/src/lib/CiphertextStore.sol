// Bid ciphertexts kept as contract code (the SSTORE2 pattern): written once at 200 gas/byte, read with EXTCODECOPY.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MarketBook} from "../MarketBook.sol";

// Offsets in the blob (layout below), at file level so that the assembly of the library and of CiphertextBook can
// both read them.
uint256 constant BIDDER_OFFSET = 1;
uint256 constant LEFT_OFFSET = 85;

/// @title CiphertextStore
/// @notice One code blob per bid. Storing 192·d bytes as code costs ~200 gas/byte instead of 22,100 gas per
/// 32-byte slot, and a read is one EXTCODECOPY instead of 6·d SLOADs. Only this file knows the layout, so a
/// later change (e.g. ciphertexts in calldata only, kept as a hash) touches this file alone. The library reads
/// ciphertexts back (Compare, views); `CiphertextBook` below writes the blobs and reads their headers.
/// @dev Blob layout (the store contract's runtime code), byte offsets:
///   [0]                    0x00: STOP, so the blob can never run as code
///   [1, 21)                bidder (one-time address)
///   [21, 53)               commitment
///   [53, 85)               ciphertextHash = keccak256(left ‖ right)
///   [85, 85 + 64d)         left  = K2, d G1 points (x, y)
///   [85 + 64d, 85 + 192d)  right = C2, d G2 points (x_im, x_re, y_im, y_re)
library CiphertextStore {
    uint256 internal constant G1_BYTES = 64;
    uint256 internal constant G2_BYTES = 128;
    /// @dev EIP-170: the blob must fit one contract's code, so 85 + 192·d ≤ 24,576, i.e. d ≤ 127.
    uint256 internal constant MAX_DIM = 127;

    /// @notice The ciphertext as two freshly allocated arrays (for views).
    function readCiphertext(address store, uint256 dim) internal view returns (uint256[] memory left, uint256[] memory right) {
        left = new uint256[](2 * dim);
        right = new uint256[](4 * dim);
        assembly ("memory-safe") {
            extcodecopy(store, add(left, 0x20), LEFT_OFFSET, mul(dim, G1_BYTES))
            extcodecopy(store, add(right, 0x20), add(LEFT_OFFSET, mul(dim, G1_BYTES)), mul(dim, G2_BYTES))
        }
    }

    /// @notice Copies K2 (64·d bytes) to memory at `destination`.
    function copyLeft(address store, uint256 dim, uint256 destination) internal view {
        assembly ("memory-safe") {
            extcodecopy(store, destination, LEFT_OFFSET, mul(dim, G1_BYTES))
        }
    }

    /// @notice Copies C2 (128·d bytes) to memory at `destination`.
    function copyRight(address store, uint256 dim, uint256 destination) internal view {
        assembly ("memory-safe") {
            extcodecopy(store, destination, add(LEFT_OFFSET, mul(dim, G1_BYTES)), mul(dim, G2_BYTES))
        }
    }
}

/// @title CiphertextBook
/// @notice MarketBook's storage hooks on code blobs: a bid's `store` is its blob, which holds its header too, so the
/// market keeps one slot per bid.
/// @dev An abstract contract rather than more library functions: MarketBook's hooks must be the implementations
/// (a hook forwarding to a library costs a return jump per call, see MarketBook).
abstract contract CiphertextBook is MarketBook {
    /// @dev Deploys the blob for one bid and returns its address.
    function _storeBid(
        address bidder,
        bytes32 commitment,
        bytes32 ciphertextHash,
        uint256[] calldata left,
        uint256[] calldata right
    ) internal override returns (address store) {
        assembly ("memory-safe") {
            let initCode := mload(0x40)
            let leftBytes := shl(5, left.length)
            let rightBytes := shl(5, right.length)
            let runtimeSize := add(LEFT_OFFSET, add(leftBytes, rightBytes))
            // 10-byte constructor: PUSH2 size, DUP1, PUSH1 10, RETURNDATASIZE, CODECOPY, RETURNDATASIZE, RETURN.
            // The word also zeroes byte 10, the blob's leading STOP.
            mstore(initCode, shl(176, or(shl(56, or(0x610000, runtimeSize)), 0x80600a3d393df3)))
            mstore(add(initCode, 11), shl(96, bidder))
            mstore(add(initCode, 31), commitment)
            mstore(add(initCode, 63), ciphertextHash)
            calldatacopy(add(initCode, 95), left.offset, leftBytes)
            calldatacopy(add(add(initCode, 95), leftBytes), right.offset, rightBytes)
            store := create(0, initCode, add(10, runtimeSize))
            // CREATE from a contract cannot collide, so a failure means too little gas for the code deposit:
            // revert without data, as an out-of-gas would, so that a batch does not blame the bid for it.
            if iszero(store) { revert(0, 0) }
        }
    }

    /// @dev The bidder recorded in a blob.
    function _readBidder(address store) internal view override returns (address bidder) {
        assembly ("memory-safe") {
            extcodecopy(store, 0, BIDDER_OFFSET, 20)
            bidder := shr(96, mload(0))
        }
    }

    /// @dev Bidder, commitment and ciphertext hash recorded in a blob.
    function _readHeader(address store)
        internal
        view
        override
        returns (address bidder, bytes32 commitment, bytes32 ciphertextHash)
    {
        assembly ("memory-safe") {
            let buffer := mload(0x40)
            extcodecopy(store, buffer, BIDDER_OFFSET, 84)
            bidder := shr(96, mload(buffer))
            commitment := mload(add(buffer, 20))
            ciphertextHash := mload(add(buffer, 52))
        }
    }
}
