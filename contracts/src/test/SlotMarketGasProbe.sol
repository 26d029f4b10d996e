// Bench-only v2 market: the real contract plus gasleft() probes around a relation, the root and a bid's storage
// (`gridveil bench gas`).
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SlotMarket} from "../v2/SlotMarket.sol";
import {TokenTest} from "../v2/lib/TokenTest.sol";
import {TokenTree} from "../v2/lib/TokenTree.sol";

/// @title SlotMarketGasProbe
/// @notice Not for deployment: measures the pieces of a placement. Call the probes with eth_call: they keep nothing.
contract SlotMarketGasProbe is SlotMarket {
    constructor(address ticketSigner_, uint256 dim_, uint256 tokens_, uint32 slotSeconds_, uint32 gateClosureSeconds_)
        SlotMarket(ticketSigner_, dim_, tokens_, slotSeconds_, gateClosureSeconds_)
    {}

    /// @notice Gas of one relation: the zero test of a left and a right token from calldata (interleaving included).
    function measureRelation(uint256[] calldata left, uint256[] calldata right) external view returns (uint256 gasUsed, bool result) {
        uint256 before = gasleft();
        result = TokenTest.zero(left, right, dim);
        gasUsed = before - gasleft();
    }

    /// @notice Gas of computing a bid's ciphertextRoot from its tokens in calldata.
    function measureRoot(Bid calldata bid) external view returns (uint256 gasUsed, bytes32 root) {
        uint256 before = gasleft();
        root = TokenTree.root(bid.ciphertext, tokens, dim);
        gasUsed = before - gasleft();
    }

    /// @notice Gas of what a resting bid keeps (its record, also its single-use mark, and its root), written for a
    /// bidder never placed.
    function measureStore(Bid calldata bid) external returns (uint256 gasUsed) {
        uint256 before = gasleft();
        _store(bid, bytes32(uint256(1)), 2, address(1));
        gasUsed = before - gasleft();
    }
}
