// Bench only (`gridveil bench throughput`, plaintext row): the market with encryption switched off, prices in clear.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IGridveilMarket} from "../IGridveilMarket.sol";
import {MarketBook} from "../MarketBook.sol";

/// @title PlaintextMarket
/// @notice Not for deployment: the throughput bench's baseline. It is GridveilMarket's book (MarketBook: tickets,
/// bidder signatures, single-use bidders, expiry, batches, the same heaps) with a clear price level instead of a
/// ciphertext and an integer comparison instead of the pairing precompile, so the real gateway places on it
/// unchanged.
/// @dev A bid's "ciphertext" is the clear price level in a dimension-1 vector: `left = [level, 0]`,
/// `right = [0, 0, 0, 0]` (the gateway checks 2·dim and 4·dim words). The bidder still signs keccak256(left ‖ right).
/// A bid's `store` is its bidder, under which `_clearBids` keeps the rest (bidders are single-use, so the address
/// names one bid).
/// Storage layout: MarketBook's slots 0–6, then
///   slot 7  _clearBids               mapping(address => ClearBid), bidder → level, commitment, ciphertextHash
///                                    (three slots per bid, besides its record)
contract PlaintextMarket is MarketBook {
    /// @notice A clear price level is a uint8 (the market allows at most 256 levels).
    uint256 public constant MAX_LEVELS = 256;

    /// @notice The price level is not below the market's number of levels.
    error PriceLevelOutOfRange(uint256 level, uint256 levels);
    /// @notice Constructor argument: 2..256 levels.
    error InvalidLevels(uint256 levels);

    struct ClearBid {
        uint8 level;
        bytes32 commitment;
        bytes32 ciphertextHash;
    }

    /// @notice Number of price levels n.
    uint256 public immutable levels;

    mapping(address bidder => ClearBid) private _clearBids;

    /// @param levels_ Number of price levels n (2..256).
    /// @param ticketSigner_ The DSO's ticket key.
    constructor(uint256 levels_, address ticketSigner_) MarketBook("GridveilPlaintextMarket", ticketSigner_) {
        if (levels_ < 2 || levels_ > MAX_LEVELS) revert InvalidLevels(levels_);
        levels = levels_;
    }

    /// @inheritdoc IGridveilMarket
    /// @dev Always 1: the clear level travels as a one-dimensional vector.
    function dim() external pure returns (uint256) {
        return 1;
    }

    /// @inheritdoc IGridveilMarket
    /// @dev The clear level as the bid carried it: `left = [level, 0]`, `right = [0, 0, 0, 0]`.
    function getBidCiphertext(uint256 bidId) external view returns (uint256[] memory left, uint256[] memory right) {
        left = new uint256[](2);
        right = new uint256[](4);
        left[0] = _clearBids[_existingBid(bidId).store].level;
    }

    // ---------------------------------------------------------------- price data (in clear)

    function _dimension() internal pure override returns (uint256) {
        return 1;
    }

    /// @dev In place of GridveilMarket's curve check: the level is one of the market's.
    function _checkPriceData(uint256[] calldata left) internal view override {
        if (left[0] >= levels) revert PriceLevelOutOfRange(left[0], levels);
    }

    function _storeBid(
        address bidder,
        bytes32 commitment,
        bytes32 ciphertextHash,
        uint256[] calldata left,
        uint256[] calldata
    ) internal override returns (address store) {
        _clearBids[bidder] = ClearBid({level: uint8(left[0]), commitment: commitment, ciphertextHash: ciphertextHash});
        return bidder;
    }

    function _readBidder(address store) internal pure override returns (address bidder) {
        return store;
    }

    function _readHeader(address store)
        internal
        view
        override
        returns (address bidder, bytes32 commitment, bytes32 ciphertextHash)
    {
        ClearBid storage clearBid = _clearBids[store];
        return (store, clearBid.commitment, clearBid.ciphertextHash);
    }

    // ---------------------------------------------------------------- comparison (in clear)

    /// @dev level(a) ≥ level(b): what Compare(L(a), R(b)) decides on ciphertexts.
    function _ge(uint32 a, uint32 b) internal view override returns (bool) {
        return _clearBids[_bids[a].store].level >= _clearBids[_bids[b].store].level;
    }

    /// @dev Nothing to check: a clear level cannot fail a comparison (its range was checked at placement).
    function _validateRight(uint32) internal pure override {}
}
