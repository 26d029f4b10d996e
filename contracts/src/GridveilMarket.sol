// The encrypted continuous double auction (PROTOCOL §5, bidding and matching): a thin shell over the libraries.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IGridveilMarket} from "./IGridveilMarket.sol";
import {BidCompare} from "./lib/BidCompare.sol";
import {CiphertextStore} from "./lib/CiphertextStore.sol";
import {EncryptedHeap} from "./lib/EncryptedHeap.sol";
import {KnownOrder} from "./lib/KnownOrder.sol";

/// @title GridveilMarket
/// @notice Sell bids sit in a min-heap and buy bids in a max-heap, both ordered only through FHIPE `Compare`
/// (a pairing check): a new bid matches the opposite book's best bid or rests in its own book.
/// @dev Storage layout (declaration order; EIP712 comes first):
///   slot 0  EIP712._nameFallback     (unused: the name is short and lives in an immutable)
///   slot 1  EIP712._versionFallback  (unused, as above)
///   slot 2  _bidCount                uint256, the last assigned id (ids start at 1)
///   slot 3  _buyHeap.nodes           uint32[], 8 ids per slot from keccak256(3)
///   slot 4  _sellHeap.nodes          uint32[], 8 ids per slot from keccak256(4)
///   slot 5  _bids                    mapping(uint256 => BidRecord), one packed slot per bid
///   slot 6  _bidIdOf                 mapping(address => uint256), single-use bidder → id
///   slot 7  _order.results           mapping(uint256 => uint256), Compare results already paid for (KnownOrder)
/// The ciphertext, bidder, commitment and ciphertext hash live in the bid's code blob (CiphertextStore).
contract GridveilMarket is IGridveilMarket, EIP712 {
    using EncryptedHeap for EncryptedHeap.Heap;

    bytes32 private constant TICKET_TYPEHASH = keccak256("Ticket(address bidder,uint64 notAfter)");
    bytes32 private constant BID_TYPEHASH = keccak256("Bid(uint8 side,bytes32 ciphertextHash,bytes32 commitment)");
    bytes32 private constant CANCEL_TYPEHASH = keccak256("Cancel(address bidder)");

    /// @notice How many expired roots one new bid drops from the opposite book before giving up with
    /// `ExpiredBacklog` (each drop is a heap removal, about log2(n) + 1 pairing checks, paid by that bid).
    uint256 public constant MAX_EXPIRED_DROPS = 2;

    /// @dev One slot: 20 + 5 + 4 + 1 + 1 bytes.
    struct BidRecord {
        address store; // code blob: bidder, commitment, ciphertext hash, ciphertext
        uint40 notAfter; // ticket expiry, clamped to uint40 (year 36812); expired iff block.timestamp > notAfter
        uint32 heapPosition; // index in its heap while Open
        Side side;
        BidStatus status;
    }

    /// @inheritdoc IGridveilMarket
    uint256 public immutable dim;
    /// @inheritdoc IGridveilMarket
    address public immutable ticketSigner;

    uint256 private _bidCount;
    EncryptedHeap.Heap private _buyHeap;
    EncryptedHeap.Heap private _sellHeap;
    mapping(uint256 bidId => BidRecord) private _bids;
    mapping(address bidder => uint256 bidId) private _bidIdOf;
    KnownOrder.Facts private _order;

    /// @param dimension FHIPE dimension d = price levels + 1 (1..127: a ciphertext must fit one code blob).
    /// @param ticketSigner_ The DSO's ticket key.
    constructor(uint256 dimension, address ticketSigner_) EIP712("GridveilMarket", "1") {
        if (dimension == 0 || dimension > CiphertextStore.MAX_DIM) revert InvalidDimension(dimension);
        if (ticketSigner_ == address(0)) revert ZeroTicketSigner();
        dim = dimension;
        ticketSigner = ticketSigner_;
    }

    // ---------------------------------------------------------------- bidding

    /// @inheritdoc IGridveilMarket
    function placeBid(SignedBid calldata bid) external returns (uint256 bidId) {
        return _placeBid(bid);
    }

    /// @inheritdoc IGridveilMarket
    function placeBids(SignedBid[] calldata bids) external returns (uint256[] memory bidIds) {
        bidIds = new uint256[](bids.length);
        for (uint256 i; i < bids.length; ++i) {
            // A self-call, so that a rejected entry (which may fail half-way, e.g. in the pairing check) rolls back
            // alone, including the expired roots it dropped.
            try this.placeBidFromBatch(bids[i]) returns (uint256 bidId) {
                bidIds[i] = bidId;
            } catch (bytes memory reason) {
                // No selector: out of gas (or an invalid opcode). Blaming the bid would lose it; let the caller retry.
                if (reason.length < 4) revert BatchEntryOutOfGas(i);
                emit BidRejected(i, bids[i].bidder, bytes4(reason), reason);
            }
        }
    }

    /// @inheritdoc IGridveilMarket
    function placeBidFromBatch(SignedBid calldata bid) external returns (uint256 bidId) {
        if (msg.sender != address(this)) revert OnlySelf();
        return _placeBid(bid);
    }

    /// @inheritdoc IGridveilMarket
    function cancelBid(uint256 bidId, bytes calldata signature) external {
        BidRecord storage record = _existingBid(bidId);
        address bidder = CiphertextStore.readBidder(record.store);
        // The one-time key signs its own address: bidders are single-use, so that names exactly one bid, and the
        // meter can sign before it learns the bid's id.
        address signer = _recover(_hashTypedDataV4(keccak256(abi.encode(CANCEL_TYPEHASH, bidder))), signature);
        if (signer != bidder) revert NotBidOwner(bidId, signer);
        if (record.status != BidStatus.Open) revert BidNotOpen(bidId, record.status);
        Side side = record.side;
        _removeFromHeap(side, record.heapPosition);
        record.status = BidStatus.Cancelled;
        emit BidCancelled(bidId, side, bidder);
    }

    /// @inheritdoc IGridveilMarket
    function purgeExpired(uint256[] calldata bidIds) external returns (uint256 purged) {
        for (uint256 i; i < bidIds.length; ++i) {
            uint256 bidId = bidIds[i];
            BidRecord storage record = _existingBid(bidId);
            if (record.status != BidStatus.Open || block.timestamp <= record.notAfter) continue;
            Side side = record.side;
            _removeFromHeap(side, record.heapPosition);
            record.status = BidStatus.Expired;
            emit BidExpired(bidId, side, CiphertextStore.readBidder(record.store));
            ++purged;
        }
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IGridveilMarket
    function bidCount() external view returns (uint256) {
        return _bidCount;
    }

    /// @inheritdoc IGridveilMarket
    function heapSizes() external view returns (uint256 buys, uint256 sells) {
        return (_buyHeap.size(), _sellHeap.size());
    }

    /// @inheritdoc IGridveilMarket
    function heapBidIds(uint8 side) external view returns (uint256[] memory bidIds) {
        if (side > uint8(Side.Sell)) revert InvalidSide(side);
        uint32[] storage nodes = side == uint8(Side.Buy) ? _buyHeap.nodes : _sellHeap.nodes;
        bidIds = new uint256[](nodes.length);
        for (uint256 i; i < bidIds.length; ++i) bidIds[i] = nodes[i];
    }

    /// @inheritdoc IGridveilMarket
    function getBid(uint256 bidId) external view returns (BidInfo memory info) {
        BidRecord storage record = _existingBid(bidId);
        (address bidder, bytes32 commitment, bytes32 ciphertextHash) = CiphertextStore.readHeader(record.store);
        info = BidInfo({
            bidder: bidder,
            side: record.side,
            status: record.status,
            notAfter: record.notAfter,
            heapPosition: record.status == BidStatus.Open ? record.heapPosition : 0,
            commitment: commitment,
            ciphertextHash: ciphertextHash
        });
    }

    /// @inheritdoc IGridveilMarket
    function getBidCiphertext(uint256 bidId) external view returns (uint256[] memory left, uint256[] memory right) {
        return CiphertextStore.readCiphertext(_existingBid(bidId).store, dim);
    }

    /// @inheritdoc IGridveilMarket
    function bidIdOf(address bidder) external view returns (uint256) {
        return _bidIdOf[bidder];
    }

    // ---------------------------------------------------------------- placement

    function _placeBid(SignedBid calldata bid) private returns (uint256 bidId) {
        bytes32 ciphertextHash = _checkBid(bid);
        bidId = _recordBid(bid, ciphertextHash);
        // Heaps hold uint32 ids (8 per slot); 2^32 bids is far beyond any chain's gas budget, but stay exact.
        uint32 heapId = SafeCast.toUint32(bidId);
        if (bid.side == uint8(Side.Buy)) _placeBuy(heapId);
        else _placeSell(heapId);
    }

    /// @dev Every check that needs no pairing, cheapest first; returns the ciphertext hash the bidder signed.
    function _checkBid(SignedBid calldata bid) private view returns (bytes32 ciphertextHash) {
        if (bid.side > uint8(Side.Sell)) revert InvalidSide(bid.side);
        uint256 d = dim;
        if (bid.left.length != 2 * d || bid.right.length != 4 * d) {
            revert WrongVectorLength(2 * d, 4 * d, bid.left.length, bid.right.length);
        }
        if (block.timestamp > bid.notAfter) revert TicketExpired(bid.notAfter, block.timestamp);
        uint256 previous = _bidIdOf[bid.bidder];
        if (previous != 0) revert BidderAlreadyUsed(bid.bidder, previous);
        address ticketSignedBy = _recover(
            _hashTypedDataV4(keccak256(abi.encode(TICKET_TYPEHASH, bid.bidder, bid.notAfter))),
            bid.ticketSignature
        );
        if (ticketSignedBy != ticketSigner) revert InvalidTicket(ticketSignedBy);
        ciphertextHash = CiphertextStore.hashCiphertext(bid.left, bid.right);
        address bidSignedBy = _recover(
            _hashTypedDataV4(keccak256(abi.encode(BID_TYPEHASH, bid.side, ciphertextHash, bid.commitment))),
            bid.bidderSignature
        );
        if (bidSignedBy != bid.bidder || bidSignedBy == address(0)) revert InvalidBidderSignature(bid.bidder, bidSignedBy);
        BidCompare.checkLeftPoints(bid.left);
    }

    /// @dev The storage a bid costs whether it rests or matches: its blob, its record and its single-use mark.
    function _recordBid(SignedBid calldata bid, bytes32 ciphertextHash) internal returns (uint256 bidId) {
        bidId = ++_bidCount;
        address store = CiphertextStore.write(bid.bidder, bid.commitment, ciphertextHash, bid.left, bid.right);
        Side side = Side(bid.side);
        _bids[bidId] = BidRecord({
            store: store,
            notAfter: bid.notAfter > type(uint40).max ? type(uint40).max : uint40(bid.notAfter),
            heapPosition: 0,
            side: side,
            status: BidStatus.Open
        });
        _bidIdOf[bid.bidder] = bidId;
        emit BidPlaced(bidId, side, bid.bidder, bid.notAfter, bid.commitment, ciphertextHash);
    }

    /// @dev New buy: drop expired sell roots, match the best sell if Compare(L(buy), R(sell)), else rest.
    function _placeBuy(uint32 buyId) private {
        _dropExpiredRoots(_sellHeap, Side.Sell);
        if (_sellHeap.size() != 0) {
            uint32 sellId = _sellHeap.root();
            if (_ge(buyId, sellId)) {
                _sellHeap.removeAt(0, _sellAbove, _setHeapPosition);
                _settleMatch(buyId, sellId);
                return;
            }
        }
        // Invariant: a resting bid's C2 has passed the precompile (its K2 passed checkLeftPoints). Inserting into a
        // non-empty buy heap compares Compare(L(parent), R(buy)) first, which checks it; an empty heap does not.
        if (_buyHeap.size() == 0) _validateRight(buyId);
        _buyHeap.insert(buyId, _buyAbove, _setHeapPosition);
    }

    /// @dev New sell: drop expired buy roots, match the best buy if Compare(L(buy), R(sell)), else rest.
    function _placeSell(uint32 sellId) private {
        _dropExpiredRoots(_buyHeap, Side.Buy);
        if (_buyHeap.size() != 0) {
            uint32 buyId = _buyHeap.root();
            // This compare also puts R(sell) through the precompile (the resting-bid invariant above).
            if (_ge(buyId, sellId)) {
                _buyHeap.removeAt(0, _buyAbove, _setHeapPosition);
                _settleMatch(buyId, sellId);
                return;
            }
        } else {
            _validateRight(sellId);
        }
        _sellHeap.insert(sellId, _sellAbove, _setHeapPosition);
    }

    function _dropExpiredRoots(EncryptedHeap.Heap storage heap, Side side) private {
        for (uint256 dropped; heap.size() != 0; ++dropped) {
            uint32 rootId = heap.root();
            BidRecord storage record = _bids[rootId];
            if (block.timestamp <= record.notAfter) return;
            if (dropped == MAX_EXPIRED_DROPS) revert ExpiredBacklog(side, rootId);
            heap.removeAt(0, side == Side.Buy ? _buyAbove : _sellAbove, _setHeapPosition);
            record.status = BidStatus.Expired;
            emit BidExpired(rootId, side, CiphertextStore.readBidder(record.store));
        }
    }

    function _settleMatch(uint32 buyId, uint32 sellId) private {
        BidRecord storage buyRecord = _bids[buyId];
        BidRecord storage sellRecord = _bids[sellId];
        buyRecord.status = BidStatus.Matched;
        sellRecord.status = BidStatus.Matched;
        (address buyBidder, bytes32 buyCommitment, bytes32 buyHash) = CiphertextStore.readHeader(buyRecord.store);
        (address sellBidder, bytes32 sellCommitment, bytes32 sellHash) = CiphertextStore.readHeader(sellRecord.store);
        emit Matched(buyId, sellId, buyBidder, sellBidder, buyCommitment, sellCommitment, buyHash, sellHash);
    }

    function _removeFromHeap(Side side, uint256 position) private {
        if (side == Side.Buy) _buyHeap.removeAt(position, _buyAbove, _setHeapPosition);
        else _sellHeap.removeAt(position, _sellAbove, _setHeapPosition);
    }

    // ---------------------------------------------------------------- comparison

    /// @dev Compare(L(a), R(b)): level(a) ≥ level(b). Answered from an earlier result about the same two bids when
    /// there is one (KnownOrder), otherwise one pairing check, whose result is then kept.
    function _ge(uint32 a, uint32 b) private returns (bool) {
        (bool known, bool result) = KnownOrder.lookup(_order, a, b);
        if (known) return result;
        result = BidCompare.compareStored(_bids[a].store, _bids[b].store, dim);
        KnownOrder.record(_order, a, b, result);
        return result;
    }

    /// @dev Buy max-heap: a above b iff level(a) > level(b), i.e. not Compare(L(b), R(a)).
    function _buyAbove(uint32 a, uint32 b) private returns (bool) {
        return !_ge(b, a);
    }

    /// @dev Sell min-heap: a above b iff level(a) < level(b), i.e. not Compare(L(a), R(b)).
    function _sellAbove(uint32 a, uint32 b) private returns (bool) {
        return !_ge(a, b);
    }

    /// @dev Puts the bid's C2 through the precompile once (the result of Compare(L(b), R(b)) is not used, and it is
    /// neither looked up in nor recorded to KnownOrder: this call exists to run the check).
    function _validateRight(uint32 bidId) private view {
        address store = _bids[bidId].store;
        BidCompare.compareStored(store, store, dim);
    }

    function _setHeapPosition(uint32 bidId, uint256 position) private {
        _bids[bidId].heapPosition = uint32(position);
    }

    // ---------------------------------------------------------------- helpers

    /// @dev The code blob of an existing bid.
    function _bidStore(uint256 bidId) internal view returns (address) {
        return _existingBid(bidId).store;
    }

    function _existingBid(uint256 bidId) private view returns (BidRecord storage record) {
        record = _bids[bidId];
        if (record.status == BidStatus.None) revert UnknownBid(bidId);
    }

    /// @dev The signer, or address(0) for a malformed signature (which then fails the caller's comparison).
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address signer) {
        (signer, , ) = ECDSA.tryRecoverCalldata(digest, signature);
    }
}
