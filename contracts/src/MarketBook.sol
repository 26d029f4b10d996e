// The order book both markets share (PROTOCOL §4 tickets and identities, §5 bidding and matching); how a bid's
// price is stored and compared is left to the market that inherits it.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IGridveilMarket} from "./IGridveilMarket.sol";
import {EncryptedHeap} from "./lib/EncryptedHeap.sol";

/// @title MarketBook
/// @notice Sell bids sit in a min-heap and buy bids in a max-heap, both ordered only through `_ge`: a new bid matches
/// the opposite book's best bid or rests in its own book. Tickets, bidder signatures, single-use bidders, expiry,
/// cancel, purge and batches do not depend on what a price looks like on chain, so they live here once.
/// @dev A market supplies its prices through virtual hooks:
/// - what a bid's price data must be: `_dimension` (its vectors' d) and `_checkPriceData`;
/// - where it is kept: `_storeBid` returns an address (`BidRecord.store`) under which `_readBidder` and `_readHeader`
///   find the bid's header again;
/// - how two bids compare: `_ge` (level(a) ≥ level(b)) and `_validateRight`.
/// The hooks are the implementations themselves, not forwarders to a library: with no tail calls in the legacy
/// code generator, a forwarder costs a return jump and stack clean-up on every call, on the gas bench's paths too.
/// Storage layout (declaration order; EIP712 comes first; a market's own variables follow from slot 7):
///   slot 0  EIP712._nameFallback     (unused: the name is short and lives in an immutable)
///   slot 1  EIP712._versionFallback  (unused, as above)
///   slot 2  _bidCount                uint256, the last assigned id (ids start at 1)
///   slot 3  _buyHeap.nodes           uint32[], 8 ids per slot from keccak256(3)
///   slot 4  _sellHeap.nodes          uint32[], 8 ids per slot from keccak256(4)
///   slot 5  _bids                    mapping(uint256 => BidRecord), one packed slot per bid
///   slot 6  _bidIdOf                 mapping(address => uint256), single-use bidder → id
abstract contract MarketBook is IGridveilMarket, EIP712 {
    using EncryptedHeap for EncryptedHeap.Heap;

    bytes32 private constant TICKET_TYPEHASH = keccak256("Ticket(address bidder,uint64 notAfter)");
    bytes32 private constant BID_TYPEHASH = keccak256("Bid(uint8 side,bytes32 ciphertextHash,bytes32 commitment)");
    bytes32 private constant CANCEL_TYPEHASH = keccak256("Cancel(address bidder)");

    /// @notice How many expired roots one new bid drops from the opposite book before giving up with
    /// `ExpiredBacklog` (each drop is a heap removal, about log2(n) + 1 comparisons, paid by that bid).
    uint256 public constant MAX_EXPIRED_DROPS = 2;

    /// @dev One slot: 20 + 5 + 4 + 1 + 1 bytes.
    struct BidRecord {
        address store; // where the market keeps the bid's price data and header (the address `_storeBid` returned)
        uint40 notAfter; // ticket expiry, clamped to uint40 (year 36812); expired iff block.timestamp > notAfter
        uint32 heapPosition; // index in its heap while Open
        Side side;
        BidStatus status;
    }

    /// @inheritdoc IGridveilMarket
    address public immutable ticketSigner;

    uint256 private _bidCount;
    EncryptedHeap.Heap private _buyHeap;
    EncryptedHeap.Heap private _sellHeap;
    mapping(uint256 bidId => BidRecord) internal _bids;
    mapping(address bidder => uint256 bidId) private _bidIdOf;

    /// @param name The EIP-712 domain name.
    /// @param ticketSigner_ The DSO's ticket key.
    constructor(string memory name, address ticketSigner_) EIP712(name, "1") {
        if (ticketSigner_ == address(0)) revert ZeroTicketSigner();
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
            // A self-call, so that a rejected entry (which may fail half-way, e.g. in a comparison) rolls back
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
        address bidder = _readBidder(record.store);
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
            emit BidExpired(bidId, side, _readBidder(record.store));
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
        (address bidder, bytes32 commitment, bytes32 ciphertextHash) = _readHeader(record.store);
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
    function bidIdOf(address bidder) external view returns (uint256) {
        return _bidIdOf[bidder];
    }

    // ---------------------------------------------------------------- hooks: price data

    /// @dev The dimension d of a bid's vectors: `left` must hold 2·d words and `right` 4·d.
    function _dimension() internal view virtual returns (uint256);

    /// @dev Reverts unless `left` may be stored; the last check of a placement before any comparison.
    function _checkPriceData(uint256[] calldata left) internal view virtual;

    /// @dev Keeps a checked bid's header and price data; returns the address the read hooks and `_ge` find them
    /// under (the record's `store`).
    function _storeBid(address bidder, bytes32 commitment, bytes32 ciphertextHash, uint256[] calldata left, uint256[] calldata right)
        internal
        virtual
        returns (address store);

    /// @dev The bidder `_storeBid` kept under `store`.
    function _readBidder(address store) internal view virtual returns (address bidder);

    /// @dev Bidder, commitment and ciphertext hash `_storeBid` kept under `store`.
    function _readHeader(address store)
        internal
        view
        virtual
        returns (address bidder, bytes32 commitment, bytes32 ciphertextHash);

    // ---------------------------------------------------------------- hooks: comparison

    /// @dev level(a) ≥ level(b) for two stored bids (on ciphertexts, Compare(L(a), R(b))). Not `view`: a market
    /// may keep what a comparison taught it.
    function _ge(uint32 a, uint32 b) internal virtual returns (bool);

    /// @dev Whatever check `_ge(x, bidId)` runs on its right-hand bid, for the two placements that compare no bid
    /// against the new one on the right (a sell with no buys, a buy entering an empty buy heap): see `_placeBuy`.
    function _validateRight(uint32 bidId) internal view virtual;

    // ---------------------------------------------------------------- placement

    function _placeBid(SignedBid calldata bid) private returns (uint256 bidId) {
        bytes32 ciphertextHash = _checkBid(bid);
        bidId = _recordBid(bid, ciphertextHash);
        // Heaps hold uint32 ids (8 per slot); 2^32 bids is far beyond any chain's gas budget, but stay exact.
        uint32 heapId = SafeCast.toUint32(bidId);
        if (bid.side == uint8(Side.Buy)) _placeBuy(heapId);
        else _placeSell(heapId);
    }

    /// @dev Every check that needs no comparison, cheapest first; returns the ciphertext hash the bidder signed.
    function _checkBid(SignedBid calldata bid) private view returns (bytes32 ciphertextHash) {
        if (bid.side > uint8(Side.Sell)) revert InvalidSide(bid.side);
        uint256 d = _dimension();
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
        ciphertextHash = _hashCiphertext(bid.left, bid.right);
        address bidSignedBy = _recover(
            _hashTypedDataV4(keccak256(abi.encode(BID_TYPEHASH, bid.side, ciphertextHash, bid.commitment))),
            bid.bidderSignature
        );
        if (bidSignedBy != bid.bidder || bidSignedBy == address(0)) revert InvalidBidderSignature(bid.bidder, bidSignedBy);
        _checkPriceData(bid.left);
    }

    /// @dev The storage a bid costs whether it rests or matches: its price data, its record and its single-use mark.
    function _recordBid(SignedBid calldata bid, bytes32 ciphertextHash) internal returns (uint256 bidId) {
        bidId = ++_bidCount;
        address store = _storeBid(bid.bidder, bid.commitment, ciphertextHash, bid.left, bid.right);
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

    /// @dev New buy: drop expired sell roots, match the best sell if ge(buy, sell), else rest.
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
        // Invariant: every resting bid went through `_ge` as the right-hand operand or `_validateRight`, so a market
        // whose comparison is also a check of the right-hand bid (GridveilMarket: only the precompile checks C2)
        // never rests an unchecked bid. Inserting into a non-empty buy heap compares ge(parent, buy) first; an
        // empty heap does not.
        if (_buyHeap.size() == 0) _validateRight(buyId);
        _buyHeap.insert(buyId, _buyAbove, _setHeapPosition);
    }

    /// @dev New sell: drop expired buy roots, match the best buy if ge(buy, sell), else rest.
    function _placeSell(uint32 sellId) private {
        _dropExpiredRoots(_buyHeap, Side.Buy);
        if (_buyHeap.size() != 0) {
            uint32 buyId = _buyHeap.root();
            // This compare has the sell on the right (the resting-bid invariant above).
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
            emit BidExpired(rootId, side, _readBidder(record.store));
        }
    }

    function _settleMatch(uint32 buyId, uint32 sellId) private {
        BidRecord storage buyRecord = _bids[buyId];
        BidRecord storage sellRecord = _bids[sellId];
        buyRecord.status = BidStatus.Matched;
        sellRecord.status = BidStatus.Matched;
        (address buyBidder, bytes32 buyCommitment, bytes32 buyHash) = _readHeader(buyRecord.store);
        (address sellBidder, bytes32 sellCommitment, bytes32 sellHash) = _readHeader(sellRecord.store);
        emit Matched(buyId, sellId, buyBidder, sellBidder, buyCommitment, sellCommitment, buyHash, sellHash);
    }

    function _removeFromHeap(Side side, uint256 position) private {
        if (side == Side.Buy) _buyHeap.removeAt(position, _buyAbove, _setHeapPosition);
        else _sellHeap.removeAt(position, _sellAbove, _setHeapPosition);
    }

    // ---------------------------------------------------------------- heap order

    /// @dev Buy max-heap: a above b iff level(a) > level(b), i.e. not ge(b, a).
    function _buyAbove(uint32 a, uint32 b) private returns (bool) {
        return !_ge(b, a);
    }

    /// @dev Sell min-heap: a above b iff level(a) < level(b), i.e. not ge(a, b).
    function _sellAbove(uint32 a, uint32 b) private returns (bool) {
        return !_ge(a, b);
    }

    function _setHeapPosition(uint32 bidId, uint256 position) private {
        _bids[bidId].heapPosition = uint32(position);
    }

    // ---------------------------------------------------------------- helpers

    /// @dev Where an existing bid's price data is kept.
    function _bidStore(uint256 bidId) internal view returns (address) {
        return _existingBid(bidId).store;
    }

    function _existingBid(uint256 bidId) internal view returns (BidRecord storage record) {
        record = _bids[bidId];
        if (record.status == BidStatus.None) revert UnknownBid(bidId);
    }

    /// @dev keccak256(abi.encodePacked(left, right)): what the bidder signs (PROTOCOL §4), whatever the vectors hold.
    function _hashCiphertext(uint256[] calldata left, uint256[] calldata right) private pure returns (bytes32 digest) {
        assembly ("memory-safe") {
            // Scratch space past the free memory pointer: not kept, so the pointer is not moved.
            let buffer := mload(0x40)
            let leftBytes := shl(5, left.length)
            calldatacopy(buffer, left.offset, leftBytes)
            let rightBytes := shl(5, right.length)
            calldatacopy(add(buffer, leftBytes), right.offset, rightBytes)
            digest := keccak256(buffer, add(leftBytes, rightBytes))
        }
    }

    /// @dev The signer, or address(0) for a malformed signature (which then fails the caller's comparison).
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address signer) {
        (signer, , ) = ECDSA.tryRecoverCalldata(digest, signature);
    }
}
