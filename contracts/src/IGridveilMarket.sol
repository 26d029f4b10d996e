// The market's public surface (PROTOCOL §4–§5): bid types, events, custom errors and external functions.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Encrypted continuous double auction for P2P energy (gridveil)
/// @notice Bids carry FHIPE ciphertexts on BN254; the contract orders and matches them only through `Compare`,
/// a pairing check on the EIP-197 precompile. See docs/contract.md.
interface IGridveilMarket {
    /// @notice Side of a bid: 0 = Buy, 1 = Sell (the TypeScript client uses the same numbers).
    enum Side {
        Buy,
        Sell
    }

    /// @notice Life cycle of a bid. `None` means the id was never assigned.
    enum BidStatus {
        None,
        Open,
        Matched,
        Cancelled,
        Expired
    }

    /// @notice A bid as submitted (by the gateway) on behalf of a one-time `bidder` key.
    /// @dev `side` is a plain uint8 (not the enum) so that one bad entry of a batch is rejected by name
    /// (`InvalidSide`) instead of failing the ABI decoding of the whole batch.
    struct SignedBid {
        address bidder;
        uint8 side;
        uint64 notAfter;
        bytes32 commitment;
        uint256[] left; // K2: d G1 points as (x, y)
        uint256[] right; // C2: d G2 points as (x_im, x_re, y_im, y_re)
        bytes ticketSignature; // EIP-712 Ticket(bidder, notAfter) by the DSO ticket key
        bytes bidderSignature; // EIP-712 Bid(side, ciphertextHash, commitment) by `bidder`
    }

    /// @notice Everything the contract keeps about a bid except its ciphertext (see `getBidCiphertext`).
    struct BidInfo {
        address bidder;
        Side side;
        BidStatus status;
        uint64 notAfter;
        uint32 heapPosition; // index in its heap; meaningful only while `status == Open`
        bytes32 commitment;
        bytes32 ciphertextHash;
    }

    // ---------------------------------------------------------------- events

    /// @notice A bid passed every check and was stored; a `Matched` in the same transaction follows if it matched.
    event BidPlaced(
        uint256 indexed bidId,
        Side side,
        address indexed bidder,
        uint64 notAfter,
        bytes32 commitment,
        bytes32 ciphertextHash
    );

    /// @notice A buy and a sell bid matched (Compare(L(buy), R(sell)) held); both left their books.
    event Matched(
        uint256 indexed buyId,
        uint256 indexed sellId,
        address buyBidder,
        address sellBidder,
        bytes32 buyCommitment,
        bytes32 sellCommitment,
        bytes32 buyCiphertextHash,
        bytes32 sellCiphertextHash
    );

    /// @notice The bidder withdrew its open bid.
    event BidCancelled(uint256 indexed bidId, Side side, address indexed bidder);

    /// @notice An expired bid left its book (lazily at the root, or by `purgeExpired`); it never matched.
    event BidExpired(uint256 indexed bidId, Side side, address indexed bidder);

    /// @notice Entry `index` of a `placeBids` batch was skipped; `reason` is the revert data it would have raised.
    event BidRejected(uint256 indexed index, address indexed bidder, bytes4 reasonSelector, bytes reason);

    // ---------------------------------------------------------------- errors

    /// @notice `left` must hold 2·dim words and `right` 4·dim words.
    error WrongVectorLength(uint256 expectedLeft, uint256 expectedRight, uint256 leftLength, uint256 rightLength);
    /// @notice Point `pointIndex` of `left` is not a G1 point (coordinate ≥ p, or not on y² = x³ + 3).
    error PointNotOnCurve(uint256 pointIndex);
    /// @notice The pairing precompile rejected the new bid's right ciphertext (a G2 point off the twist or outside
    /// the order-r subgroup), or failed outright.
    error PairingCheckFailed();
    /// @notice `side` is neither 0 (Buy) nor 1 (Sell).
    error InvalidSide(uint8 side);
    /// @notice The ticket's `notAfter` is in the past.
    error TicketExpired(uint64 notAfter, uint256 blockTimestamp);
    /// @notice The ticket is not signed by the market's ticket signer for (bidder, notAfter).
    error InvalidTicket(address recoveredSigner);
    /// @notice This one-time bidder address already placed bid `bidId`.
    error BidderAlreadyUsed(address bidder, uint256 bidId);
    /// @notice The bid signature does not recover to `bidder`.
    error InvalidBidderSignature(address bidder, address recoveredSigner);
    /// @notice No bid has this id.
    error UnknownBid(uint256 bidId);
    /// @notice The cancel signature does not come from the bid's one-time key.
    error NotBidOwner(uint256 bidId, address recoveredSigner);
    /// @notice The bid is no longer open (already matched, cancelled or expired).
    error BidNotOpen(uint256 bidId, BidStatus status);
    /// @notice The opposite book's best bid is still expired after dropping `MAX_EXPIRED_DROPS` expired roots for this
    /// bid; call `purgeExpired` first (bounds the gas one bid can be made to spend on others' expiries).
    error ExpiredBacklog(Side side, uint256 rootBidId);
    /// @notice A batch entry ran out of gas; the whole batch reverts so that the gateway retries with more gas.
    error BatchEntryOutOfGas(uint256 index);
    /// @notice Only the contract itself may call the per-entry batch hook.
    error OnlySelf();
    /// @notice Constructor argument out of range (dimension 1..127 so that a ciphertext fits one code blob).
    error InvalidDimension(uint256 dim);
    /// @notice Constructor argument: the ticket signer must not be the zero address.
    error ZeroTicketSigner();

    // ---------------------------------------------------------------- bidding

    /// @notice Place one bid: it matches the opposite book's best bid or rests in its own book.
    /// @dev Reverts with the custom error of the first failed check; nothing changes on a revert.
    /// @param bid The signed bid.
    /// @return bidId The new bid's id (ids start at 1).
    function placeBid(SignedBid calldata bid) external returns (uint256 bidId);

    /// @notice Place several bids in order in one transaction; an invalid entry is skipped with `BidRejected`
    /// and has no effect at all, so that one bad bid cannot block the others.
    /// @param bids The signed bids, placed in array order.
    /// @return bidIds The id of each entry, 0 for a rejected one.
    function placeBids(SignedBid[] calldata bids) external returns (uint256[] memory bidIds);

    /// @notice Internal hook of `placeBids` (a self-call, so that a rejected entry rolls back alone).
    /// @dev Reverts with `OnlySelf` for any other caller.
    /// @param bid The signed bid.
    /// @return bidId The new bid's id.
    function placeBidFromBatch(SignedBid calldata bid) external returns (uint256 bidId);

    /// @notice Withdraw an open bid; authorised by the bid's one-time key, so anyone (the gateway) may relay it.
    /// @param bidId The bid to cancel.
    /// @param signature EIP-712 `Cancel(address bidder)` signed by the bid's one-time key `bidder`.
    function cancelBid(uint256 bidId, bytes calldata signature) external;

    /// @notice Remove expired open bids from anywhere in the books; anyone may call it.
    /// @dev Unknown ids revert with `UnknownBid`; closed or not yet expired bids are skipped.
    /// @param bidIds The bids to purge.
    /// @return purged How many bids were removed.
    function purgeExpired(uint256[] calldata bidIds) external returns (uint256 purged);

    // ---------------------------------------------------------------- views

    /// @notice The FHIPE dimension d = price levels + 1.
    /// @return The dimension.
    function dim() external view returns (uint256);

    /// @notice The DSO key whose EIP-712 tickets admit a bidder.
    /// @return The ticket signer's address.
    function ticketSigner() external view returns (address);

    /// @notice How many bids were ever placed (the last id).
    /// @return The count.
    function bidCount() external view returns (uint256);

    /// @notice Number of open bids (including expired ones not yet dropped) in each book.
    /// @return buys Size of the buy max-heap.
    /// @return sells Size of the sell min-heap.
    function heapSizes() external view returns (uint256 buys, uint256 sells);

    /// @notice The bid ids of one book in heap-array order (index 0 is the best bid).
    /// @param side 0 = Buy, 1 = Sell.
    /// @return bidIds The ids.
    function heapBidIds(uint8 side) external view returns (uint256[] memory bidIds);

    /// @notice A bid's record.
    /// @param bidId The bid.
    /// @return The record (reverts with `UnknownBid` for an unassigned id).
    function getBid(uint256 bidId) external view returns (BidInfo memory);

    /// @notice A bid's ciphertext as it was placed (also after it matched, for verifying openings).
    /// @param bidId The bid.
    /// @return left K2 as uint256[2d].
    /// @return right C2 as uint256[4d].
    function getBidCiphertext(uint256 bidId) external view returns (uint256[] memory left, uint256[] memory right);

    /// @notice The bid a one-time bidder address placed, 0 if none.
    /// @param bidder The one-time address.
    /// @return The bid id.
    function bidIdOf(address bidder) external view returns (uint256);
}
