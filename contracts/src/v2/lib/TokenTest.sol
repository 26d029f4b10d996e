// The block-token zero test on the EIP-197 pairing precompile (PROTOCOL §2, §3.2): Π_j e(K2_j, C2_j) = 1 for one
// left token and one right token, both read from calldata.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISlotMarket} from "../ISlotMarket.sol";
import {BidCompare} from "../../lib/BidCompare.sol";

/// @title TokenTest
/// @notice One zero test with d pairs: 34,000·d + 45,000 gas (EIP-1108), whatever the number of price levels.
library TokenTest {
    /// @dev One (G1, G2) pair in the precompile's input (as BidCompare.PAIR_BYTES; assembly needs a literal).
    uint256 internal constant PAIR_BYTES = 192;

    /// @notice True iff <x, y> = 0 for the left token `left` (K2: 2d words) and the right token `right` (C2: 4d words).
    /// @dev Interleaves the points into the precompile's input in fresh memory, then runs version 1's pairing check:
    /// the call gets exactly its price, and too little gas left reverts without data (an out-of-gas).
    function zero(uint256[] calldata left, uint256[] calldata right, uint256 dim) internal view returns (bool) {
        if (left.length != 2 * dim) revert ISlotMarket.WrongLength(2 * dim, left.length);
        if (right.length != 4 * dim) revert ISlotMarket.WrongLength(4 * dim, right.length);
        uint256 input;
        assembly ("memory-safe") {
            input := mload(0x40)
            for { let j := 0 } lt(j, dim) { j := add(j, 1) } {
                let pair := add(input, mul(j, PAIR_BYTES))
                calldatacopy(pair, add(left.offset, shl(6, j)), 64)
                calldatacopy(add(pair, 64), add(right.offset, shl(7, j)), 128)
            }
        }
        // The same check as version 1's (its `PairingCheckFailed()` has the same selector as ISlotMarket's).
        return BidCompare.pairingCheck(input, dim);
    }
}
