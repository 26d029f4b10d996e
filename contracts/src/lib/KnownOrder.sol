// What the market already knows about the order of its bids, so that a Compare is not paid for twice (PROTOCOL §5).
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title KnownOrder
/// @notice Remembers the result of every Compare the market has run and answers a later question about the same two
/// bids without the pairing precompile, so the heaps make exactly the decisions PROTOCOL §5 prescribes while the
/// precompile runs less often. A bid's ciphertext never changes, so Compare(L(a), R(b)) is a fixed fact, and:
/// - Compare(L(a), R(b)) is known once it ran;
/// - it is true once Compare(L(b), R(a)) came out false (level(b) < level(a), so level(a) ≥ level(b)).
/// Heaps ask the same pair again surprisingly often (bottom-up removal re-meets siblings, a sifted bid meets the
/// bid it displaced): uniform random bids, 500 per book (plaintext reference, 5 seeds) need 4.54 → 3.88 pairing
/// checks per bid at 10 levels and 4.66 → 3.84 at 50; the matches are the same pair for pair.
/// @dev Deliberately no inference through a third bid (transitivity, classes of equal bids): it would save another
/// ≈ 15 % of checks at 10 levels, but a meter that encrypts a crafted vector instead of a price (the chain cannot
/// tell) could then bridge honest bids into a false order for good. Facts about one pair are exact for any two
/// honest bids, and a crafted bid only ever affects decisions about itself, as without this library.
/// Every resting bid's R still went through the precompile: a new bid has no facts yet, and the only one its own
/// placement records before it sifts up is about the opposite book's root (see MarketBook's `_placeBuy`).
/// Cost: 2 storage reads per question, one new slot (22,100 gas) per check that runs, against 34,000·d + 45,000 gas
/// per check saved.
library KnownOrder {
    /// @dev Stored results: 0 means "never compared".
    uint256 private constant LESS = 1; // Compare(L(a), R(b)) was false: level(a) < level(b)
    uint256 private constant AT_LEAST = 2; // Compare(L(a), R(b)) was true: level(a) ≥ level(b)

    struct Facts {
        /// @dev pairKey(a, b) => LESS or AT_LEAST.
        mapping(uint256 pair => uint256) results;
    }

    /// @notice What is known of Compare(L(a), R(b)), i.e. level(a) ≥ level(b).
    /// @return known Whether the answer follows from a recorded result.
    /// @return result The answer, when known.
    function lookup(Facts storage facts, uint256 a, uint256 b) internal view returns (bool known, bool result) {
        uint256 direct = facts.results[pairKey(a, b)];
        if (direct != 0) return (true, direct == AT_LEAST);
        if (facts.results[pairKey(b, a)] == LESS) return (true, true);
        return (false, false);
    }

    /// @notice Records the result of a Compare that ran.
    function record(Facts storage facts, uint256 a, uint256 b, bool result) internal {
        facts.results[pairKey(a, b)] = result ? AT_LEAST : LESS;
    }

    function pairKey(uint256 a, uint256 b) private pure returns (uint256) {
        return (a << 128) | b;
    }
}
