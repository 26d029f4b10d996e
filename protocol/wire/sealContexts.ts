// The `context` strings sealed messages are bound to (actors/secure/sealed.ts), defined once so sender and recipient agree.
import type { MarketSubjects } from "./subjects.ts";
import { keccak256 } from "ethers";
import { toHex } from "../base/hex.ts";

/**
 * A sealed message opens only under the exact context it was sealed for (subject and purpose, PROTOCOL §6), so a
 * sealed msk, opening, request or notice cannot be replayed on another subject or for another trade. A context holds
 * nothing secret (subjects and trade ids); it travels inside the seal anyway. The trade id is lower-case hex, as
 * `bytes32Schema` normalises it.
 */
export const sealContexts = {
  /** Meter → DSO: a sealed request on `subject` (enrolment, ticket, dispute). */
  request: (subject: string): string => subject,
  /**
   * DSO → meter: the sealed reply to one request on `subject`, bound to it by the hash of the request's ciphertext, so
   * an old reply cannot answer a new request.
   */
  reply: (subject: string, requestCiphertext: string): string => `${subject}|reply|${keccak256(requestCiphertext)}`,
  /** DSO → meter, inside the sealed enrolment reply: `MskPayload` sealed to the meter's long-term key. */
  enrolment: (s: MarketSubjects): string => `${s.dso.enrol}|msk`,
  /** Meter → DSO: `OpeningPayload` sealed by the bid's one-time key (PROTOCOL §5 trading, step 2). */
  opening: (s: MarketSubjects, tradeId: string): string => `${s.dso.opening}|${toHex(tradeId)}`,
  /** A sealed message about one trade on `subject` (notices to a meter, readings, settlements). */
  trade: (subject: string, tradeId: string): string => `${subject}|${toHex(tradeId)}`,
} as const;
