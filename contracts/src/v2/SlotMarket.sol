// The v2 market (PROTOCOL §5 bidding and matching, v2): certified bids, per delivery slot a buy and a sell list with
// price-time priority, every relation proved by one zero test on block tokens given an untrusted hint.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ISlotMarket} from "./ISlotMarket.sol";
import {TokenTest} from "./lib/TokenTest.sol";
import {TokenTree} from "./lib/TokenTree.sol";

/// @title SlotMarket
/// @notice Mirrors protocol/book/slotBooks.ts (the reference) step for step. A new buy b: drop the sell list's
/// expired heads (at most MAX_EXPIRED_DROPS, else `ExpiredBacklog`); if the head s crosses (s ≤ b), unlink it and
/// emit `Matched`; otherwise prove b < s and rest after `prev` (prev ≥ b) before `next` (next < b). A sell is
/// symmetric. Ciphertexts stay in calldata: a bid keeps its root and one packed record; removal runs no test.
/// @dev Storage: `_roots[id]` (ciphertextRoot), `_records[id]` (bidder, expiry, slot, side, status: one slot),
/// `_links[id]` (prev, next in its list), `idOf[bidder]`, `_heads[slot][side]`.
contract SlotMarket is ISlotMarket, EIP712 {
    /// @notice EIP-712 type of the DSO's ticket (PROTOCOL §4 v2).
    bytes32 public constant TICKET_TYPEHASH =
        keccak256("Ticket(address bidder,uint8 side,uint32 slot,uint40 notAfter,bytes32 ciphertextRoot,bytes32 commitment)");
    /// @notice EIP-712 type of a cancel, signed by the bid's one-time key.
    bytes32 public constant CANCEL_TYPEHASH = keccak256("Cancel(address bidder)");
    uint256 public constant MAX_EXPIRED_DROPS = 4;

    struct Record {
        address bidder;
        uint40 notAfter;
        uint32 slot;
        Side side;
        Status status;
    }

    struct Links {
        uint32 prev;
        uint32 next;
    }

    address public immutable ticketSigner;
    /// @notice Token dimension d = B + 1.
    uint256 public immutable dim;
    /// @notice Tokens per half m + 1 (the last is the equality token).
    uint256 public immutable tokens;
    uint32 public immutable slotSeconds;
    uint32 public immutable gateClosureSeconds;

    mapping(uint256 => bytes32) private _roots;
    mapping(uint256 => Record) private _records;
    mapping(uint256 => Links) private _links;
    mapping(address => uint256) public idOf;
    mapping(uint32 => uint32[2]) private _heads;
    uint32 private _nextId = 1;

    constructor(address ticketSigner_, uint256 dim_, uint256 tokens_, uint32 slotSeconds_, uint32 gateClosureSeconds_)
        EIP712("GridveilSlotMarket", "2")
    {
        if (dim_ < 3 || dim_ > 257 || tokens_ < 2 || tokens_ > 64) revert InvalidEncoding(dim_, tokens_);
        if (slotSeconds_ == 0 || gateClosureSeconds_ >= type(uint32).max) revert InvalidCalendar(slotSeconds_, gateClosureSeconds_);
        ticketSigner = ticketSigner_;
        dim = dim_;
        tokens = tokens_;
        slotSeconds = slotSeconds_;
        gateClosureSeconds = gateClosureSeconds_;
    }

    // ------------------------------------------------------------------------------------------------ placement

    /// @notice Places one certified bid: it matches the opposite head or rests where its hint says.
    function placeBid(Bid calldata bid) external returns (uint256 bidId) {
        return _place(bid);
    }

    /// @notice Places several bids; an entry that fails is reported (`BidRejected`) and rolled back alone.
    function placeBids(Bid[] calldata bids) external returns (uint256[] memory bidIds) {
        bidIds = new uint256[](bids.length);
        for (uint256 i; i < bids.length; ++i) {
            try this.placeBidFromBatch(bids[i]) returns (uint256 bidId) {
                bidIds[i] = bidId;
            } catch (bytes memory reason) {
                // No selector: out of gas. Blaming the bid would lose it; the caller splits the batch.
                if (reason.length < 4) revert BatchEntryOutOfGas(i);
                emit BidRejected(i, bids[i].bidder, bytes4(reason), reason);
            }
        }
    }

    /// @notice The batch's self-call (so a failed entry rolls back alone, expired heads it dropped included).
    function placeBidFromBatch(Bid calldata bid) external returns (uint256) {
        if (msg.sender != address(this)) revert OnlySelf();
        return _place(bid);
    }

    function _place(Bid calldata bid) private returns (uint256 id) {
        uint256 gate = gateClosure(bid.slot);
        if (block.timestamp >= gate) revert SlotClosed(bid.slot, gate);
        if (block.timestamp > bid.notAfter) revert TicketExpired(bid.notAfter);
        if (idOf[bid.bidder] != 0) revert BidderAlreadyUsed(bid.bidder);
        if (bid.left.length != tokens) revert WrongLength(tokens, bid.left.length);
        if (bid.right.length != tokens) revert WrongLength(tokens, bid.right.length);
        bytes32 root = TokenTree.root(bid.left, bid.right);
        _checkTicket(bid, root);

        Side opposite = bid.side == Side.Buy ? Side.Sell : Side.Buy;
        uint32 head = _dropExpiredHeads(bid.slot, opposite);
        Hint calldata hint = bid.hint;
        if (hint.headId != head) revert StaleHint(hint.headId);

        id = _nextId++;
        idOf[bid.bidder] = id;
        if (head != 0 && hint.matchHead) {
            // The head crosses: b ≥ s for a buy (s ≤ b), s ≤ h for a sell.
            if (bid.side == Side.Buy) _restingAtMost(hint.head, bid, false);
            else _newAtMost(bid, hint.head, false);
            _unlink(head);
            _records[head].status = Status.Matched;
            _records[id] = Record({bidder: bid.bidder, notAfter: bid.notAfter, slot: bid.slot, side: bid.side, status: Status.Matched});
            emit BidPlaced(bid.slot, id, bid.side, bid.bidder, 0, false, bid.commitment, root);
            _emitMatched(bid.slot, bid.side == Side.Buy ? id : head, bid.side == Side.Buy ? head : id);
            return id;
        }
        // It does not cross the head: b < s for a buy, h < s for a sell (strict: an equal price would match).
        if (head != 0) {
            if (bid.side == Side.Buy) _newAtMost(bid, hint.head, true);
            else _restingAtMost(hint.head, bid, true);
        }
        _rest(bid, uint32(id), root);
    }

    function _emitMatched(uint32 slot, uint256 buyId, uint256 sellId) private {
        emit Matched(slot, buyId, sellId, _records[buyId].bidder, _records[sellId].bidder);
    }

    /// @dev Links the new bid after `hint.prevId` (0: at the head): prev is at least as good (queues ahead), next is
    /// strictly worse. Buy list descending: prev ≥ b (b ≤ prev), next < b. Sell list ascending: prev ≤ s, s < next.
    function _rest(Bid calldata bid, uint32 id, bytes32 root) private {
        Hint calldata hint = bid.hint;
        uint32 prev = uint32(hint.prevId);
        uint32 next;
        if (prev == 0) {
            next = _heads[bid.slot][uint8(bid.side)];
        } else {
            Record storage prevRecord = _records[prev];
            if (prevRecord.status != Status.Open || prevRecord.slot != bid.slot || prevRecord.side != bid.side) revert StaleHint(prev);
            if (hint.prev.bidId != prev) revert StaleHint(hint.prev.bidId);
            if (bid.side == Side.Buy) _newAtMost(bid, hint.prev, false);
            else _restingAtMost(hint.prev, bid, false);
            next = _links[prev].next;
        }
        if (next != 0) {
            if (hint.next.bidId != next) revert StaleHint(hint.next.bidId);
            if (bid.side == Side.Buy) _restingAtMost(hint.next, bid, true);
            else _newAtMost(bid, hint.next, true);
        }
        _roots[id] = root;
        _records[id] = Record({bidder: bid.bidder, notAfter: bid.notAfter, slot: bid.slot, side: bid.side, status: Status.Open});
        _links[id] = Links({prev: prev, next: next});
        if (prev == 0) _heads[bid.slot][uint8(bid.side)] = id;
        else _links[prev].next = id;
        if (next != 0) _links[next].prev = id;
        emit BidPlaced(bid.slot, id, bid.side, bid.bidder, prev, true, bid.commitment, root);
    }

    // ------------------------------------------------------------------------------------------------ relations

    /// @dev new ≤ resting (strict: new < resting): L_t(new) against R_t(resting), the resting token proved by its root.
    function _newAtMost(Bid calldata bid, RestingToken calldata resting, bool strict) private view {
        _checkToken(resting, TokenTree.RIGHT, strict);
        if (!TokenTest.zero(bid.left[resting.token], resting.words, dim)) revert RelationNotProved(resting.bidId, resting.token);
    }

    /// @dev resting ≤ new (strict: resting < new): L_t(resting) against R_t(new).
    function _restingAtMost(RestingToken calldata resting, Bid calldata bid, bool strict) private view {
        _checkToken(resting, TokenTree.LEFT, strict);
        if (!TokenTest.zero(resting.words, bid.right[resting.token], dim)) revert RelationNotProved(resting.bidId, resting.token);
    }

    /// @dev A strict relation needs a block token (the equality token proves equality, not order).
    function _checkToken(RestingToken calldata resting, uint8 half, bool strict) private view {
        if (resting.token >= tokens || (strict && resting.token == tokens - 1)) revert RelationNotProved(resting.bidId, resting.token);
        if (!TokenTree.verify(resting.proof, _roots[resting.bidId], half, resting.token, resting.words)) {
            revert BadMerkleProof(resting.bidId, resting.token);
        }
    }

    function _checkTicket(Bid calldata bid, bytes32 root) private view {
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(TICKET_TYPEHASH, bid.bidder, uint8(bid.side), bid.slot, bid.notAfter, root, bid.commitment))
        );
        (address signer, ECDSA.RecoverError error_, ) = ECDSA.tryRecover(digest, bid.ticketSignature);
        if (error_ != ECDSA.RecoverError.NoError || signer != ticketSigner) revert BadTicket(signer);
    }

    // ------------------------------------------------------------------------------------------------ removal

    /// @notice Withdraws an open bid; `signature` is its one-time key's EIP-712 `Cancel(bidder)`.
    function cancelBid(uint256 bidId, bytes calldata signature) external {
        Record storage record = _records[bidId];
        if (record.status == Status.None) revert UnknownBid(bidId);
        address signer = ECDSA.recover(_hashTypedDataV4(keccak256(abi.encode(CANCEL_TYPEHASH, record.bidder))), signature);
        if (signer != record.bidder) revert NotOwner(bidId, signer);
        if (record.status != Status.Open) revert BidNotOpen(bidId, record.status);
        _unlink(uint32(bidId));
        record.status = Status.Cancelled;
        emit BidCancelled(record.slot, bidId, record.side);
    }

    /// @notice Unlinks up to `max` expired bids of a slot's list from its head on (all of a closed slot's).
    function purge(uint32 slot, Side side, uint256 max) external returns (uint256 purged) {
        bool closed = block.timestamp >= gateClosure(slot);
        uint32 id = _heads[slot][uint8(side)];
        while (id != 0 && purged < max) {
            uint32 next = _links[id].next;
            Record storage record = _records[id];
            if (closed || block.timestamp > record.notAfter) {
                _unlink(id);
                record.status = Status.Expired;
                emit BidExpired(slot, id, side);
                ++purged;
            }
            id = next;
        }
    }

    function _dropExpiredHeads(uint32 slot, Side side) private returns (uint32 head) {
        head = _heads[slot][uint8(side)];
        uint256 expired;
        for (uint32 id = head; id != 0 && block.timestamp > _records[id].notAfter; id = _links[id].next) {
            if (++expired > MAX_EXPIRED_DROPS) revert ExpiredBacklog(slot, side);
        }
        for (uint256 i; i < expired; ++i) {
            _unlink(head);
            _records[head].status = Status.Expired;
            emit BidExpired(slot, head, side);
            head = _heads[slot][uint8(side)];
        }
    }

    function _unlink(uint32 id) private {
        Links memory links = _links[id];
        Record storage record = _records[id];
        if (links.prev == 0) _heads[record.slot][uint8(record.side)] = links.next;
        else _links[links.prev].next = links.next;
        if (links.next != 0) _links[links.next].prev = links.prev;
        delete _links[id];
    }

    // ------------------------------------------------------------------------------------------------ views

    /// @notice Slot `slot` starts at slot·slotSeconds; bids are accepted until gateClosureSeconds before.
    function gateClosure(uint32 slot) public view returns (uint256) {
        uint256 start = uint256(slot) * slotSeconds;
        return start > gateClosureSeconds ? start - gateClosureSeconds : 0;
    }

    /// @notice A slot's list on one side, best first.
    function book(uint32 slot, Side side) external view returns (uint256[] memory ids) {
        uint256 count;
        for (uint32 id = _heads[slot][uint8(side)]; id != 0; id = _links[id].next) ++count;
        ids = new uint256[](count);
        uint256 i;
        for (uint32 id = _heads[slot][uint8(side)]; id != 0; id = _links[id].next) ids[i++] = id;
    }

    function getBid(uint256 bidId) external view returns (Record memory record, bytes32 ciphertextRoot, Links memory links) {
        return (_records[bidId], _roots[bidId], _links[bidId]);
    }

    /// @notice The EIP-712 domain separator (tickets and cancels).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }
}
