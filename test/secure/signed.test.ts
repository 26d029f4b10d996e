// Signed requests: real ethers signatures over canonical JSON bound to the subject; tampering and replay rejected.
import { Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { decode, encode } from "../../actors/nats/codec.ts";
import { ticketRequestSchema, type TicketRequest } from "../../protocol/wire/schemas.ts";
import { BadSignatureError, StaleMessageError, UnexpectedSenderError } from "../../actors/secure/errors.ts";
import { canonicalJson, signMessageFields, verifyMessageFields } from "../../actors/secure/signed.ts";

const meter = Wallet.createRandom();
const oneTime = Wallet.createRandom();
const SUBJECT = "gridveil.m1.dso.ticket";
const NOW = 1_800_000_000_000;

function ticketRequest(): TicketRequest {
  return signMessageFields<TicketRequest>(
    { type: "ticket.request", meterId: "meter-7", bidder: oneTime.address.toLowerCase() as `0x${string}`, side: 0, notAfter: 1_800_000_600 },
    meter,
    SUBJECT,
    NOW,
  );
}

describe("signMessageFields / verifyMessageFields", () => {
  it("verifies after a trip through the codec (addresses normalised) and returns the signer", () => {
    const received = decode(ticketRequestSchema, encode(ticketRequestSchema, ticketRequest()));
    expect(received.bidder).toBe(oneTime.address);
    expect(verifyMessageFields(received, SUBJECT, { allowedSigners: meter.address, now: NOW })).toBe(meter.address);
  });

  it("rejects any altered field, a replay on another subject, and a forged signer", () => {
    const request = ticketRequest();
    expect(() => verifyMessageFields({ ...request, side: 1 as const }, SUBJECT, { allowedSigners: meter.address, now: NOW })).toThrow(BadSignatureError);
    expect(() => verifyMessageFields({ ...request, auth: { ...request.auth, issuedAt: NOW + 1 } }, SUBJECT, { allowedSigners: meter.address, now: NOW })).toThrow(
      BadSignatureError,
    );
    expect(() => verifyMessageFields(request, "gridveil.m1.dso.enrol", { allowedSigners: meter.address, now: NOW })).toThrow(BadSignatureError);
    const forged = { ...request, auth: { ...request.auth, signer: oneTime.address as `0x${string}` } };
    expect(() => verifyMessageFields(forged, SUBJECT, { allowedSigners: [meter.address, oneTime.address], now: NOW })).toThrow(BadSignatureError);
  });

  it("rejects a valid signature by a key that is not allowed, and stale requests", () => {
    const request = ticketRequest();
    expect(() => verifyMessageFields(request, SUBJECT, { allowedSigners: oneTime.address, now: NOW })).toThrow(UnexpectedSenderError);
    expect(() => verifyMessageFields(request, SUBJECT, { allowedSigners: meter.address, now: NOW + 10 * 60_000 })).toThrow(StaleMessageError);
    expect(verifyMessageFields(request, SUBJECT, { allowedSigners: meter.address, now: NOW + 10 * 60_000, maxAgeMs: 3_600_000 })).toBe(meter.address);
  });

  it("canonical JSON is independent of key order and hex case", () => {
    expect(canonicalJson({ b: 1, a: ["0xAB", { d: null, c: true }] })).toBe(canonicalJson({ a: ["0xab", { c: true, d: null }], b: 1 }));
    expect(canonicalJson({ a: "Hello" })).not.toBe(canonicalJson({ a: "hello" }));
  });
});
