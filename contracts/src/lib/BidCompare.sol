// FHIPE Compare on the EIP-197 pairing precompile (PROTOCOL §2): Π_j e(K2_j, C2_j) = 1.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IGridveilMarket} from "../IGridveilMarket.sol";
import {CiphertextStore} from "./CiphertextStore.sol";

/// @title BidCompare
/// @notice `compare(a, b)` is Compare(L(a), R(b)): true iff price level(a) ≥ level(b) (PROTOCOL §3). It is the only
/// way the market orders bids; every call is one pairing check with d pairs (EIP-1108: 34,000·d + 45,000 gas).
library BidCompare {
    /// @dev BN254 base field modulus p.
    uint256 internal constant FIELD_MODULUS =
        21888242871839275222246405745257275088696311157297823662689037894645226208583;
    uint256 internal constant PAIRING_PRECOMPILE = 0x08;
    /// @dev EIP-1108 prices (Istanbul and later). The call is given exactly this much gas, so a failing check
    /// (which consumes everything it was given) cannot burn the rest of a batch.
    uint256 internal constant PAIRING_BASE_GAS = 45_000;
    uint256 internal constant PAIRING_PER_PAIR_GAS = 34_000;
    /// @dev One (G1, G2) pair in the precompile's input.
    uint256 internal constant PAIR_BYTES = 192;

    /// @notice The gas the precompile charges for `dim` pairs.
    function pairingGas(uint256 dim) internal pure returns (uint256) {
        return PAIRING_BASE_GAS + PAIRING_PER_PAIR_GAS * dim;
    }

    /// @notice Compare(L(a), R(b)) for two stored bids: loads K2 of `leftStore` and C2 of `rightStore`,
    /// interleaves them into the precompile's input and runs the pairing check.
    /// @dev Uses memory past the free memory pointer as scratch (not kept): input (192·d bytes), then K2 (64·d),
    /// then C2 (128·d). The pointer is not moved, so repeated compares in one transaction reuse the same memory.
    function compareStored(address leftStore, address rightStore, uint256 dim) internal view returns (bool) {
        uint256 input;
        assembly ("memory-safe") {
            input := mload(0x40)
        }
        uint256 leftArea = input + dim * PAIR_BYTES;
        uint256 rightArea = leftArea + dim * CiphertextStore.G1_BYTES;
        CiphertextStore.copyLeft(leftStore, dim, leftArea);
        CiphertextStore.copyRight(rightStore, dim, rightArea);
        assembly ("memory-safe") {
            for { let j := 0 } lt(j, dim) { j := add(j, 1) } {
                let pair := add(input, mul(j, PAIR_BYTES))
                mcopy(pair, add(leftArea, shl(6, j)), 64)
                mcopy(add(pair, 64), add(rightArea, shl(7, j)), 128)
            }
        }
        return pairingCheck(input, dim);
    }

    /// @notice The pairing check on `dim` interleaved pairs already in memory at `input` (overwrites its first word).
    /// @dev Reverts with `PairingCheckFailed` when the precompile rejects the input (a G2 point off the twist or
    /// outside the subgroup; G1 points are checked before a bid is stored, by GridveilMarket's `_checkPriceData`).
    /// Reverts without data, as an out-of-gas would, when too little gas is left to give the precompile its price:
    /// a batch then reports `BatchEntryOutOfGas` instead of blaming the bid.
    function pairingCheck(uint256 input, uint256 dim) internal view returns (bool isOne) {
        uint256 gasForCall = pairingGas(dim);
        bool ok;
        assembly ("memory-safe") {
            // The 63/64 rule: keep enough that the callee really receives gasForCall.
            if lt(gas(), add(add(gasForCall, div(gasForCall, 63)), 2000)) { revert(0, 0) }
            ok := staticcall(gasForCall, PAIRING_PRECOMPILE, input, mul(dim, PAIR_BYTES), input, 0x20)
            ok := and(ok, eq(returndatasize(), 0x20))
            isOne := eq(mload(input), 1)
        }
        if (!ok) revert IGridveilMarket.PairingCheckFailed();
    }
}
