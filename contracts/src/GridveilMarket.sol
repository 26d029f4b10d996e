// The encrypted continuous double auction (PROTOCOL §5, bidding and matching): the shared book with FHIPE prices.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IGridveilMarket} from "./IGridveilMarket.sol";
import {BidCompare} from "./lib/BidCompare.sol";
import {CiphertextBook, CiphertextStore} from "./lib/CiphertextStore.sol";
import {KnownOrder} from "./lib/KnownOrder.sol";
import {MarketBook} from "./MarketBook.sol";

/// @title GridveilMarket
/// @notice Sell bids sit in a min-heap and buy bids in a max-heap, both ordered only through FHIPE `Compare`
/// (a pairing check): a new bid matches the opposite book's best bid or rests in its own book.
/// @dev MarketBook with FHIPE prices: each bid's ciphertext and header live in a code blob (CiphertextBook), its K2
/// points are checked in G1 at placement, and `_ge` is Compare(L(a), R(b)) on the precompile, asked at most once
/// per ordered pair (KnownOrder).
/// Storage layout: MarketBook's slots 0–6 (the bid record is one slot: blob address, expiry, heap position, side,
/// status), then
///   slot 7  _order.results           mapping(uint256 => uint256), Compare results already paid for (KnownOrder)
/// The ciphertext, bidder, commitment and ciphertext hash live in the bid's code blob (CiphertextStore).
contract GridveilMarket is CiphertextBook {
    /// @inheritdoc IGridveilMarket
    uint256 public immutable dim;

    KnownOrder.Facts private _order;

    /// @param dimension FHIPE dimension d = price levels + 1 (1..127: a ciphertext must fit one code blob).
    /// @param ticketSigner_ The DSO's ticket key.
    constructor(uint256 dimension, address ticketSigner_) MarketBook("GridveilMarket", ticketSigner_) {
        if (dimension == 0 || dimension > CiphertextStore.MAX_DIM) revert InvalidDimension(dimension);
        dim = dimension;
    }

    /// @inheritdoc IGridveilMarket
    function getBidCiphertext(uint256 bidId) external view returns (uint256[] memory left, uint256[] memory right) {
        return CiphertextStore.readCiphertext(_existingBid(bidId).store, dim);
    }

    // ---------------------------------------------------------------- price data

    function _dimension() internal view override returns (uint256) {
        return dim;
    }

    /// @dev Every K2 point must be a G1 point: coordinates in [0, p) and y² = x³ + 3, or (0, 0) (infinity, which
    /// EIP-197 accepts). G1 has cofactor 1, so this is also the subgroup check. C2 is left to the precompile (the
    /// subgroup check in G2 needs a scalar multiplication): see `_validateRight`.
    function _checkPriceData(uint256[] calldata left) internal pure override {
        uint256 p = BidCompare.FIELD_MODULUS;
        uint256 points = left.length / 2;
        for (uint256 j; j < points; ++j) {
            uint256 x = left[2 * j];
            uint256 y = left[2 * j + 1];
            if (x == 0 && y == 0) continue;
            if (x >= p || y >= p || mulmod(y, y, p) != addmod(mulmod(mulmod(x, x, p), x, p), 3, p)) {
                revert PointNotOnCurve(j);
            }
        }
    }

    // ---------------------------------------------------------------- comparison

    /// @dev Compare(L(a), R(b)): level(a) ≥ level(b). Answered from an earlier result about the same two bids when
    /// there is one (KnownOrder), otherwise one pairing check, whose result is then kept.
    function _ge(uint32 a, uint32 b) internal override returns (bool) {
        (bool known, bool result) = KnownOrder.lookup(_order, a, b);
        if (known) return result;
        result = BidCompare.compareStored(_bids[a].store, _bids[b].store, dim);
        KnownOrder.record(_order, a, b, result);
        return result;
    }

    /// @dev Puts the bid's C2 through the precompile once, so that no bid rests whose C2 would make every later
    /// Compare with it fail (bricking its book). The result of Compare(L(b), R(b)) is not used, and it is neither
    /// looked up in nor recorded to KnownOrder: this call exists to run the check.
    function _validateRight(uint32 bidId) internal view override {
        address store = _bids[bidId].store;
        BidCompare.compareStored(store, store, dim);
    }
}
