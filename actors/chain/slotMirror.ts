// A mirror of every slot's v2 books from public chain data only (PROTOCOL §5 v2: "a gateway can compute hints from
// public data"): the market's events in order, and for each bid that rests the calldata of the transaction that
// placed it (its ciphertext and expiry). With it, anyone makes hints with off-chain zero tests (proverFromCiphertexts).
import { ZeroAddress, type Log, type Provider, type TransactionResponse } from "ethers";
import { decodeBlockCiphertext, type BlockCiphertext, type BlockPoints } from "../../protocol/encoding/blockBid.ts";
import type { BlockParams } from "../../protocol/encoding/blockTokens.ts";
import type { BookSideName } from "../../protocol/book/slotBooks.ts";
import { ciphertextFromWords, decodeSlotMarketEvents, makeHint, proverFromCiphertexts, type SlotHint, type SlotMarketEvent, type SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import { SlotMirrorError } from "./errors.ts";

/** What the mirror keeps of a resting bid: from its placement's calldata. */
type RestingBid = { bidder: string; slot: number; side: BookSideName; notAfter: number; ciphertext: BlockCiphertext; points?: BlockPoints };

export class SlotChainMirror {
  readonly #market: SlotMarketHandle;
  readonly #params: BlockParams;
  /** Lists by `slot:side`, best first, by lower-case bidder. */
  readonly #lists = new Map<string, string[]>();
  readonly #bids = new Map<string, RestingBid>();
  /** Local numbers for makeHint (which names bids by number), by lower-case bidder. */
  readonly #numbers = new Map<string, number>();
  readonly #bidders: string[] = [""];
  #nextBlock = 0;

  constructor(market: SlotMarketHandle, params: BlockParams, fromBlock = 0) {
    this.#market = market;
    this.#params = params;
    this.#nextBlock = fromBlock;
  }

  /** Reads the market's logs from the last block read up to `toBlock` (default: latest) and applies them in order. */
  async follow(provider: Provider, toBlock?: number): Promise<number> {
    const last = toBlock ?? (await provider.getBlockNumber());
    if (last < this.#nextBlock) return 0;
    const logs = await provider.getLogs({ address: this.#market.address, fromBlock: this.#nextBlock, toBlock: last });
    const transactions = new Map<string, TransactionResponse>();
    let applied = 0;
    for (const log of [...logs].sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index)) {
      for (const event of decodeSlotMarketEvents(this.#market, [log])) {
        await this.#apply(event, log, provider, transactions);
        applied += 1;
      }
    }
    this.#nextBlock = last + 1;
    return applied;
  }

  /** A slot's list on one side, best first, by bidder (as the contract's `book()` returns it, lower-case). */
  book(slot: number, side: BookSideName): readonly string[] {
    return this.#lists.get(`${slot}:${side}`) ?? [];
  }

  /** A hint for a new bid from public data only: zero tests of its ciphertext against the resting bids'. */
  hint(bid: { side: BookSideName; slot: number; ciphertext: BlockCiphertext }, now: number): SlotHint {
    const number = (bidder: string) => this.#numberOf(bidder);
    const bidOf = (id: number) => this.#bids.get(this.#bidders[id]!)!;
    const pointsOf = (id: number) => {
      const resting = bidOf(id);
      resting.points ??= decodeBlockCiphertext(resting.ciphertext);
      return resting.points;
    };
    return makeHint({
      side: bid.side,
      ownList: this.book(bid.slot, bid.side).map(number),
      oppositeList: this.book(bid.slot, bid.side === "buy" ? "sell" : "buy").map(number),
      notAfterOf: (id) => bidOf(id).notAfter,
      bidderOf: (id) => bidOf(id).bidder,
      ciphertextOf: (id) => bidOf(id).ciphertext,
      prove: proverFromCiphertexts(pointsOf, decodeBlockCiphertext(bid.ciphertext), this.#params),
      now,
      params: this.#params,
    });
  }

  #numberOf(bidder: string): number {
    const key = bidder.toLowerCase();
    let number = this.#numbers.get(key);
    if (number === undefined) {
      number = this.#bidders.length;
      this.#bidders.push(key);
      this.#numbers.set(key, number);
    }
    return number;
  }

  async #apply(event: SlotMarketEvent, log: Log, provider: Provider, transactions: Map<string, TransactionResponse>): Promise<void> {
    switch (event.type) {
      case "placed": {
        const list = this.#list(event.slot, event.side);
        const bidder = event.bidder.toLowerCase();
        const prev = event.prev.toLowerCase();
        const at = prev === ZeroAddress ? 0 : list.indexOf(prev) + 1;
        if (at === 0 && prev !== ZeroAddress) throw new SlotMirrorError({ kind: "unknownPrev", bidder, prev, txHash: log.transactionHash });
        const placed = await this.#calldataOf(bidder, log, provider, transactions);
        list.splice(at, 0, bidder);
        this.#bids.set(bidder, { bidder: event.bidder, slot: event.slot, side: event.side, notAfter: placed.notAfter, ciphertext: placed.ciphertext });
        this.#numberOf(bidder);
        break;
      }
      case "matched": {
        // The resting bid was the opposite list's head.
        const resting = (event.arriving === "buy" ? event.sellBidder : event.buyBidder).toLowerCase();
        this.#remove(event.slot, event.arriving === "buy" ? "sell" : "buy", resting, log);
        break;
      }
      case "expired":
      case "cancelled":
        this.#remove(event.slot, event.side, event.bidder.toLowerCase(), log);
        break;
      case "rejected":
        break;
    }
  }

  #list(slot: number, side: BookSideName): string[] {
    const key = `${slot}:${side}`;
    let list = this.#lists.get(key);
    if (list === undefined) {
      list = [];
      this.#lists.set(key, list);
    }
    return list;
  }

  #remove(slot: number, side: BookSideName, bidder: string, log: Log): void {
    const list = this.#list(slot, side);
    const at = list.indexOf(bidder);
    if (at === -1) throw new SlotMirrorError({ kind: "unknownBid", bidder, txHash: log.transactionHash });
    list.splice(at, 1);
    this.#bids.delete(bidder);
  }

  /** The placed bid's ciphertext and expiry, from the calldata of the transaction that placed it (one or a batch). */
  async #calldataOf(bidder: string, log: Log, provider: Provider, transactions: Map<string, TransactionResponse>): Promise<{ notAfter: number; ciphertext: BlockCiphertext }> {
    let tx = transactions.get(log.transactionHash);
    if (tx === undefined) {
      const fetched = await provider.getTransaction(log.transactionHash);
      if (fetched === null) throw new SlotMirrorError({ kind: "noTransaction", bidder, txHash: log.transactionHash });
      tx = fetched;
      transactions.set(log.transactionHash, tx);
    }
    const parsed = this.#market.contract.interface.parseTransaction({ data: tx.data });
    const bids = parsed === null ? [] : parsed.name === "placeBid" ? [parsed.args[0]] : parsed.name === "placeBids" ? [...parsed.args[0]] : [];
    const bid = bids.find((entry: { bidder: string }) => entry.bidder.toLowerCase() === bidder);
    if (bid === undefined) throw new SlotMirrorError({ kind: "notInCalldata", bidder, txHash: log.transactionHash });
    return { notAfter: Number(bid.notAfter), ciphertext: ciphertextFromWords([...bid.ciphertext] as bigint[], this.#params) };
  }
}
