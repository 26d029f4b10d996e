// The v2 market's TypeScript client (contracts/src/v2/SlotMarket.sol): deploy, tickets, certified bids, hints from a
// mirror of the books, placement, cancel, purge and the books in order.
import { Contract, ContractFactory, type ContractRunner, type Signer, type TypedDataDomain } from "ethers";
import { readFileSync } from "node:fs";
import { revertDataOf } from "../errors.ts";
import { fileURLToPath } from "node:url";
import type { BlockCiphertext } from "../../../protocol/encoding/blockBid.ts";
import { hintFromLevels, tokenOfHint, type BlockParams } from "../../../protocol/encoding/blockTokens.ts";
import { ciphertextRoot, ciphertextTree, tokenProof, type TokenHalf } from "../../../protocol/encoding/ciphertextRoot.ts";
import { SLOT_MAX_EXPIRED_DROPS, type BookSideName, type SlotBooks, type SlotCalendar } from "../../../protocol/book/slotBooks.ts";

const ARTIFACT = "../../../artifacts/contracts/src/v2/SlotMarket.sol/SlotMarket.json";

function artifact(): { abi: never[]; bytecode: string } {
  return JSON.parse(readFileSync(fileURLToPath(new URL(ARTIFACT, import.meta.url)), "utf8")) as { abi: never[]; bytecode: string };
}

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
  const { abi, bytecode } = artifact();
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
  const contract = new Contract(address, artifact().abi, runner);
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

/**
 * The hint for a new bid, the DSO's way (clear levels), from a mirror of the books (the reference, in step with the
 * chain) and the resting bids' ciphertexts. The relation tokens come from `hintFromLevels`; each resting token is
 * proved against its bid's root.
 */
export function hintFromMirror(
  books: SlotBooks,
  bids: ReadonlyMap<number, MirroredBid>,
  bid: { side: BookSideName; slot: number; level: number },
  now: number,
  params: BlockParams,
): SlotHint {
  const opposite: BookSideName = bid.side === "buy" ? "sell" : "buy";
  // The head the contract will see: past the expired heads it drops (a longer backlog is rejected anyway).
  const list = books.book(bid.slot, opposite);
  let skipped = 0;
  while (skipped < Math.min(list.length, SLOT_MAX_EXPIRED_DROPS) && now > books.bid(list[skipped]!)!.notAfter) skipped += 1;
  const headId = list[skipped] ?? 0;
  const levelOf = (id: number) => bids.get(id)!.level;
  /** The token proving `a ≤ b` (strict: `a < b`), as the resting bid `id`'s `half`. */
  const token = (id: number, half: TokenHalf, a: number, b: number): RestingToken => {
    const relation = hintFromLevels(a, b, params);
    const index = relation === null ? 0 : tokenOfHint(relation, params);
    const mirrored = bids.get(id)!;
    return { bidId: BigInt(id), token: index, words: mirrored.ciphertext[half][index]!, proof: tokenProof(ciphertextTree(mirrored.ciphertext), params.tokens, half, index) };
  };
  const hint: SlotHint = { headId: BigInt(headId), matchHead: false, head: NO_TOKEN, prevId: 0n, prev: NO_TOKEN, next: NO_TOKEN };
  if (headId !== 0) {
    const head = levelOf(headId);
    hint.matchHead = bid.side === "buy" ? head <= bid.level : bid.level <= head;
    // buy: s ≤ b (match, s's left) or b < s (s's right); sell: s ≤ h (h's right) or h < s (h's left).
    if (bid.side === "buy") hint.head = hint.matchHead ? token(headId, "left", head, bid.level) : token(headId, "right", bid.level, head);
    else hint.head = hint.matchHead ? token(headId, "right", bid.level, head) : token(headId, "left", head, bid.level);
    if (hint.matchHead) return hint;
  }
  const prevId = books.positionFor(bid);
  const own = books.book(bid.slot, bid.side);
  const nextId = prevId === 0 ? own[0] : own[own.indexOf(prevId) + 1];
  hint.prevId = BigInt(prevId);
  // buy list (descending): b ≤ prev (prev's right), next < b (next's left); sell list: prev ≤ s (left), s < next (right).
  if (prevId !== 0) hint.prev = bid.side === "buy" ? token(prevId, "right", bid.level, levelOf(prevId)) : token(prevId, "left", levelOf(prevId), bid.level);
  if (nextId !== undefined)
    hint.next = bid.side === "buy" ? token(nextId, "left", levelOf(nextId), bid.level) : token(nextId, "right", bid.level, levelOf(nextId));
  return hint;
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
