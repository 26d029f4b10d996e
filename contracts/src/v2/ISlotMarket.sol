// The v2 market's interface (PROTOCOL §5 bidding and matching, v2): types, events and named errors.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title ISlotMarket
/// @notice Per delivery slot a buy list (descending price) and a sell list (ascending) with price-time priority,
/// ordered only by block-token relations (PROTOCOL §3.2), each proved by one zero test given its hint.
interface ISlotMarket {
    enum Side {
        Buy,
        Sell
    }

    /// @notice A bid's state: none (its bidder never placed), open (it rests), closed (matched, cancelled, expired).
    enum Status {
        None,
        Open,
        Closed
    }

    /// @notice One token of a resting bid (the one the hint names at that place), proved against its stored root.
    /// @param token The token index (0 … m−1 blocks, m the equality token).
    /// @param words The token's words: left (K2, 2d words) or right (C2, 4d words), as the relation needs.
    /// @param proof Its Merkle proof against the bid's `ciphertextRoot`.
    struct RestingToken {
        uint8 token;
        uint256[] words;
        bytes32[] proof;
    }

    /// @notice Where and why a new bid goes: untrusted, every relation it names is proved on chain. Bids are named by
    /// their one-time bidder (PROTOCOL §4: the bid's one-time identifier; 0 = none).
    /// @param head The opposite list's head once its expired heads are dropped (0: empty).
    /// @param matchHead The claim: the new bid crosses that head (then `headToken` proves it), else it does not.
    /// @param headToken The head's token for the claimed relation (unused when `head` is 0).
    /// @param prev Rest after this bid of the new bid's own list (0: at its head); unused on a match.
    /// @param prevToken The previous bid's token (its price is at least as good, so the new bid queues behind it).
    /// @param next The bid after `prev` (or the own list's head) as the book holds it (0: none).
    /// @param nextToken The following bid's token (its price is strictly worse); unused when there is none.
    struct Hint {
        address head;
        bool matchHead;
        RestingToken headToken;
        address prev;
        RestingToken prevToken;
        address next;
        RestingToken nextToken;
    }

    /// @notice A certified bid (PROTOCOL §4 v2): the DSO's ticket signs its bidder, side, slot, expiry,
    /// `ciphertextRoot` (the root over its tokens) and commitment. `ciphertext` holds the tokens' words in one array:
    /// left tokens 0 … m (K2, 2d words each), then right tokens 0 … m (C2, 4d words each); 6d(m + 1) words.
    struct Bid {
        address bidder;
        Side side;
        uint32 slot;
        uint40 notAfter;
        bytes32 commitment;
        uint256[] ciphertext;
        bytes ticketSignature;
        Hint hint;
    }

    /// @notice A bid was accepted and rests after `prev` (0: at its list's head).
    event BidPlaced(uint32 indexed slot, address indexed bidder, Side side, address prev, bytes32 commitment, bytes32 ciphertextRoot);
    /// @notice A bid arrived (`arriving` is its side) and crossed the opposite head. The arriving bid's `commitment`
    /// and `ciphertextRoot` are given here: it never rested, so no `BidPlaced` came before.
    event Matched(
        uint32 indexed slot,
        address indexed buyBidder,
        address indexed sellBidder,
        Side arriving,
        bytes32 commitment,
        bytes32 ciphertextRoot
    );
    event BidExpired(uint32 indexed slot, address indexed bidder, Side side);
    event BidCancelled(uint32 indexed slot, address indexed bidder, Side side);
    /// @notice A batch entry was rejected with `reason` (its custom error); the rest of the batch went on.
    event BidRejected(uint256 index, address bidder, bytes4 reasonSelector, bytes reason);

    error WrongLength(uint256 expected, uint256 actual);
    error BadTicket(address signer);
    error TicketExpired(uint40 notAfter);
    error SlotClosed(uint32 slot, uint256 gateClosure);
    /// @notice Slots are numbered below 2^31.
    error SlotOutOfRange(uint32 slot);
    /// @notice A ticket for the zero address (which means "none" in the lists).
    error ZeroBidder();
    error BidderAlreadyUsed(address bidder);
    /// @notice The book changed since the hint was made: the gateway re-hints and resubmits.
    error StaleHint(address bidder);
    error BadMerkleProof(address bidder, uint8 token);
    error RelationNotProved(address bidder, uint8 token);
    error ExpiredBacklog(uint32 slot, Side side);
    error NotOwner(address bidder, address signer);
    error UnknownBid(address bidder);
    error BidNotOpen(address bidder);
    error BatchEntryOutOfGas(uint256 index);
    error OnlySelf();
    error PairingCheckFailed();
    error InvalidEncoding(uint256 dim, uint256 tokens);
    error InvalidCalendar(uint32 slotSeconds, uint32 gateClosureSeconds);
}
