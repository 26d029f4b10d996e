// The DSO's version 2 bid services (PROTOCOL §4 v2 certified bids, §5 hints): it certifies a meter's opening under the
// epoch's key and signs the slot ticket, keeping the opening; and, knowing every certified level, it makes the
// placement hints for a batch of bids against the books as the gateway says the chain holds them. The DSO's machine
// certifies through it (CERTIFY.REQUESTED); the hints are served beside the machine (docs/dso.md "Version 2").
import type { Signer, TypedDataDomain } from "ethers";
import { getBytes, hexlify } from "ethers";
import { SLOT_TICKET_TYPES, hintFromMirror, type BatchHint, type MirroredBid, type SlotLists } from "../../contracts/client/v2/slotMarket.ts";
import { SlotBooks, gateClosureOf, type BookSideName } from "../../protocol/book/slotBooks.ts";
import { encryptBlockBid, type BlockCiphertext } from "../../protocol/encoding/blockBid.ts";
import type { BlockParams } from "../../protocol/encoding/blockTokens.ts";
import { certifyOpening, type SlotOpening } from "../../protocol/encoding/certify.ts";
import { CertificationError } from "../../protocol/encoding/errors.ts";
import { epochOfSlot, epochsToPrepare, type EpochCalendar } from "../../protocol/epochs.ts";
import { sideOfCode } from "../../protocol/domain.ts";
import type { CertifiedBidRecord, DsoDatabase } from "../db/dsoDatabase.ts";
import type { EpochKeyVault } from "./epochKeys.ts";
import { CertifiedBidUnknownError } from "./errors.ts";
import { dsoDefaults } from "../config/dso.ts";

export type CertifierOptions = {
  db: DsoDatabase;
  vault: EpochKeyVault;
  params: BlockParams;
  calendar: EpochCalendar;
  /** The DSO's ticket key and the market's EIP-712 domain (contracts/client/v2: `SlotMarketHandle.domain`). */
  ticketSigner: Signer;
  domain: TypedDataDomain;
  /** A ticket lives at most this long (and never past its slot's gate closure). */
  maxTicketLifetimeSeconds: number;
};

/** What the meter sends, authenticated by the caller: whose bid, its one-time id, its opening, and in meter mode its encryption. */
export type CertifyRequest = {
  meterId: string;
  bidder: string;
  opening: SlotOpening;
  /** Unix seconds the meter asks the ticket to live until. */
  notAfter: number;
  meterCiphertext?: BlockCiphertext;
};

/** A certified bid as the meter gets it back: what the contract's `Bid` needs besides the hint. */
export type CertifiedTicket = {
  bidder: string;
  side: BookSideName;
  slot: number;
  notAfter: number;
  commitment: string;
  ciphertextRoot: string;
  ciphertext: BlockCiphertext;
  ticketSignature: string;
};


export type Certifier = {
  /**
   * Certifies `request` at `now` (Unix seconds), stores it, signs its ticket. A repeated request for the same bid
   * gets the same ticket. Throws `CertificationError` (refused by name) or `CertifiedBidConflictError` (the bidder is
   * another bid's).
   */
  certify(request: CertifyRequest, now: number): Promise<CertifiedTicket>;
  /**
   * Hints for placing `bids` in this order on `slot`'s books, which hold `lists` (best first, as the contract's `book()`
   * returns them). Each hint reflects the bids before it in the batch; the outcome is what the contract will do, and
   * `lists` what the books will hold afterwards.
   */
  hintsFor(slot: number, lists: SlotLists, bids: readonly string[], now: number): { hints: BatchHint[]; lists: SlotLists };
};

export function createCertifier(options: CertifierOptions): Certifier {
  const { db, vault, params, calendar } = options;
  // The DSO regenerates a resting bid's ciphertext (for the Merkle proofs of a hint) from its opening, and keeps the
  // latest ones (oldest forgotten first: they are the first to have left the books).
  const ciphertexts = new Map<string, BlockCiphertext>();
  const remember = (bidder: string, ciphertext: BlockCiphertext) => {
    ciphertexts.delete(bidder);
    ciphertexts.set(bidder, ciphertext);
    if (ciphertexts.size > dsoDefaults.certifiedCiphertextCache) ciphertexts.delete(ciphertexts.keys().next().value!);
  };
  const ciphertextOf = (record: CertifiedBidRecord): BlockCiphertext => {
    let ciphertext = ciphertexts.get(record.bidder);
    if (ciphertext === undefined) {
      const key = vault.load(record.epoch);
      ciphertext = encryptBlockBid(key.msk, key.tokenKey, params, record.priceLevel, getBytes(record.seed));
      remember(record.bidder, ciphertext);
    }
    return ciphertext;
  };
  const recordOf = (bidder: string): CertifiedBidRecord => {
    const record = db.certifiedBid(bidder);
    if (record === undefined) throw new CertifiedBidUnknownError({ bidder });
    return record;
  };

  return {
    async certify(request, now) {
      const { opening } = request;
      const epoch = epochOfSlot(opening.slot, calendar);
      const open = epochsToPrepare(now, calendar);
      if (!open.includes(epoch)) throw new CertificationError({ kind: "epochNotOpen", slot: opening.slot, epoch, open });
      const key = vault.prepare(epoch);
      const fields = certifyOpening({
        bidder: request.bidder,
        opening,
        epochKey: key,
        params,
        calendar,
        now,
        ...(request.meterCiphertext === undefined ? {} : { meterCiphertext: request.meterCiphertext }),
      });
      const notAfter = Math.min(request.notAfter, now + options.maxTicketLifetimeSeconds, gateClosureOf(opening.slot, calendar));
      if (notAfter <= now) throw new CertificationError({ kind: "ticketPast", notAfter, now });
      // Stored before it is signed: the DSO alone links the bidder to the meter, and keeps the opening for the terms.
      const { record } = db.recordCertifiedBid({
        bidder: request.bidder,
        meterId: request.meterId,
        side: opening.side,
        slot: opening.slot,
        epoch,
        priceLevel: opening.priceLevel,
        quantityWh: opening.quantityWh,
        salt: opening.salt,
        seed: hexlify(opening.seed) as `0x${string}`,
        commitment: fields.commitment,
        ciphertextRoot: fields.ciphertextRoot as `0x${string}`,
        notAfter,
        encryptAt: request.meterCiphertext === undefined ? "dso" : "meter",
      });
      // A repeated request gets the stored ticket: refused once that has expired (a new bid needs a new bidder).
      if (record.notAfter <= now) throw new CertificationError({ kind: "ticketPast", notAfter: record.notAfter, now });
      remember(record.bidder, fields.ciphertext);
      const ticket = {
        bidder: record.bidder,
        side: record.side,
        slot: record.slot,
        notAfter: record.notAfter,
        ciphertextRoot: record.ciphertextRoot,
        commitment: record.commitment,
      };
      return {
        bidder: record.bidder,
        side: sideOfCode(record.side),
        slot: record.slot,
        notAfter: record.notAfter,
        commitment: record.commitment,
        ciphertextRoot: record.ciphertextRoot,
        ciphertext: fields.ciphertext,
        ticketSignature: await options.ticketSigner.signTypedData(options.domain, SLOT_TICKET_TYPES, ticket),
      };
    },

    hintsFor(slot, lists, bids, now) {
      const books = new SlotBooks(calendar);
      const mirrored = new Map<number, MirroredBid>();
      const input = (record: CertifiedBidRecord) => ({ bidder: record.bidder, side: sideOfCode(record.side), slot: record.slot, level: record.priceLevel, notAfter: record.notAfter });
      const resting = { buy: lists.buy.map(recordOf), sell: lists.sell.map(recordOf) };
      const ids = books.restore(slot, { buy: resting.buy.map(input), sell: resting.sell.map(input) });
      for (const record of [...resting.buy, ...resting.sell]) mirrored.set(ids.get(record.bidder.toLowerCase())!, { level: record.priceLevel, ciphertext: ciphertextOf(record) });
      const hints = bids.map((bidder) => {
        const record = recordOf(bidder);
        if (record.slot !== slot) throw new CertifiedBidUnknownError({ bidder, slot: record.slot });
        const bid = input(record);
        const hint = hintFromMirror(books, mirrored, { side: bid.side, slot: bid.slot, level: bid.level }, now, params);
        const placement = books.place(bid, now);
        if (!placement.ok) return { bidder: record.bidder, hint, outcome: { placed: false as const, reason: placement.reason } };
        mirrored.set(placement.id, { level: record.priceLevel, ciphertext: ciphertextOf(record) });
        const matchedWith = placement.matchedWith === null ? null : books.bid(placement.matchedWith)!.bidder;
        return { bidder: record.bidder, hint, outcome: { placed: true as const, matchedWith } };
      });
      // The lists once the batch is placed (expired heads dropped, matches gone): what the gateway expects next.
      const after = (side: BookSideName) => books.book(slot, side).map((id) => books.bid(id)!.bidder);
      return { hints, lists: { buy: after("buy"), sell: after("sell") } };
    },
  };
}
