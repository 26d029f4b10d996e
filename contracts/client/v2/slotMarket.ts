// The v2 market's TypeScript client (contracts/src/v2/SlotMarket.sol): deploy, tickets, certified bids, hints from a
// mirror of the books, placement, cancel, purge and the books in order.
import { Contract, ContractFactory, type ContractRunner, type Signer, type TypedDataDomain } from "ethers";
import { loadArtifact } from "../artifact.ts";
import { revertDataOf } from "../errors.ts";
import { hintFromCiphertexts, type BlockCiphertext, type BlockPoints } from "../../../protocol/encoding/blockBid.ts";
import { hintFromLevels, tokenOfHint, type BlockParams, type RelationHint } from "../../../protocol/encoding/blockTokens.ts";
import { ciphertextRoot, ciphertextTree, tokenProof, type TokenHalf } from "../../../protocol/encoding/ciphertextRoot.ts";
import { SLOT_MAX_EXPIRED_DROPS, type BookSideName, type SlotBooks, type SlotCalendar } from "../../../protocol/book/slotBooks.ts";


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

type RestingToken = { bidId: bigint; token: number; words: bigint[]; proof: string[] };
export type SlotHint = { headId: bigint; matchHead: boolean; head: RestingToken; prevId: bigint; prev: RestingToken; next: RestingToken };

const NO_TOKEN: RestingToken = { bidId: 0n, token: 0, words: [], proof: [] };

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
 * The hint for a new bid from the books as the chain holds them (`ownList` and `oppositeList` in order, with the
 * expiry of each bid) and a prover. Each resting token is proved against its bid's root. The position is the last bid
 * of the own list at least as good as the new one (time priority), found by walking the list from its head.
 */
export function makeHint(options: {
  side: BookSideName;
  ownList: readonly number[];
  oppositeList: readonly number[];
  notAfterOf: (id: number) => number;
  ciphertextOf: (id: number) => BlockCiphertext;
  prove: RelationProver;
  now: number;
  params: BlockParams;
}): SlotHint {
  const { side, ownList, oppositeList, prove, params } = options;
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
    return { bidId: BigInt(resting), token: index, words: ciphertext[half][index]!, proof: tokenProof(ciphertextTree(ciphertext), params.tokens, half, index) };
  };
  const hint: SlotHint = { headId: BigInt(headId), matchHead: false, head: NO_TOKEN, prevId: 0n, prev: NO_TOKEN, next: NO_TOKEN };
  if (headId !== 0) {
    // buy: s ≤ b matches (s's left), else b < s (s's right); sell: s ≤ h matches (h's right), else h < s (h's left).
    hint.matchHead = side === "buy" ? prove(headId, "new") !== null : prove("new", headId) !== null;
    if (side === "buy") hint.head = hint.matchHead ? token(headId, "new") : token("new", headId);
    else hint.head = hint.matchHead ? token("new", headId) : token(headId, "new");
    if (hint.matchHead) return hint;
  }
  // Buy list (descending): prev ≥ b, i.e. b ≤ prev; sell list (ascending): prev ≤ s.
  const atLeastAsGood = (id: number) => (side === "buy" ? prove("new", id) !== null : prove(id, "new") !== null);
  let prevId = 0;
  for (const id of ownList) {
    if (!atLeastAsGood(id)) break;
    prevId = id;
  }
  const nextId = prevId === 0 ? ownList[0] : ownList[ownList.indexOf(prevId) + 1];
  hint.prevId = BigInt(prevId);
  // buy: b ≤ prev (prev's right), next < b (next's left); sell: prev ≤ s (prev's left), s < next (next's right).
  if (prevId !== 0) hint.prev = side === "buy" ? token("new", prevId) : token(prevId, "new");
  if (nextId !== undefined) hint.next = side === "buy" ? token(nextId, "new") : token("new", nextId);
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
    ciphertextOf: (id) => bids.get(id)!.ciphertext,
    prove: proverFromLevels((id) => bids.get(id)!.level, bid.level, params),
    now,
    params,
  });
}

/** The contract's `Bid` tuple. */
export function bidTuple(bid: CertifiedBid, hint: SlotHint) {
  return {
    bidder: bid.bidder,
    side: SIDE_CODE[bid.side],
    slot: bid.slot,
    notAfter: bid.notAfter,
    commitment: bid.commitment,
    left: bid.ciphertext.left,
    right: bid.ciphertext.right,
    ticketSignature: bid.ticketSignature,
    hint,
  };
}

/** A slot's list on one side, best first, as the contract holds it. */
export async function readBook(market: SlotMarketHandle, slot: number, side: BookSideName): Promise<number[]> {
  const ids = (await market.contract.getFunction("book")(slot, SIDE_CODE[side])) as bigint[];
  return ids.map(Number);
}

/** The contract's custom error behind a failed call or transaction (its name and arguments), or undefined. */
export function slotMarketErrorOf(market: SlotMarketHandle, error: unknown): { name: string; args: unknown[] } | undefined {
  const data = revertDataOf(error);
  if (data === undefined) return undefined;
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
