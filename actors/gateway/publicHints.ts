// The gateway's fallback hint source (PROTOCOL §5 v2: "a gateway can compute them from public data"): the same batch
// hints as the DSO's, from ciphertexts alone — zero tests of each new bid against the resting ones (slow: each
// question up to m + 1 pairings), with the contract's rules for expired heads, matches and positions applied to the
// lists it is given, so each hint reflects the bids before it.
import { ZeroAddress } from "ethers";
import { makeHint, proverFromCiphertexts, type BatchHint, type SlotLists } from "../../contracts/client/v2/slotMarket.ts";
import { SLOT_MAX_EXPIRED_DROPS, slotOpen, type BookSideName, type SlotCalendar } from "../../protocol/book/slotBooks.ts";
import { decodeBlockCiphertext, type BlockCiphertext, type BlockPoints } from "../../protocol/encoding/blockBid.ts";
import type { BlockParams } from "../../protocol/encoding/blockTokens.ts";
import { SlotPlacementError } from "./errors.ts";
import type { HintSource } from "./slotPlacer.ts";

/** What public data says of a bid: from the calldata that placed it, or from the submission the gateway holds. */
export type PublicBid = { side: BookSideName; notAfter: number; ciphertext: BlockCiphertext };

export function publicHintSource(options: { bidOf: (bidder: string) => PublicBid | undefined; params: BlockParams; calendar: SlotCalendar }): HintSource {
  const points = new Map<string, BlockPoints>();
  return async (slot, lists, bidders, now) => {
    const numbers = new Map<string, number>();
    const names: string[] = [""];
    const number = (bidder: string) => {
      const key = bidder.toLowerCase();
      let id = numbers.get(key);
      if (id === undefined) {
        id = names.length;
        names.push(bidder);
        numbers.set(key, id);
      }
      return id;
    };
    const bid = (bidder: string): PublicBid => {
      const found = options.bidOf(bidder);
      if (found === undefined) throw new SlotPlacementError({ kind: "unknownBid", bidder });
      return found;
    };
    const pointsOf = (bidder: string) => {
      const key = bidder.toLowerCase();
      let decoded = points.get(key);
      if (decoded === undefined) {
        decoded = decodeBlockCiphertext(bid(bidder).ciphertext);
        points.set(key, decoded);
      }
      return decoded;
    };
    const book = { buy: lists.buy.map(number), sell: lists.sell.map(number) };
    const used = new Set([...lists.buy, ...lists.sell].map((bidder) => bidder.toLowerCase()));
    const hints: BatchHint[] = bidders.map((bidder) => {
      const own = bid(bidder);
      const side = own.side;
      const opposite = side === "buy" ? "sell" : "buy";
      const hint = makeHint({
        side,
        ownList: book[side],
        oppositeList: book[opposite],
        notAfterOf: (id) => bid(names[id]!).notAfter,
        bidderOf: (id) => names[id]!,
        ciphertextOf: (id) => bid(names[id]!).ciphertext,
        prove: proverFromCiphertexts((id) => pointsOf(names[id]!), pointsOf(bidder), options.params),
        now,
        params: options.params,
      });
      const refused = (reason: "SlotClosed" | "TicketExpired" | "BidderAlreadyUsed" | "ExpiredBacklog") => ({ bidder, hint, outcome: { placed: false as const, reason } });
      if (!slotOpen(slot, now, options.calendar)) return refused("SlotClosed");
      if (now > own.notAfter) return refused("TicketExpired");
      if (used.has(bidder.toLowerCase())) return refused("BidderAlreadyUsed");
      // The contract's rules, on the lists: expired heads of the opposite list go first (a longer backlog refuses).
      let expired = 0;
      while (expired < book[opposite].length && now > bid(names[book[opposite][expired]!]!).notAfter) expired += 1;
      if (expired > SLOT_MAX_EXPIRED_DROPS) return refused("ExpiredBacklog");
      book[opposite].splice(0, expired);
      used.add(bidder.toLowerCase());
      if (hint.matchHead) {
        book[opposite].shift();
        return { bidder, hint, outcome: { placed: true as const, matchedWith: hint.head } };
      }
      const at = hint.prev === ZeroAddress ? 0 : book[side].indexOf(number(hint.prev)) + 1;
      book[side].splice(at, 0, number(bidder));
      return { bidder, hint, outcome: { placed: true as const, matchedWith: null } };
    });
    const after: SlotLists = { buy: book.buy.map((id) => names[id]!), sell: book.sell.map((id) => names[id]!) };
    return { hints, lists: after };
  };
}
