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
/// @dev Storage holds the books, not their history (the events do). While a bid rests it keeps two slots:
/// `_roots[id]` (ciphertextRoot) and `_records[id]` (bidder, expiry, list, next: one slot, the lists being singly
/// linked); both are deleted when it leaves its list (matched, cancelled, expired), and a bid that matches on arrival
/// never writes them. `idOf[bidder]` is kept for good: a bidder is single-use. `_heads[list]` are the lists' heads,
/// a list being `slot · 2 + side`.
contract SlotMarket is ISlotMarket, EIP712 {
    /// @notice EIP-712 type of the DSO's ticket (PROTOCOL §4 v2).
    bytes32 public constant TICKET_TYPEHASH =
        keccak256("Ticket(address bidder,uint8 side,uint32 slot,uint40 notAfter,bytes32 ciphertextRoot,bytes32 commitment)");
    /// @notice EIP-712 type of a cancel, signed by the bid's one-time key.
    bytes32 public constant CANCEL_TYPEHASH = keccak256("Cancel(address bidder)");
    uint256 public constant MAX_EXPIRED_DROPS = 4;
    /// @notice Slots are numbered below 2^31 (a list is slot · 2 + side in 32 bits): slot 2^31 of 15 minutes is ~63,000 AD.
    uint32 public constant MAX_SLOT = 2 ** 31 - 1;

    /// @dev A resting bid in one slot: bidder 0 means none (never, or no longer). `notAfter` is kept in 32 bits
    /// (a later expiry is stored as 2^32 − 1, which no block reaches before 2106).
    struct Record {
        address bidder;
        uint32 notAfter;
        uint32 list;
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
    mapping(address => uint256) public idOf;
    mapping(uint32 => uint32) private _heads;
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
        if (bid.slot > MAX_SLOT) revert SlotOutOfRange(bid.slot);
        // Bidder 0 marks "no bid" in a record: a ticket for it would rest a bid no hint could ever name.
        if (bid.bidder == address(0)) revert ZeroBidder();
        uint256 gate = gateClosure(bid.slot);
        if (block.timestamp >= gate) revert SlotClosed(bid.slot, gate);
        if (block.timestamp > bid.notAfter) revert TicketExpired(bid.notAfter);
        if (idOf[bid.bidder] != 0) revert BidderAlreadyUsed(bid.bidder);
        if (bid.ciphertext.length != 6 * dim * tokens) revert WrongLength(6 * dim * tokens, bid.ciphertext.length);
        bytes32 root = TokenTree.root(bid.ciphertext, tokens, dim);
        _checkTicket(bid, root);

        Side opposite = bid.side == Side.Buy ? Side.Sell : Side.Buy;
        uint32 oppositeList = _list(bid.slot, opposite);
        uint32 head = _dropExpiredHeads(bid.slot, opposite, oppositeList);
        Hint calldata hint = bid.hint;
        if (hint.headId != head) revert StaleHint(hint.headId);

        id = _nextId++;
        idOf[bid.bidder] = id;
        if (head != 0 && hint.matchHead) {
            // The head crosses: b ≥ s for a buy (s ≤ b), s ≤ h for a sell.
            if (bid.side == Side.Buy) _restingAtMost(head, hint.head, bid, false);
            else _newAtMost(bid, head, hint.head, false);
            address headBidder = _records[head].bidder;
            _remove(head, 0, oppositeList);
            if (bid.side == Side.Buy) emit Matched(bid.slot, id, head, bid.bidder, headBidder, bid.commitment, root);
            else emit Matched(bid.slot, head, id, headBidder, bid.bidder, bid.commitment, root);
            return id;
        }
        // It does not cross the head: b < s for a buy, h < s for a sell (strict: an equal price would match).
        if (head != 0) {
            if (bid.side == Side.Buy) _newAtMost(bid, head, hint.head, true);
            else _restingAtMost(head, hint.head, bid, true);
        }
        _rest(bid, uint32(id), root);
    }

    /// @dev Links the new bid after `hint.prevId` (0: at the head): prev is at least as good (queues ahead), next is
    /// strictly worse. Buy list descending: prev ≥ b (b ≤ prev), next < b. Sell list ascending: prev ≤ s, s < next.
    function _rest(Bid calldata bid, uint32 id, bytes32 root) private {
        Hint calldata hint = bid.hint;
        uint32 list = _list(bid.slot, bid.side);
        uint32 prev = uint32(hint.prevId);
        if (hint.prevId > type(uint32).max) revert StaleHint(hint.prevId);
        uint32 next;
        if (prev == 0) {
            next = _heads[list];
        } else {
            Record storage prevRecord = _records[prev];
            if (prevRecord.bidder == address(0) || prevRecord.list != list) revert StaleHint(prev);
            if (bid.side == Side.Buy) _newAtMost(bid, prev, hint.prev, false);
            else _restingAtMost(prev, hint.prev, bid, false);
            next = prevRecord.next;
        }
        if (hint.nextId != next) revert StaleHint(hint.nextId);
        if (next != 0) {
            if (bid.side == Side.Buy) _restingAtMost(next, hint.next, bid, true);
            else _newAtMost(bid, next, hint.next, true);
        }
        _store(bid, id, root, list, next);
        if (prev == 0) _heads[list] = id;
        else _records[prev].next = id;
        emit BidPlaced(bid.slot, id, bid.side, bid.bidder, prev, bid.commitment, root);
    }

    /// @dev What a resting bid keeps (internal: the bench's probe measures it).
    function _store(Bid calldata bid, uint32 id, bytes32 root, uint32 list, uint32 next) internal {
        _roots[id] = root;
        uint32 notAfter = bid.notAfter > type(uint32).max ? type(uint32).max : uint32(bid.notAfter);
        _records[id] = Record({bidder: bid.bidder, notAfter: notAfter, list: list, next: next});
    }

    // ------------------------------------------------------------------------------------------------ relations

    /// @dev new ≤ resting bid `id` (strict: new < it): L_t(new) against R_t(resting), the resting token proved by the
    /// root of the bid the book holds at that place (the hint names the token, never the bid).
    function _newAtMost(Bid calldata bid, uint256 id, RestingToken calldata resting, bool strict) private view {
        _checkToken(id, resting, TokenTree.RIGHT, strict);
        uint256 start = 2 * dim * resting.token;
        if (!TokenTest.zero(bid.ciphertext[start:start + 2 * dim], resting.words, dim)) revert RelationNotProved(id, resting.token);
    }

    /// @dev resting bid `id` ≤ new (strict: it < new): L_t(resting) against R_t(new).
    function _restingAtMost(uint256 id, RestingToken calldata resting, Bid calldata bid, bool strict) private view {
        _checkToken(id, resting, TokenTree.LEFT, strict);
        uint256 start = 2 * dim * tokens + 4 * dim * resting.token;
        if (!TokenTest.zero(resting.words, bid.ciphertext[start:start + 4 * dim], dim)) revert RelationNotProved(id, resting.token);
    }

    /// @dev A strict relation needs a block token (the equality token proves equality, not order).
    function _checkToken(uint256 id, RestingToken calldata resting, uint8 half, bool strict) private view {
        if (resting.token >= tokens || (strict && resting.token == tokens - 1)) revert RelationNotProved(id, resting.token);
        if (!TokenTree.verify(resting.proof, _roots[id], half, resting.token, resting.words)) revert BadMerkleProof(id, resting.token);
    }

    function _checkTicket(Bid calldata bid, bytes32 root) private view {
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(TICKET_TYPEHASH, bid.bidder, uint8(bid.side), bid.slot, bid.notAfter, root, bid.commitment))
        );
        (address signer, ECDSA.RecoverError error_, ) = ECDSA.tryRecoverCalldata(digest, bid.ticketSignature);
        if (error_ != ECDSA.RecoverError.NoError || signer != ticketSigner) revert BadTicket(signer);
    }

    // ------------------------------------------------------------------------------------------------ removal

    /// @notice Withdraws a resting bid; `prevId` is the bid before it in its list (0: it is the head), `signature` its
    /// one-time key's EIP-712 `Cancel(bidder)`. A bid that no longer rests (or matched on arrival) answers
    /// `BidNotOpen`, one never placed `UnknownBid`, a `prevId` that is not its predecessor `StaleHint`.
    function cancelBid(uint256 bidId, uint256 prevId, bytes calldata signature) external {
        Record memory record = _records[bidId];
        if (record.bidder == address(0)) {
            if (bidId == 0 || bidId >= _nextId) revert UnknownBid(bidId);
            revert BidNotOpen(bidId);
        }
        address signer = ECDSA.recover(_hashTypedDataV4(keccak256(abi.encode(CANCEL_TYPEHASH, record.bidder))), signature);
        if (signer != record.bidder) revert NotOwner(bidId, signer);
        bool linked = prevId == 0 ? _heads[record.list] == bidId : prevId <= type(uint32).max && _records[prevId].next == bidId;
        if (!linked) revert StaleHint(prevId);
        _remove(uint32(bidId), uint32(prevId), record.list);
        emit BidCancelled(record.list >> 1, bidId, Side(record.list & 1));
    }

    /// @notice Unlinks up to `max` expired bids of a slot's list from its head on (all of a closed slot's).
    /// A slot above MAX_SLOT has no list (nothing to purge).
    function purge(uint32 slot, Side side, uint256 max) external returns (uint256 purged) {
        if (slot > MAX_SLOT) return 0;
        bool closed = block.timestamp >= gateClosure(slot);
        uint32 list = _list(slot, side);
        uint32 prev;
        uint32 id = _heads[list];
        while (id != 0 && purged < max) {
            Record storage record = _records[id];
            uint32 next = record.next;
            if (closed || block.timestamp > record.notAfter) {
                _remove(id, prev, list);
                emit BidExpired(slot, id, side);
                ++purged;
            } else {
                prev = id;
            }
            id = next;
        }
    }

    function _dropExpiredHeads(uint32 slot, Side side, uint32 list) private returns (uint32 head) {
        head = _heads[list];
        uint256 expired;
        for (uint32 id = head; id != 0 && block.timestamp > _records[id].notAfter; id = _records[id].next) {
            if (++expired > MAX_EXPIRED_DROPS) revert ExpiredBacklog(slot, side);
        }
        for (uint256 i; i < expired; ++i) {
            _remove(head, 0, list);
            emit BidExpired(slot, head, side);
            head = _heads[list];
        }
    }

    /// @dev Unlinks resting bid `id` (after `prev`, 0: the head of `list`) and deletes what it kept.
    function _remove(uint32 id, uint32 prev, uint32 list) private {
        uint32 next = _records[id].next;
        if (prev == 0) _heads[list] = next;
        else _records[prev].next = next;
        delete _records[id];
        delete _roots[id];
    }

    function _list(uint32 slot, Side side) private pure returns (uint32) {
        return (slot << 1) | uint32(uint8(side));
    }

    // ------------------------------------------------------------------------------------------------ views

    /// @notice Slot `slot` starts at slot·slotSeconds; bids are accepted until gateClosureSeconds before.
    function gateClosure(uint32 slot) public view returns (uint256) {
        uint256 start = uint256(slot) * slotSeconds;
        return start > gateClosureSeconds ? start - gateClosureSeconds : 0;
    }

    /// @notice A slot's list on one side, best first (empty above MAX_SLOT: no such list).
    function book(uint32 slot, Side side) external view returns (uint256[] memory ids) {
        if (slot > MAX_SLOT) return ids;
        uint32 list = _list(slot, side);
        uint256 count;
        for (uint32 id = _heads[list]; id != 0; id = _records[id].next) ++count;
        ids = new uint256[](count);
        uint256 i;
        for (uint32 id = _heads[list]; id != 0; id = _records[id].next) ids[i++] = id;
    }

    /// @notice A resting bid: its one-time bidder, expiry, slot, side, the bid after it and its root (all zero once it
    /// left its list: the events keep its history).
    function getBid(uint256 bidId)
        external
        view
        returns (address bidder, uint40 notAfter, uint32 slot, Side side, uint256 nextId, bytes32 ciphertextRoot)
    {
        Record memory record = _records[bidId];
        if (record.bidder == address(0)) return (address(0), 0, 0, Side.Buy, 0, bytes32(0));
        return (record.bidder, record.notAfter, record.list >> 1, Side(record.list & 1), record.next, _roots[bidId]);
    }

    /// @notice The EIP-712 domain separator (tickets and cancels).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }
}
