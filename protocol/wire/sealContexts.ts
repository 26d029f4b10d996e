// The `context` strings sealed messages are bound to (actors/secure/sealed.ts), defined once so sender and recipient agree.
import type { MarketSubjects } from "./subjects.ts";
import { toHex } from "../base/hex.ts";

/**
 * A sealed message opens only under the exact context it was sealed for (subject and purpose, PROTOCOL §6), so a
 * sealed msk, opening or trade terms cannot be replayed on another subject or for another trade. These are the
 * forms docs/adapters.md names; the trade id is lower-case hex, as `bytes32Schema` normalises it.
 */
export const sealContexts = {
  /** DSO → meter, in the enrolment reply: `MskPayload` sealed to the meter's long-term key. */
  enrolment: (s: MarketSubjects, meterId: string): string => `${s.dso.enrol}|${meterId}`,
  /** Meter → DSO: `OpeningPayload` sealed by the bid's one-time key (PROTOCOL §5 trading, step 2). */
  opening: (s: MarketSubjects, tradeId: string): string => `${s.dso.opening}|${toHex(tradeId)}`,
  /** DSO → meter: `TradeTermsPayload` sealed to the meter's long-term key on its inbox (step 3). */
  terms: (s: MarketSubjects, inboxId: string, tradeId: string): string =>
    `${s.meter.trade(inboxId)}|${toHex(tradeId)}`,
} as const;
