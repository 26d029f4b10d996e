// The machines' settlement lines as the DSO's ledger postings, and each party's share of them (PROTOCOL §5 step 7).
import type { LedgerEntry as StoredEntry, LedgerPostingInput } from "../db/dsoDatabase.ts";
import { GridveilError } from "../../protocol/base/errors.ts";
import { accounts, dsoBookAccounts } from "../../protocol/settlement.ts";
import type { PostingKind, PostingWire } from "../../protocol/wire/schemas.ts";
import type { LedgerEntry, Settlement } from "../../machines/types.ts";
import { sameAddress } from "../../machines/types.ts";

export type Role = "buyer" | "seller";

export type TradeParties = { buyBidder: string; sellBidder: string; buyerMeterId: string; sellerMeterId: string };

export class LedgerMappingError extends GridveilError {
  override name = "LedgerMappingError";
}

/** Lines a party's settlement notice carries: its own role's kinds (so a meter trading with itself gets both). */
export const ROLE_KINDS: Readonly<Record<Role, readonly PostingKind[]>> = {
  buyer: ["energy.buy", "shortfall.supply", "fee.buyer"],
  seller: ["energy.sell", "imbalance.charge", "fee.seller"],
};

const PARTY_KIND: Record<LedgerEntry["kind"], Record<Role, PostingKind>> = {
  energy: { buyer: "energy.buy", seller: "energy.sell" },
  networkFee: { buyer: "fee.buyer", seller: "fee.seller" },
  shortfallSupply: { buyer: "shortfall.supply", seller: "shortfall.supply" },
  imbalance: { buyer: "imbalance.charge", seller: "imbalance.charge" },
};

const BOOK_KIND: Record<LedgerEntry["kind"], PostingKind | null> = {
  energy: null,
  networkFee: "fee.revenue",
  shortfallSupply: "shortfall.retail",
  imbalance: "imbalance.income",
};

/**
 * Maps the machine's lines (accounts by one-time id, generic kinds) to ledger postings: a bidder becomes the meter
 * account of its permanent id, DSO books their ledger accounts, kinds the per-role kinds of protocol/settlement.ts.
 */
export function postingsOf(settlement: Settlement, parties: TradeParties): LedgerPostingInput[] {
  const memo = `${settlement.deliveredWh} Wh delivered of ${settlement.quantityWh} Wh at ${settlement.priceMicroPerKWh} µ/kWh`;
  return settlement.entries.map((entry) => {
    if (entry.account.kind === "dso") {
      const kind = BOOK_KIND[entry.kind];
      if (kind === null) throw new LedgerMappingError("an energy line cannot go to a DSO book", { value: entry });
      return { account: dsoBookAccounts[entry.account.book], kind, amountMicro: entry.amountMicro, memo };
    }
    const role = roleOf(entry.account.bidder, parties);
    const meterId = role === "buyer" ? parties.buyerMeterId : parties.sellerMeterId;
    return { account: accounts.meter(meterId), kind: PARTY_KIND[entry.kind][role], amountMicro: entry.amountMicro, memo };
  });
}

function roleOf(bidder: string, parties: TradeParties): Role {
  if (sameAddress(bidder, parties.buyBidder)) return "buyer";
  if (sameAddress(bidder, parties.sellBidder)) return "seller";
  throw new LedgerMappingError("a settlement line names a bidder that is not a party of the trade", { value: bidder });
}

/** A party's own lines of a settled trade, from the stored entries, in the wire's posting shape. */
export function partyLines(entries: readonly StoredEntry[], role: Role, meterId: string): PostingWire[] {
  const account = accounts.meter(meterId);
  return entries
    .filter((entry) => entry.account === account && (ROLE_KINDS[role] as readonly string[]).includes(entry.kind))
    .map((entry) => ({ account: entry.account, kind: entry.kind, amountMicro: entry.amountMicro, memo: entry.memo.slice(0, 200) }));
}

/** Every stored line of a trade in the wire's posting shape (the settlements stream). */
export function wireLines(entries: readonly StoredEntry[]): PostingWire[] {
  return entries.map((entry) => ({ account: entry.account, kind: entry.kind, amountMicro: entry.amountMicro, memo: entry.memo.slice(0, 200) }));
}
