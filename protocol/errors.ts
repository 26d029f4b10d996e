// Errors of the shared protocol rules (commitments, settlement, subjects, the reference book), each building its
// message from the rejected facts (protocol/base/errors.ts). FHIPE's and the encodings' are in protocol/fhipe/errors.ts.
import { type ErrorText, GridveilError, errorClass, faultErrorClass, reasonErrorClass } from "./base/errors.ts";

/** A commitment input (PROTOCOL §3.3) is outside what the on-chain encoding can hold; `reason` names the input. */
export class CommitmentInputError extends reasonErrorClass(GridveilError, {
  bidder: "bidder is not an address",
  side: "side must be 0 (buy) or 1 (sell)",
  priceLevel: "price level must fit uint16",
  quantityWh: "quantity must fit uint64 Wh",
  salt: "salt must be 32 bytes of 0x-hex",
  slot: "slot must fit uint32",
}) {}

/** A settlement input (a quantity, a reading or a price) is not a non-negative whole number. */
export class InvalidSettlementInputError extends errorClass(GridveilError, (params: { field: string; value: unknown }) => [
  `${params.field} must be a non-negative whole number`,
  { value: params.value, hint: "Wh and µ/kWh are integers (protocol/settlement.ts)" },
]) {}

/** A market id, inbox id or other token that cannot stand in a NATS subject, or a meter's permissions without one. */
export class InvalidSubjectTokenError extends errorClass(
  GridveilError,
  (params: { kind: string; value?: string }) =>
    (params.value === undefined
      ? [`a meter's permissions need its ${params.kind}`, {}]
      : [
          `invalid ${params.kind} for a NATS subject`,
          { value: params.value, hint: "Use 1–64 characters of a-z, 0-9, '_' or '-' (no dots or wildcards)." },
        ]) as ErrorText,
) {}

/** The plaintext reference book (protocol/book/) refused an operation. */
export class ReferenceBookError extends faultErrorClass(GridveilError, {
  notOpen: (f: { bidId: number; status: string }) => ["bid is not open", { value: { bidId: f.bidId, status: f.status } }],
  missingFromHeap: (f: { bidId: number }) => ["open bid is missing from its heap", { value: f.bidId }],
  unknownBid: (f: { bidId: number }) => ["unknown bid", { value: f.bidId }],
}) {}

/** The v2 reference books (protocol/book/slotBooks.ts) refused to load lists. */
export class SlotBooksError extends faultErrorClass(GridveilError, {
  restoreNotEmpty: (f: { slot: number }) => ["a slot's lists can only be restored into an empty slot", { value: f.slot }],
  restoreMismatch: (f: { slot: number; bidder: string }) => ["a restored bid is of another slot or side, or its bidder is used already", { value: { slot: f.slot, bidder: f.bidder } }],
}) {}

/** A calendar that cannot number epochs. */
export class EpochCalendarError extends errorClass(GridveilError, (params: { field: string; value: number }) => [
  `epoch calendar: ${params.field} must be a positive whole number`,
  { value: params.value, hint: "slotsPerEpoch ≥ 1 (96 is a day of 15-minute slots), retentionSeconds ≥ 0, slotSeconds ≥ 1" },
]) {}
