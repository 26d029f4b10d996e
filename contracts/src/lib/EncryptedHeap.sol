// Binary heap of bid ids ordered only through a comparator (each call is one pairing check): PROTOCOL §5.
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title EncryptedHeap
/// @notice A binary heap (root at index 0, children of i at 2i+1 and 2i+2) of uint32 bid ids whose order is given
/// by `above(a, b)`: true iff bid `a` must sit strictly above bid `b` (not `view`: the market records what each
/// comparison taught it, see KnownOrder). Ties never move a bid, so equal prices keep
/// their arrival order along a path. Every id's position is reported through `setPosition`, so that a bid can be
/// removed from anywhere (cancel, purge) in O(log n).
/// @dev Why not OpenZeppelin's `Heap`: it has no removal at an arbitrary position and no position tracking, and its
/// pop spends two comparator calls per level. Here removal is "bottom-up" (Wegener): the hole left by the removed
/// bid descends to a leaf along the better child (one comparison per level), then the former last bid is sifted up
/// from that leaf (usually one comparison). A pop costs about log2(n) + 1 pairing checks instead of 2·log2(n).
/// The plaintext reference order book (protocol/book/referenceOrderBook.ts) mirrors this file step for step.
library EncryptedHeap {
    /// @dev `nodes` packs eight uint32 ids per storage slot.
    struct Heap {
        uint32[] nodes;
    }

    function size(Heap storage heap) internal view returns (uint256) {
        return heap.nodes.length;
    }

    /// @dev Reverts (array out of bounds) on an empty heap; callers check `size` first.
    function root(Heap storage heap) internal view returns (uint32) {
        return heap.nodes[0];
    }

    /// @notice Adds `bidId` at the end and sifts it up while it belongs strictly above its parent.
    function insert(
        Heap storage heap,
        uint32 bidId,
        function(uint32, uint32) returns (bool) above,
        function(uint32, uint256) setPosition
    ) internal {
        uint256 hole = heap.nodes.length;
        heap.nodes.push();
        _siftUpInto(heap, hole, bidId, above, setPosition);
    }

    /// @notice Removes the bid at `position` (0 = root).
    function removeAt(
        Heap storage heap,
        uint256 position,
        function(uint32, uint32) returns (bool) above,
        function(uint32, uint256) setPosition
    ) internal {
        uint32[] storage nodes = heap.nodes;
        uint256 newSize = nodes.length - 1;
        uint32 last = nodes[newSize];
        nodes.pop();
        if (position == newSize) return;
        // Descend: the better child moves up into the hole until the hole is a leaf.
        uint256 hole = position;
        while (true) {
            uint256 child = 2 * hole + 1;
            if (child >= newSize) break;
            uint32 best = nodes[child];
            if (child + 1 < newSize) {
                uint32 right = nodes[child + 1];
                if (above(right, best)) {
                    best = right;
                    child += 1;
                }
            }
            nodes[hole] = best;
            setPosition(best, hole);
            hole = child;
        }
        // The former last bid fills the leaf hole and climbs as far as it must (possibly above `position`).
        _siftUpInto(heap, hole, last, above, setPosition);
    }

    function _siftUpInto(
        Heap storage heap,
        uint256 hole,
        uint32 bidId,
        function(uint32, uint32) returns (bool) above,
        function(uint32, uint256) setPosition
    ) private {
        uint32[] storage nodes = heap.nodes;
        while (hole > 0) {
            uint256 parentPosition = (hole - 1) / 2;
            uint32 parent = nodes[parentPosition];
            if (!above(bidId, parent)) break;
            nodes[hole] = parent;
            setPosition(parent, hole);
            hole = parentPosition;
        }
        nodes[hole] = bidId;
        setPosition(bidId, hole);
    }
}
