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
/// @dev A bid is named by its one-time bidder (PROTOCOL §4), so no counter is kept. Storage holds the books, not their
/// history (the events do): `_records[bidder]` (expiry, list, next, status: one slot) is written once per bid and kept
/// as its single-use mark (PROTOCOL §5); `_roots[bidder]` (ciphertextRoot) only while it rests. A list is
/// `slot · 2 + side`, singly linked from `_heads[list]`.
contract SlotMarket is ISlotMarket, EIP712 {
    /// @notice EIP-712 type of the DSO's ticket (PROTOCOL §4 v2).
    bytes32 public constant TICKET_TYPEHASH =
        keccak256("Ticket(address bidder,uint8 side,uint32 slot,uint40 notAfter,bytes32 ciphertextRoot,bytes32 commitment)");
    /// @notice EIP-712 type of a cancel, signed by the bid's one-time key.
    bytes32 public constant CANCEL_TYPEHASH = keccak256("Cancel(address bidder)");
    uint256 public constant MAX_EXPIRED_DROPS = 4;
    /// @notice Slots are numbered below 2^31 (a list is slot · 2 + side in 32 bits): slot 2^31 of 15 minutes is ~63,000 AD.
    uint32 public constant MAX_SLOT = 2 ** 31 - 1;

    /// @dev One bid: its expiry in 32 bits (a later one is kept as 2^32 − 1, which no block reaches before 2106), its
    /// list, the bid after it while it rests, and its status (None: the bidder is unused).
    struct Record {
        uint32 notAfter;
        uint32 list;
        address next;
        Status status;
    }

    address public immutable ticketSigner;
    /// @notice Token dimension d = B + 1.
    uint256 public immutable dim;
    /// @notice Tokens per half m + 1 (the last is the equality token).
    uint256 public immutable tokens;
    uint32 public immutable slotSeconds;
    uint32 public immutable gateClosureSeconds;

    mapping(address => Record) private _records;
    mapping(address => bytes32) private _roots;
    mapping(uint32 => address) private _heads;

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
    function placeBid(Bid calldata bid) external {
        _place(bid);
    }

    /// @notice Places several bids; an entry that fails is reported (`BidRejected`) and rolled back alone.
    function placeBids(Bid[] calldata bids) external {
        for (uint256 i; i < bids.length; ++i) {
            try this.placeBidFromBatch(bids[i]) {} catch (bytes memory reason) {
                // No selector: out of gas. Blaming the bid would lose it; the caller splits the batch.
                if (reason.length < 4) revert BatchEntryOutOfGas(i);
                emit BidRejected(i, bids[i].bidder, bytes4(reason), reason);
            }
        }
    }

    /// @notice The batch's self-call (so a failed entry rolls back alone, expired heads it dropped included).
    function placeBidFromBatch(Bid calldata bid) external {
        if (msg.sender != address(this)) revert OnlySelf();
        _place(bid);
    }

    function _place(Bid calldata bid) private {
        if (bid.slot > MAX_SLOT) revert SlotOutOfRange(bid.slot);
        // Bidder 0 means "none" in the lists: a bid for it could never be named by a hint.
        if (bid.bidder == address(0)) revert ZeroBidder();
        uint256 gate = gateClosure(bid.slot);
        if (block.timestamp >= gate) revert SlotClosed(bid.slot, gate);
        if (block.timestamp > bid.notAfter) revert TicketExpired(bid.notAfter);
        Record storage mine = _records[bid.bidder];
        if (mine.status != Status.None) revert BidderAlreadyUsed(bid.bidder);
        if (bid.ciphertext.length != 6 * dim * tokens) revert WrongLength(6 * dim * tokens, bid.ciphertext.length);
        bytes32 root = TokenTree.root(bid.ciphertext, tokens, dim);
        _checkTicket(bid, root);

        Side opposite = bid.side == Side.Buy ? Side.Sell : Side.Buy;
        uint32 oppositeList = _list(bid.slot, opposite);
        address head = _dropExpiredHeads(bid.slot, opposite, oppositeList);
        Hint calldata hint = bid.hint;
        if (hint.head != head) revert StaleHint(hint.head);

        if (head != address(0) && hint.matchHead) {
            // The head crosses: b ≥ s for a buy (s ≤ b), s ≤ h for a sell.
            if (bid.side == Side.Buy) _restingAtMost(head, hint.headToken, bid, false);
            else _newAtMost(bid, head, hint.headToken, false);
            _remove(head, address(0), oppositeList);
            // The arriving bid's record is its single-use mark.
            mine.status = Status.Closed;
            if (bid.side == Side.Buy) emit Matched(bid.slot, bid.bidder, head, Side.Buy, bid.commitment, root);
            else emit Matched(bid.slot, head, bid.bidder, Side.Sell, bid.commitment, root);
            return;
        }
        // It does not cross the head: b < s for a buy, h < s for a sell (strict: an equal price would match).
        if (head != address(0)) {
            if (bid.side == Side.Buy) _newAtMost(bid, head, hint.headToken, true);
            else _restingAtMost(head, hint.headToken, bid, true);
        }
        _rest(bid, root);
    }

    /// @dev Links the new bid after `hint.prev` (0: at the head): prev is at least as good (queues ahead), next is
    /// strictly worse. Buy list descending: prev ≥ b (b ≤ prev), next < b. Sell list ascending: prev ≤ s, s < next.
    function _rest(Bid calldata bid, bytes32 root) private {
        Hint calldata hint = bid.hint;
        uint32 list = _list(bid.slot, bid.side);
        address prev = hint.prev;
        address next;
        if (prev == address(0)) {
            next = _heads[list];
        } else {
            Record storage prevRecord = _records[prev];
            if (prevRecord.status != Status.Open || prevRecord.list != list) revert StaleHint(prev);
            if (bid.side == Side.Buy) _newAtMost(bid, prev, hint.prevToken, false);
            else _restingAtMost(prev, hint.prevToken, bid, false);
            next = prevRecord.next;
        }
        if (hint.next != next) revert StaleHint(hint.next);
        if (next != address(0)) {
            if (bid.side == Side.Buy) _restingAtMost(next, hint.nextToken, bid, true);
            else _newAtMost(bid, next, hint.nextToken, true);
        }
        _store(bid, root, list, next);
        if (prev == address(0)) _heads[list] = bid.bidder;
        else _records[prev].next = bid.bidder;
        emit BidPlaced(bid.slot, bid.bidder, bid.side, prev, bid.commitment, root);
    }

    /// @dev What a resting bid keeps (internal: the bench's probe measures it).
    function _store(Bid calldata bid, bytes32 root, uint32 list, address next) internal {
        _roots[bid.bidder] = root;
        uint32 notAfter = bid.notAfter > type(uint32).max ? type(uint32).max : uint32(bid.notAfter);
        _records[bid.bidder] = Record({notAfter: notAfter, list: list, next: next, status: Status.Open});
    }

    // ------------------------------------------------------------------------------------------------ relations

    /// @dev new ≤ resting bid `resting` (strict: new < it): L_t(new) against R_t(resting), the resting token proved by
    /// the root of the bid the book holds at that place (the hint names the token, the contract the bid).
    function _newAtMost(Bid calldata bid, address resting, RestingToken calldata token, bool strict) private view {
        _checkToken(resting, token, TokenTree.RIGHT, strict);
        uint256 start = 2 * dim * token.token;
        if (!TokenTest.zero(bid.ciphertext[start:start + 2 * dim], token.words, dim)) revert RelationNotProved(resting, token.token);
    }

    /// @dev resting bid `resting` ≤ new (strict: it < new): L_t(resting) against R_t(new).
    function _restingAtMost(address resting, RestingToken calldata token, Bid calldata bid, bool strict) private view {
        _checkToken(resting, token, TokenTree.LEFT, strict);
        uint256 start = 2 * dim * tokens + 4 * dim * token.token;
        if (!TokenTest.zero(token.words, bid.ciphertext[start:start + 4 * dim], dim)) revert RelationNotProved(resting, token.token);
    }

    /// @dev A strict relation needs a block token (the equality token proves equality, not order).
    function _checkToken(address resting, RestingToken calldata token, uint8 half, bool strict) private view {
        if (token.token >= tokens || (strict && token.token == tokens - 1)) revert RelationNotProved(resting, token.token);
        if (!TokenTree.verify(token.proof, _roots[resting], half, token.token, token.words)) revert BadMerkleProof(resting, token.token);
    }

    function _checkTicket(Bid calldata bid, bytes32 root) private view {
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(TICKET_TYPEHASH, bid.bidder, uint8(bid.side), bid.slot, bid.notAfter, root, bid.commitment))
        );
        (address signer, ECDSA.RecoverError error_, ) = ECDSA.tryRecoverCalldata(digest, bid.ticketSignature);
        if (error_ != ECDSA.RecoverError.NoError || signer != ticketSigner) revert BadTicket(signer);
    }

    // ------------------------------------------------------------------------------------------------ removal

    /// @notice Withdraws a resting bid; `prev` is the bid before it in its list (0: it is the head), `signature` its
    /// one-time key's EIP-712 `Cancel(bidder)`. A bid that no longer rests (or matched on arrival) answers
    /// `BidNotOpen`, a bidder never placed `UnknownBid`, a `prev` that is not its predecessor `StaleHint`.
    function cancelBid(address bidder, address prev, bytes calldata signature) external {
        Record memory record = _records[bidder];
        if (record.status == Status.None) revert UnknownBid(bidder);
        if (record.status != Status.Open) revert BidNotOpen(bidder);
        address signer = ECDSA.recover(_hashTypedDataV4(keccak256(abi.encode(CANCEL_TYPEHASH, bidder))), signature);
        if (signer != bidder) revert NotOwner(bidder, signer);
        bool linked = prev == address(0) ? _heads[record.list] == bidder : _records[prev].next == bidder;
        if (!linked) revert StaleHint(prev);
        _remove(bidder, prev, record.list);
        emit BidCancelled(record.list >> 1, bidder, Side(record.list & 1));
    }

    /// @notice Unlinks up to `max` expired bids of a slot's list from its head on (all of a closed slot's). A slot
    /// above MAX_SLOT has no list (nothing to purge).
    function purge(uint32 slot, Side side, uint256 max) external returns (uint256 purged) {
        if (slot > MAX_SLOT) return 0;
        bool closed = block.timestamp >= gateClosure(slot);
        uint32 list = _list(slot, side);
        address prev;
        address bidder = _heads[list];
        while (bidder != address(0) && purged < max) {
            Record storage record = _records[bidder];
            address next = record.next;
            if (closed || block.timestamp > record.notAfter) {
                _remove(bidder, prev, list);
                emit BidExpired(slot, bidder, side);
                ++purged;
            } else {
                prev = bidder;
            }
            bidder = next;
        }
    }

    function _dropExpiredHeads(uint32 slot, Side side, uint32 list) private returns (address head) {
        head = _heads[list];
        uint256 expired;
        for (address bidder = head; bidder != address(0) && block.timestamp > _records[bidder].notAfter; bidder = _records[bidder].next) {
            if (++expired > MAX_EXPIRED_DROPS) revert ExpiredBacklog(slot, side);
        }
        for (uint256 i; i < expired; ++i) {
            _remove(head, address(0), list);
            emit BidExpired(slot, head, side);
            head = _heads[list];
        }
    }

    /// @dev Unlinks resting bid `bidder` (after `prev`, 0: the head of `list`), closes its record (kept: the
    /// single-use mark) and deletes its root.
    function _remove(address bidder, address prev, uint32 list) private {
        Record storage record = _records[bidder];
        address next = record.next;
        if (prev == address(0)) _heads[list] = next;
        else _records[prev].next = next;
        record.next = address(0);
        record.status = Status.Closed;
        delete _roots[bidder];
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

    /// @notice A slot's list on one side, best first, by bidder (empty above MAX_SLOT: no such list).
    function book(uint32 slot, Side side) external view returns (address[] memory bidders) {
        if (slot > MAX_SLOT) return bidders;
        uint32 list = _list(slot, side);
        uint256 count;
        for (address bidder = _heads[list]; bidder != address(0); bidder = _records[bidder].next) ++count;
        bidders = new address[](count);
        uint256 i;
        for (address bidder = _heads[list]; bidder != address(0); bidder = _records[bidder].next) bidders[i++] = bidder;
    }

    /// @notice A bid: its status, expiry, slot, side, the bid after it and its root (the last two only while it rests;
    /// slot and side only for a bid that rested).
    function getBid(address bidder)
        external
        view
        returns (Status status, uint40 notAfter, uint32 slot, Side side, address next, bytes32 ciphertextRoot)
    {
        Record memory record = _records[bidder];
        return (record.status, record.notAfter, record.list >> 1, Side(record.list & 1), record.next, _roots[bidder]);
    }

    /// @notice The EIP-712 domain separator (tickets and cancels).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }
}
