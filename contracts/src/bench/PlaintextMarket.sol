// Bench only (`gridveil bench throughput`, plaintext row): the market with encryption switched off, prices in clear.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IGridveilMarket} from "../IGridveilMarket.sol";
import {EncryptedHeap} from "../lib/EncryptedHeap.sol";

/// @title PlaintextMarket
/// @notice Not for deployment: the throughput bench's baseline. It has GridveilMarket's interface, heaps (the same
/// library, its comparator reading a clear price level instead of calling the pairing precompile), tickets,
/// bidder signatures, single-use bidders, expiry and batch semantics, so the real gateway places on it unchanged.
/// @dev A bid's "ciphertext" is the clear price level in a dimension-1 vector: `left = [level, 0]`,
/// `right = [0, 0, 0, 0]` (the gateway checks 2·dim and 4·dim words). The bidder still signs keccak256(left ‖ right).
/// Storage layout:
///   slot 0, 1  EIP712 fallbacks (unused)
///   slot 2     _bidCount
///   slot 3, 4  _buyHeap.nodes, _sellHeap.nodes (uint32 ids, 8 per slot)
///   slot 5     _bids: id => BidRecord, three slots per bid:
///                bidder | uint40 notAfter | uint32 heapPosition | uint8 side | uint8 status | uint8 level,
///                commitment, ciphertextHash
///   slot 6     _bidIdOf: bidder => id
contract PlaintextMarket is IGridveilMarket, EIP712 {
    using EncryptedHeap for EncryptedHeap.Heap;

    bytes32 private constant TICKET_TYPEHASH = keccak256("Ticket(address bidder,uint64 notAfter)");
    bytes32 private constant BID_TYPEHASH = keccak256("Bid(uint8 side,bytes32 ciphertextHash,bytes32 commitment)");
    bytes32 private constant CANCEL_TYPEHASH = keccak256("Cancel(address bidder)");

    /// @notice As in GridveilMarket: expired roots one new bid may drop before `ExpiredBacklog`.
    uint256 public constant MAX_EXPIRED_DROPS = 2;
    /// @notice A clear price level is a uint8 (the market allows at most 256 levels).
    uint256 public constant MAX_LEVELS = 256;

    /// @notice The price level is not below the market's number of levels.
    error PriceLevelOutOfRange(uint256 level, uint256 levels);
    /// @notice Constructor argument: 2..256 levels.
    error InvalidLevels(uint256 levels);

    struct BidRecord {
        address bidder;
        uint40 notAfter;
        uint32 heapPosition;
        Side side;
        BidStatus status;
        uint8 level;
        bytes32 commitment;
        bytes32 ciphertextHash;
    }

    /// @notice Number of price levels n.
    uint256 public immutable levels;
    /// @inheritdoc IGridveilMarket
    address public immutable ticketSigner;

    uint256 private _bidCount;
    EncryptedHeap.Heap private _buyHeap;
    EncryptedHeap.Heap private _sellHeap;
    mapping(uint256 bidId => BidRecord) private _bids;
    mapping(address bidder => uint256 bidId) private _bidIdOf;

    /// @param levels_ Number of price levels n (2..256).
    /// @param ticketSigner_ The DSO's ticket key.
    constructor(uint256 levels_, address ticketSigner_) EIP712("GridveilPlaintextMarket", "1") {
        if (levels_ < 2 || levels_ > MAX_LEVELS) revert InvalidLevels(levels_);
        if (ticketSigner_ == address(0)) revert ZeroTicketSigner();
        levels = levels_;
        ticketSigner = ticketSigner_;
    }

    /// @inheritdoc IGridveilMarket
    /// @dev Always 1: the clear level travels as a one-dimensional vector.
    function dim() external pure returns (uint256) {
        return 1;
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
            try this.placeBidFromBatch(bids[i]) returns (uint256 bidId) {
                bidIds[i] = bidId;
            } catch (bytes memory reason) {
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
        address bidder = record.bidder;
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
            emit BidExpired(bidId, side, record.bidder);
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
        info = BidInfo({
            bidder: record.bidder,
            side: record.side,
            status: record.status,
            notAfter: record.notAfter,
            heapPosition: record.status == BidStatus.Open ? record.heapPosition : 0,
            commitment: record.commitment,
            ciphertextHash: record.ciphertextHash
        });
    }

    /// @inheritdoc IGridveilMarket
    /// @dev The clear level as the bid carried it: `left = [level, 0]`, `right = [0, 0, 0, 0]`.
    function getBidCiphertext(uint256 bidId) external view returns (uint256[] memory left, uint256[] memory right) {
        left = new uint256[](2);
        right = new uint256[](4);
        left[0] = _existingBid(bidId).level;
    }

    /// @inheritdoc IGridveilMarket
    function bidIdOf(address bidder) external view returns (uint256) {
        return _bidIdOf[bidder];
    }

    // ---------------------------------------------------------------- placement

    function _placeBid(SignedBid calldata bid) private returns (uint256 bidId) {
        (bytes32 ciphertextHash, uint8 level) = _checkBid(bid);
        bidId = ++_bidCount;
        _bids[bidId] = BidRecord({
            bidder: bid.bidder,
            notAfter: bid.notAfter > type(uint40).max ? type(uint40).max : uint40(bid.notAfter),
            heapPosition: 0,
            side: Side(bid.side),
            status: BidStatus.Open,
            level: level,
            commitment: bid.commitment,
            ciphertextHash: ciphertextHash
        });
        _bidIdOf[bid.bidder] = bidId;
        emit BidPlaced(bidId, Side(bid.side), bid.bidder, bid.notAfter, bid.commitment, ciphertextHash);
        uint32 heapId = SafeCast.toUint32(bidId);
        if (bid.side == uint8(Side.Buy)) _placeBuy(heapId);
        else _placeSell(heapId);
    }

    /// @dev GridveilMarket's checks in the same order, the curve checks replaced by the level's range.
    function _checkBid(SignedBid calldata bid) private view returns (bytes32 ciphertextHash, uint8 level) {
        if (bid.side > uint8(Side.Sell)) revert InvalidSide(bid.side);
        if (bid.left.length != 2 || bid.right.length != 4) revert WrongVectorLength(2, 4, bid.left.length, bid.right.length);
        if (block.timestamp > bid.notAfter) revert TicketExpired(bid.notAfter, block.timestamp);
        uint256 previous = _bidIdOf[bid.bidder];
        if (previous != 0) revert BidderAlreadyUsed(bid.bidder, previous);
        address ticketSignedBy = _recover(
            _hashTypedDataV4(keccak256(abi.encode(TICKET_TYPEHASH, bid.bidder, bid.notAfter))),
            bid.ticketSignature
        );
        if (ticketSignedBy != ticketSigner) revert InvalidTicket(ticketSignedBy);
        ciphertextHash = keccak256(abi.encodePacked(bid.left, bid.right));
        address bidSignedBy = _recover(
            _hashTypedDataV4(keccak256(abi.encode(BID_TYPEHASH, bid.side, ciphertextHash, bid.commitment))),
            bid.bidderSignature
        );
        if (bidSignedBy != bid.bidder || bidSignedBy == address(0)) revert InvalidBidderSignature(bid.bidder, bidSignedBy);
        if (bid.left[0] >= levels) revert PriceLevelOutOfRange(bid.left[0], levels);
        level = uint8(bid.left[0]);
    }

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
        _buyHeap.insert(buyId, _buyAbove, _setHeapPosition);
    }

    function _placeSell(uint32 sellId) private {
        _dropExpiredRoots(_buyHeap, Side.Buy);
        if (_buyHeap.size() != 0) {
            uint32 buyId = _buyHeap.root();
            if (_ge(buyId, sellId)) {
                _buyHeap.removeAt(0, _buyAbove, _setHeapPosition);
                _settleMatch(buyId, sellId);
                return;
            }
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
            emit BidExpired(rootId, side, record.bidder);
        }
    }

    function _settleMatch(uint32 buyId, uint32 sellId) private {
        BidRecord storage buyRecord = _bids[buyId];
        BidRecord storage sellRecord = _bids[sellId];
        buyRecord.status = BidStatus.Matched;
        sellRecord.status = BidStatus.Matched;
        emit Matched(
            buyId,
            sellId,
            buyRecord.bidder,
            sellRecord.bidder,
            buyRecord.commitment,
            sellRecord.commitment,
            buyRecord.ciphertextHash,
            sellRecord.ciphertextHash
        );
    }

    function _removeFromHeap(Side side, uint256 position) private {
        if (side == Side.Buy) _buyHeap.removeAt(position, _buyAbove, _setHeapPosition);
        else _sellHeap.removeAt(position, _sellAbove, _setHeapPosition);
    }

    // ---------------------------------------------------------------- comparison (in clear)

    /// @dev level(a) ≥ level(b): what Compare(L(a), R(b)) decides on ciphertexts.
    function _ge(uint32 a, uint32 b) private view returns (bool) {
        return _bids[a].level >= _bids[b].level;
    }

    function _buyAbove(uint32 a, uint32 b) private view returns (bool) {
        return !_ge(b, a);
    }

    function _sellAbove(uint32 a, uint32 b) private view returns (bool) {
        return !_ge(a, b);
    }

    function _setHeapPosition(uint32 bidId, uint256 position) private {
        _bids[bidId].heapPosition = uint32(position);
    }

    // ---------------------------------------------------------------- helpers

    function _existingBid(uint256 bidId) private view returns (BidRecord storage record) {
        record = _bids[bidId];
        if (record.status == BidStatus.None) revert UnknownBid(bidId);
    }

    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address signer) {
        (signer, , ) = ECDSA.tryRecoverCalldata(digest, signature);
    }
}
