// A settlement's lines as the DSO's ledger postings: each party's one-time id becomes the bill account of its
// permanent id (PROTOCOL §4: only the DSO can link them); DSO books and kinds stay as protocol/settlement.ts names them.
import type { LedgerEntry as StoredEntry, LedgerPostingInput } from "../db/dsoDatabase.ts";
import { LedgerMappingError } from "./errors.ts";
import { sameAddress } from "../../protocol/base/hex.ts";
import type { Settlement } from "../../protocol/settlement.ts";
import type { PostingWire } from "../../protocol/wire/schemas.ts";

export type TradeParties = { buyBidder: string; sellBidder: string; buyerMeterId: string; sellerMeterId: string };

/** The settlement's lines as postings on the parties' bill accounts. */
export function postingsOf(settlement: Settlement, parties: TradeParties): LedgerPostingInput[] {
  const memo = `${settlement.deliveredWh} Wh delivered of ${settlement.quantityWh} Wh at ${settlement.priceMicroPerKWh} µ/kWh`;
  return settlement.entries.map((entry) => ({
    account: entry.account.kind === "dso" ? entry.account.book : `meter:${meterIdOf(entry.account.bidder, parties)}`,
    kind: entry.kind,
    amountMicro: entry.amountMicro,
    memo,
  }));
}

function meterIdOf(bidder: string, parties: TradeParties): string {
  if (sameAddress(bidder, parties.buyBidder)) return parties.buyerMeterId;
  if (sameAddress(bidder, parties.sellBidder)) return parties.sellerMeterId;
  throw new LedgerMappingError({ bidder });
}

/** Every stored line of a trade in the wire's posting shape (the DSO-internal settlements stream). */
export function wireLines(entries: readonly StoredEntry[]): PostingWire[] {
  return entries.map((entry) => ({ account: entry.account, kind: entry.kind, amountMicro: entry.amountMicro, memo: entry.memo.slice(0, 200) }));
}
