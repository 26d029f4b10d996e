// Bench-only market: the real contract plus gasleft() probes around Compare and the bid record (`gridveil bench gas`).
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {GridveilMarket} from "../GridveilMarket.sol";
import {BidCompare} from "../lib/BidCompare.sol";

/// @title GridveilMarketGasProbe
/// @notice Not for deployment: measures the pieces of a placement on the same state the bench's book has.
/// Call the probes with eth_call: they change nothing that is kept.
contract GridveilMarketGasProbe is GridveilMarket {
    /// @param dimension FHIPE dimension d.
    /// @param ticketSigner_ The DSO's ticket key.
    constructor(uint256 dimension, address ticketSigner_) GridveilMarket(dimension, ticketSigner_) {}

    /// @notice Gas of one Compare whose d pairs are already interleaved in memory: the precompile call alone.
    /// @param left K2 words of bid a (2d).
    /// @param right C2 words of bid b (4d).
    /// @return gasUsed Gas between the two gasleft() readings.
    /// @return result Compare(L(a), R(b)).
    function measureCompare(uint256[] calldata left, uint256[] calldata right)
        external
        view
        returns (uint256 gasUsed, bool result)
    {
        uint256 d = dim;
        uint256 input;
        assembly ("memory-safe") {
            input := mload(0x40)
            mstore(0x40, add(input, mul(d, 192)))
            for { let j := 0 } lt(j, d) { j := add(j, 1) } {
                let pair := add(input, mul(j, 192))
                calldatacopy(pair, add(left.offset, shl(6, j)), 64)
                calldatacopy(add(pair, 64), add(right.offset, shl(7, j)), 128)
            }
        }
        uint256 before = gasleft();
        result = BidCompare.pairingCheck(input, d);
        gasUsed = before - gasleft();
    }

    /// @notice Gas of Compare(L(a), R(b)) on two stored bids, loads from their code blobs included; the first run
    /// touches both blobs cold (2,600 gas each), the second warm.
    /// @param a Left-hand bid id.
    /// @param b Right-hand bid id.
    /// @return coldGas First compare in the call.
    /// @return warmGas Second compare of the same pair.
    /// @return result Compare(L(a), R(b)).
    function measureStoredCompare(uint256 a, uint256 b)
        external
        view
        returns (uint256 coldGas, uint256 warmGas, bool result)
    {
        address leftStore = _bidStore(a);
        address rightStore = _bidStore(b);
        uint256 before = gasleft();
        result = BidCompare.compareStored(leftStore, rightStore, dim);
        coldGas = before - gasleft();
        before = gasleft();
        BidCompare.compareStored(leftStore, rightStore, dim);
        warmGas = before - gasleft();
    }

    /// @notice Gas of recording a bid (its code blob, packed record, single-use mark, id counter and `BidPlaced`),
    /// without the checks and without any heap work.
    /// @param bid A bid (not checked).
    /// @return gasUsed Gas between the two gasleft() readings.
    function measureRecordBid(SignedBid calldata bid) external returns (uint256 gasUsed) {
        uint256 before = gasleft();
        _recordBid(bid, bytes32(0));
        gasUsed = before - gasleft();
    }
}
