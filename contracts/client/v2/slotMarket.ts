// The v2 market's TypeScript client (contracts/src/v2/SlotMarket.sol): deploy, tickets, certified bids, hints from a
// mirror of the books, placement, cancel, purge and the books in order.
import { Contract, ContractFactory, ZeroAddress, type ContractRunner, type Signer, type TypedDataDomain } from "ethers";
import { loadArtifact } from "../artifact.ts";
import { CANCEL_TYPES } from "../eip712.ts";
import { revertDataOf } from "../errors.ts";
import { hintFromCiphertexts, type BlockCiphertext, type BlockPoints } from "../../../protocol/encoding/blockBid.ts";
import { hintFromLevels, tokenOfHint, type BlockParams, type RelationHint } from "../../../protocol/encoding/blockTokens.ts";
import { ciphertextRoot, ciphertextTree, tokenProof, type TokenHalf } from "../../../protocol/encoding/ciphertextRoot.ts";
import { SLOT_MAX_EXPIRED_DROPS, type BookSideName, type PlacementRejection, type SlotBooks, type SlotCalendar } from "../../../protocol/book/slotBooks.ts";


export const SLOT_TICKET_TYPES = {
  Ticket: [
    { name: "bidder", type: "address" },
    { name: "side", type: "uint8" },
    { name: "slot", type: "uint32" },
    { name: "notAfter", type: "uint40" },
    { name: "ciphertextRoot", type: "bytes32" },
    { name: "commitment", type: "bytes32" },
  ],
};

export const SIDE_CODE: Record<BookSideName, number> = { buy: 0, sell: 1 };

export type SlotMarketHandle = { contract: Contract; address: string; domain: TypedDataDomain; params: BlockParams; calendar: SlotCalendar };

export async function deploySlotMarket(
  deployer: Signer,
  options: { ticketSigner: string; params: BlockParams; calendar: SlotCalendar },
): Promise<SlotMarketHandle> {
  const { abi, bytecode } = loadArtifact("SlotMarket");
  const factory = new ContractFactory(abi, bytecode, deployer);
  const deployed = await factory.deploy(
    options.ticketSigner,
    options.params.dim,
    options.params.tokens,
    options.calendar.slotSeconds,
    options.calendar.gateClosureSeconds,
  );
  await deployed.waitForDeployment();
  return attachSlotMarket(await deployed.getAddress(), deployer, options.params, options.calendar);
}

export async function attachSlotMarket(address: string, runner: ContractRunner, params: BlockParams, calendar: SlotCalendar): Promise<SlotMarketHandle> {
  const contract = new Contract(address, loadArtifact("SlotMarket").abi, runner);
  const domain = await contract.getFunction("eip712Domain")();
  return {
    contract,
    address,
    params,
    calendar,
    domain: { name: String(domain[1]), version: String(domain[2]), chainId: BigInt(domain[3]), verifyingContract: String(domain[4]) },
  };
}

/** A certified bid as the contract takes it, before its hint. */
export type CertifiedBid = {
  bidder: string;
  side: BookSideName;
  slot: number;
  notAfter: number;
  commitment: string;
  ciphertext: BlockCiphertext;
  ticketSignature: string;
};

/** The DSO signs the ticket over (bidder, side, slot, notAfter, ciphertextRoot, commitment) (PROTOCOL §4 v2). */
export async function certifyBid(
  dsoTicketKey: Signer,
  market: SlotMarketHandle,
  bid: Omit<CertifiedBid, "ticketSignature">,
): Promise<CertifiedBid> {
  const ticketSignature = await dsoTicketKey.signTypedData(market.domain, SLOT_TICKET_TYPES, {
    bidder: bid.bidder,
    side: SIDE_CODE[bid.side],
    slot: bid.slot,
    notAfter: bid.notAfter,
    ciphertextRoot: ciphertextRoot(bid.ciphertext),
    commitment: bid.commitment,
  });
  return { ...bid, ticketSignature };
}

/** What a mirror keeps of every bid it placed: its level (the DSO's knowledge) and its ciphertext (from calldata). */
export type MirroredBid = { level: number; ciphertext: BlockCiphertext };

/** A token of the resting bid the hint names at that place (head, prev or next), with its Merkle proof. */
type RestingToken = { token: number; words: bigint[]; proof: string[] };
/** The contract's `Hint`: bids are named by their one-time bidder (the zero address: none). */
export type SlotHint = { head: string; matchHead: boolean; headToken: RestingToken; prev: string; prevToken: RestingToken; next: string; nextToken: RestingToken };

const NO_TOKEN: RestingToken = { token: 0, words: [], proof: [] };

/** A slot's two lists, best first, by bidder (what the contract's `book()` returns). */
export type SlotLists = { buy: readonly string[]; sell: readonly string[] };

/** A hint for one bid of a batch, and what the contract will do with it (placed: resting or matched; or rejected). */
export type BatchHint = { bidder: string; hint: SlotHint; outcome: { placed: true; matchedWith: string | null } | { placed: false; reason: PlacementRejection } };

/** A bid in a relation: a resting one by id, or the new one. */
type Party = number | "new";

/**
 * How a hint maker learns relations: the proof that `a ≤ b` (`eq`, or `lt` with its block), or null when a > b.
 * The DSO's way reads clear levels; anyone's way runs zero tests on the public ciphertexts.
 */
export type RelationProver = (a: Party, b: Party) => RelationHint | null;

/** The DSO's way: from clear levels (microseconds). */
export function proverFromLevels(levelOf: (id: number) => number, newLevel: number, params: BlockParams): RelationProver {
  const level = (party: Party) => (party === "new" ? newLevel : levelOf(party));
  return (a, b) => hintFromLevels(level(a), level(b), params);
}

/** Anyone's way (a gateway's): zero tests on the public ciphertexts, at most m + 1 per question. */
export function proverFromCiphertexts(pointsOf: (id: number) => BlockPoints, newPoints: BlockPoints, params: BlockParams): RelationProver {
  const points = (party: Party) => (party === "new" ? newPoints : pointsOf(party));
  return (a, b) => hintFromCiphertexts(points(a), points(b), params);
}

/**
 * The hint for a new bid from the books as the chain holds them (`ownList` and `oppositeList` in order, by a mirror's
 * ids, with each bid's expiry and one-time bidder) and a prover. Each resting token is proved against its bid's root.
 * The position is the last bid of the own list at least as good as the new one (time priority), found by binary
 * search. Each question is put to the prover once (from public data one costs up to m + 1 zero tests).
 */
export function makeHint(options: {
  side: BookSideName;
  ownList: readonly number[];
  oppositeList: readonly number[];
  notAfterOf: (id: number) => number;
  bidderOf: (id: number) => string;
  ciphertextOf: (id: number) => BlockCiphertext;
  prove: RelationProver;
  now: number;
  params: BlockParams;
}): SlotHint {
  const { side, ownList, oppositeList, params } = options;
  const answers = new Map<string, RelationHint | null>();
  const prove: RelationProver = (a, b) => {
    const key = `${a}|${b}`;
    if (!answers.has(key)) answers.set(key, options.prove(a, b));
    return answers.get(key)!;
  };
  // The head the contract will see: past the expired heads it drops (a longer backlog is rejected anyway).
  let skipped = 0;
  while (skipped < Math.min(oppositeList.length, SLOT_MAX_EXPIRED_DROPS) && options.now > options.notAfterOf(oppositeList[skipped]!)) skipped += 1;
  const headId = oppositeList[skipped] ?? 0;
  /** The token proving `a ≤ b` as the resting bid's `half` (left when the resting bid is a, right when it is b). */
  const token = (a: Party, b: Party): RestingToken => {
    const resting = a === "new" ? (b as number) : a;
    const half: TokenHalf = a === "new" ? "right" : "left";
    const relation = prove(a, b);
    const index = relation === null ? 0 : tokenOfHint(relation, params);
    const ciphertext = options.ciphertextOf(resting);
    return { token: index, words: ciphertext[half][index]!, proof: tokenProof(ciphertextTree(ciphertext), params.tokens, half, index) };
  };
  const bidder = (id: number | undefined) => (id === undefined || id === 0 ? ZeroAddress : options.bidderOf(id));
  const hint: SlotHint = { head: bidder(headId), matchHead: false, headToken: NO_TOKEN, prev: ZeroAddress, prevToken: NO_TOKEN, next: ZeroAddress, nextToken: NO_TOKEN };
  if (headId !== 0) {
    // buy: s ≤ b matches (s's left), else b < s (s's right); sell: s ≤ h matches (h's right), else h < s (h's left).
    hint.matchHead = side === "buy" ? prove(headId, "new") !== null : prove("new", headId) !== null;
    if (side === "buy") hint.headToken = hint.matchHead ? token(headId, "new") : token("new", headId);
    else hint.headToken = hint.matchHead ? token("new", headId) : token(headId, "new");
    if (hint.matchHead) return hint;
  }
  // Buy list (descending): prev ≥ b, i.e. b ≤ prev; sell list (ascending): prev ≤ s.
  const atLeastAsGood = (id: number) => (side === "buy" ? prove("new", id) !== null : prove(id, "new") !== null);
  // The list is sorted, so "at least as good as the new bid" holds for a prefix of it: binary search for its end
  // (log2 of the list's length questions, which matters when each is up to m + 1 zero tests).
  let low = 0;
  let high = ownList.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (atLeastAsGood(ownList[middle]!)) low = middle + 1;
    else high = middle;
  }
  const prevId = low === 0 ? 0 : ownList[low - 1]!;
  const nextId = ownList[low];
  hint.prev = bidder(prevId);
  hint.next = bidder(nextId);
  // buy: b ≤ prev (prev's right), next < b (next's left); sell: prev ≤ s (prev's left), s < next (next's right).
  if (prevId !== 0) hint.prevToken = side === "buy" ? token("new", prevId) : token(prevId, "new");
  if (nextId !== undefined) hint.nextToken = side === "buy" ? token(nextId, "new") : token("new", nextId);
  return hint;
}

/** The DSO's hint, from a mirror of the books (the reference, in step with the chain) and clear levels. */
export function hintFromMirror(
  books: SlotBooks,
  bids: ReadonlyMap<number, MirroredBid>,
  bid: { side: BookSideName; slot: number; level: number },
  now: number,
  params: BlockParams,
): SlotHint {
  return makeHint({
    side: bid.side,
    ownList: books.book(bid.slot, bid.side),
    oppositeList: books.book(bid.slot, bid.side === "buy" ? "sell" : "buy"),
    notAfterOf: (id) => books.bid(id)!.notAfter,
    bidderOf: (id) => books.bid(id)!.bidder,
    ciphertextOf: (id) => bids.get(id)!.ciphertext,
    prove: proverFromLevels((id) => bids.get(id)!.level, bid.level, params),
    now,
    params,
  });
}

/** A hint in JSON form (words as decimal strings), as it travels between the DSO and the gateway. */
export type SlotHintWire = {
  head: string;
  matchHead: boolean;
  headToken: { token: number; words: string[]; proof: string[] };
  prev: string;
  prevToken: { token: number; words: string[]; proof: string[] };
  next: string;
  nextToken: { token: number; words: string[]; proof: string[] };
};

export function slotHintToWire(hint: SlotHint): SlotHintWire {
  const token = (t: RestingToken) => ({ token: t.token, words: t.words.map(String), proof: [...t.proof] });
  return { head: hint.head, matchHead: hint.matchHead, headToken: token(hint.headToken), prev: hint.prev, prevToken: token(hint.prevToken), next: hint.next, nextToken: token(hint.nextToken) };
}

export function slotHintFromWire(hint: SlotHintWire): SlotHint {
  const token = (t: SlotHintWire["headToken"]): RestingToken => ({ token: t.token, words: t.words.map(BigInt), proof: [...t.proof] });
  return { head: hint.head, matchHead: hint.matchHead, headToken: token(hint.headToken), prev: hint.prev, prevToken: token(hint.prevToken), next: hint.next, nextToken: token(hint.nextToken) };
}

/** A ciphertext as the contract takes it: left tokens 0 … m, then right tokens 0 … m, in one word array. */
export function ciphertextWords(ciphertext: BlockCiphertext): bigint[] {
  return [...ciphertext.left.flat(), ...ciphertext.right.flat()];
}

/** The inverse of `ciphertextWords` (e.g. a bid read back from calldata): left tokens of 2d words, right of 4d. */
export function ciphertextFromWords(words: readonly bigint[], params: BlockParams): BlockCiphertext {
  const { dim, tokens } = params;
  const rightStart = 2 * dim * tokens;
  return {
    left: Array.from({ length: tokens }, (_, t) => words.slice(2 * dim * t, 2 * dim * (t + 1))),
    right: Array.from({ length: tokens }, (_, t) => words.slice(rightStart + 4 * dim * t, rightStart + 4 * dim * (t + 1))),
  };
}

/** The contract's `Bid` tuple. */
export function bidTuple(bid: CertifiedBid, hint: SlotHint) {
  return {
    bidder: bid.bidder,
    side: SIDE_CODE[bid.side],
    slot: bid.slot,
    notAfter: bid.notAfter,
    commitment: bid.commitment,
    ciphertext: ciphertextWords(bid.ciphertext),
    ticketSignature: bid.ticketSignature,
    hint,
  };
}

/** A slot's list on one side, best first, as the contract holds it: the bids' one-time bidders. */
export async function readBook(market: SlotMarketHandle, slot: number, side: BookSideName): Promise<string[]> {
  return [...((await market.contract.getFunction("book")(slot, SIDE_CODE[side])) as string[])];
}

/** The contract's custom error behind a failed call or transaction (its name and arguments), or undefined. */
export function slotMarketErrorOf(market: SlotMarketHandle, error: unknown): { name: string; args: unknown[] } | undefined {
  const data = revertDataOf(error);
  // No selector: not a custom error (an out-of-gas reverts without data).
  if (data === undefined || data.length < 10) return undefined;
  const parsed = market.contract.interface.parseError(data);
  return parsed === null ? undefined : { name: parsed.name, args: [...parsed.args] };
}

/**
 * Places a bid, making its hint anew while the contract answers `StaleHint` (the book changed between hint and
 * placement): at most `attempts` placements. A bidder is single-use on chain, so a retry can never place it twice;
 * any other rejection is thrown at once.
 */
export async function placeWithFreshHints(
  market: SlotMarketHandle,
  bid: CertifiedBid,
  hintNow: () => SlotHint | Promise<SlotHint>,
  options: { attempts: number; gasLimit: bigint; beforeSend?: () => Promise<void> },
): Promise<{ attempts: number; receipt: unknown }> {
  for (let attempt = 1; ; attempt++) {
    await options.beforeSend?.();
    try {
      const tx = await market.contract.getFunction("placeBid")(bidTuple(bid, await hintNow()), { gasLimit: options.gasLimit });
      return { attempts: attempt, receipt: await tx.wait() };
    } catch (error) {
      if (slotMarketErrorOf(market, error)?.name !== "StaleHint" || attempt >= options.attempts) throw error;
    }
  }
}

/** The v2 market's events, decoded: what a mirror of every slot's books follows. Bids are named by their bidder. */
export type SlotMarketEvent =
  | { type: "placed"; slot: number; bidder: string; side: BookSideName; prev: string; commitment: string; ciphertextRoot: string }
  /** A bid arrived on side `arriving` and crossed the opposite head; its commitment and root come with the match. */
  | { type: "matched"; slot: number; buyBidder: string; sellBidder: string; arriving: BookSideName; commitment: string; ciphertextRoot: string }
  | { type: "expired" | "cancelled"; slot: number; bidder: string; side: BookSideName }
  | { type: "rejected"; index: number; bidder: string; reason: string };

const SIDE_NAME: readonly BookSideName[] = ["buy", "sell"];

/** Decodes the market's logs among `logs` (others are skipped), in order. A rejection names its custom error. */
export function decodeSlotMarketEvents(market: SlotMarketHandle, logs: readonly { address: string; topics: readonly string[]; data: string }[]): SlotMarketEvent[] {
  const events: SlotMarketEvent[] = [];
  for (const log of logs) {
    if (log.address.toLowerCase() !== market.address.toLowerCase()) continue;
    const parsed = market.contract.interface.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed === null) continue;
    const a = parsed.args;
    switch (parsed.name) {
      case "BidPlaced":
        events.push({
          type: "placed",
          slot: Number(a.slot),
          bidder: String(a.bidder),
          side: SIDE_NAME[Number(a.side)]!,
          prev: String(a.prev),
          commitment: String(a.commitment),
          ciphertextRoot: String(a.ciphertextRoot),
        });
        break;
      case "Matched":
        events.push({
          type: "matched",
          slot: Number(a.slot),
          buyBidder: String(a.buyBidder),
          sellBidder: String(a.sellBidder),
          arriving: SIDE_NAME[Number(a.arriving)]!,
          commitment: String(a.commitment),
          ciphertextRoot: String(a.ciphertextRoot),
        });
        break;
      case "BidExpired":
      case "BidCancelled":
        events.push({ type: parsed.name === "BidExpired" ? "expired" : "cancelled", slot: Number(a.slot), bidder: String(a.bidder), side: SIDE_NAME[Number(a.side)]! });
        break;
      case "BidRejected": {
        const reason = market.contract.interface.parseError(String(a.reason));
        events.push({ type: "rejected", index: Number(a.index), bidder: String(a.bidder), reason: reason?.name ?? String(a.reasonSelector) });
        break;
      }
    }
  }
  return events;
}

type TxOverrides = { gasLimit: bigint };
type Receipt = { logs: readonly { address: string; topics: readonly string[]; data: string }[]; gasUsed: bigint };

/** One entry of a batch: placed (resting, or matched with the head `matchedWith`) or rejected with its custom error. */
export type SlotBatchEntry = { ok: true; matchedWith: string | null } | { ok: false; reason: string };

/**
 * Places bids in one transaction (`placeBids`). Each entry's hint must reflect the entries before it (a mirror that
 * places them in order gives exactly that). An entry that fails is rolled back alone and reported; a batch that runs
 * out of gas reverts whole (`BatchEntryOutOfGas`): split it.
 */
export async function placeSlotBids(
  market: SlotMarketHandle,
  entries: readonly { bid: CertifiedBid; hint: SlotHint }[],
  overrides: TxOverrides,
): Promise<{ entries: SlotBatchEntry[]; events: SlotMarketEvent[]; receipt: Receipt }> {
  const tx = await market.contract.getFunction("placeBids")(entries.map((entry) => bidTuple(entry.bid, entry.hint)), overrides);
  const receipt = (await tx.wait()) as Receipt;
  return { ...slotBatchResults(market, entries.map((entry) => entry.bid.bidder), receipt.logs), receipt };
}

/** Each entry's result of a mined `placeBids` of `bidders` (in entry order), from its logs. */
export function slotBatchResults(market: SlotMarketHandle, bidders: readonly string[], logs: Receipt["logs"]): { entries: SlotBatchEntry[]; events: SlotMarketEvent[] } {
  const events = decodeSlotMarketEvents(market, logs);
  // Events come in entry order; a bidder may appear twice (a redelivered bid: the second is rejected as reused), so
  // each bidder keeps a queue of its entries, and every event takes the first entry still waiting.
  const waiting = new Map<string, number[]>();
  bidders.forEach((bidder, index) => {
    const key = bidder.toLowerCase();
    waiting.set(key, [...(waiting.get(key) ?? []), index]);
  });
  const take = (bidder: string, index?: number): number | undefined => {
    const queue = waiting.get(bidder.toLowerCase()) ?? [];
    const at = index === undefined ? 0 : queue.indexOf(index);
    return at === -1 || at >= queue.length ? undefined : queue.splice(at, 1)[0];
  };
  const results: SlotBatchEntry[] = bidders.map(() => ({ ok: false, reason: "missing" }));
  for (const event of events) {
    if (event.type === "rejected") {
      take(event.bidder, event.index);
      results[event.index] = { ok: false, reason: event.reason };
    }
    if (event.type === "placed") {
      const index = take(event.bidder);
      if (index !== undefined) results[index] = { ok: true, matchedWith: null };
    }
    if (event.type === "matched") {
      const arriving = event.arriving === "buy" ? event.buyBidder : event.sellBidder;
      const index = take(arriving);
      if (index !== undefined) results[index] = { ok: true, matchedWith: event.arriving === "buy" ? event.sellBidder : event.buyBidder };
    }
  }
  return { entries: results, events };
}

/**
 * Withdraws a resting bid with its one-time key. The contract needs the bid before it in its list (its lists are
 * singly linked): read from the chain's book unless given; a book that changed in between answers `StaleHint`.
 */
export async function cancelSlotBid(
  market: SlotMarketHandle,
  oneTimeKey: Signer,
  bid: { slot: number; side: BookSideName; prev?: string },
  overrides: TxOverrides,
): Promise<{ events: SlotMarketEvent[]; receipt: Receipt }> {
  const bidder = await oneTimeKey.getAddress();
  let prev = bid.prev;
  if (prev === undefined) {
    const list = (await readBook(market, bid.slot, bid.side)).map((entry) => entry.toLowerCase());
    const index = list.indexOf(bidder.toLowerCase());
    prev = index <= 0 ? ZeroAddress : list[index - 1]!;
  }
  const signature = await oneTimeKey.signTypedData(market.domain, CANCEL_TYPES, { bidder });
  const tx = await market.contract.getFunction("cancelBid")(bidder, prev, signature, overrides);
  const receipt = (await tx.wait()) as Receipt;
  return { events: decodeSlotMarketEvents(market, receipt.logs), receipt };
}

/** Unlinks up to `max` expired bids of a slot's list (all of a closed slot's), from its head on. */
export async function purgeSlot(market: SlotMarketHandle, slot: number, side: BookSideName, max: number, overrides: TxOverrides): Promise<SlotMarketEvent[]> {
  const tx = await market.contract.getFunction("purge")(slot, SIDE_CODE[side], max, overrides);
  return decodeSlotMarketEvents(market, ((await tx.wait()) as Receipt).logs);
}
