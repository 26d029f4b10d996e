// Message schemas: a valid example of each passes; missing, mistyped, extra and semantically wrong fields are rejected clearly.
import { Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { decode } from "../../../actors/nats/codec.ts";
import { BadMessageError } from "../../../actors/nats/errors.ts";
import { messageSchemas, sealedPayloadSchemas, type Sealed } from "../../../protocol/wire/schemas.ts";
import { seal } from "../../../actors/secure/sealed.ts";
import { tradeIdOf } from "../../../protocol/domain.ts";
import { FR_ORDER } from "../../../protocol/fhipe/order.ts";

const meter = Wallet.createRandom();
const dso = Wallet.createRandom();
const buyer = Wallet.createRandom().address;
const seller = Wallet.createRandom().address;
const hex = (byte: string, n: number) => `0x${byte.repeat(n)}`;
const sig = hex("ab", 65);
const txHash = hex("cd", 32);
const tradeId = tradeIdOf({ buyId: buyer, sellId: seller, txHash });
const auth = { signer: meter.address, signature: sig, issuedAt: 1_700_000_000_000 };
const sealed: Sealed = seal({ payload: { x: 1 }, senderWallet: meter, recipientPublicKey: dso.signingKey.publicKey, context: "ctx" });
const opening = { priceLevel: 4, quantityWh: 1200, salt: hex("01", 32), alpha: "7", beta: (FR_ORDER - 1n).toString() };
const words = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));
const zero = "0x0000000000000000000000000000000000000000";
const noToken = { token: 0, words: [], proof: [] };
const slotOpening = { side: 1, slot: 7, priceLevel: 613, quantityWh: 1500, salt: hex("05", 32), seed: hex("06", 32) };

const marketDescription = {
  marketId: "m1",
  chainId: 31337,
  contractAddress: buyer,
  ticketSigner: seller,
  fhipe: { curve: "BN254", dimension: 11 },
  priceLevels: { firstPriceMicroPerKWh: 100_000, stepMicroPerKWh: 10_000, count: 10 },
  clearingRule: "midpoint",
};

const valid: Record<string, Record<string, unknown>> = {
  "market.info.request": { type: "market.info.request" },
  "market.info.reply": { type: "market.info.reply", market: marketDescription, dso: { address: dso.address, publicKey: dso.signingKey.publicKey } },
  "bid.submit": {
    type: "bid.submit",
    bidder: buyer,
    side: 0,
    ciphertext: { left: words(22), right: words(44) },
    commitment: hex("02", 32),
    ticket: { notAfter: 1_800_000_000, signature: sig },
    bidSignature: sig,
    submittedAt: 1,
  },
  "bid.cancel": { type: "bid.cancel", bidder: buyer, signature: sig },
  "bid.cancel.reply": { type: "bid.cancel.reply", bidder: buyer, status: "cancelled", txHash },
  "market.matched": { type: "market.matched", buyId: buyer, sellId: seller, txHash, blockNumber: 7, logIndex: 0, observedAt: 1 },
  "market.expired": { type: "market.expired", bidder: buyer, side: 1, notAfter: 5, observedAt: 1 },
  "market.placed": { type: "market.placed", bidder: buyer, side: 1, txHash, blockNumber: 3, observedAt: 1 },
  "market.rejected": { type: "market.rejected", bidder: buyer, error: "TicketExpired", detail: "notAfter 5", observedAt: 1 },
  "market.cancelled": { type: "market.cancelled", bidder: buyer, txHash, observedAt: 1 },
  "opening.submit": { type: "opening.submit", tradeId, bidder: buyer, sealed },
  "opening.ack": { type: "opening.ack", tradeId, bidder: buyer, status: "received" },
  error: { type: "error", code: "bad-message", message: "nope", issues: [{ path: "a", message: "b" }] },
  "state.snapshot": { type: "state.snapshot", party: "meter", actorId: "meter-1", state: { trading: "awaitingTerms" }, summary: { bids: 2 }, at: 1 },
  "sealed.request": { type: "sealed.request", sealed },
  "sealed.reply": { type: "sealed.reply", sealed },
  "sealed.trade": { type: "sealed.trade", tradeId, sealed },
  "hints.request": { type: "hints.request", slot: 7, lists: { buy: [buyer], sell: [] }, bidders: [seller], now: 1_800_000_000 },
  "hints.reply": {
    type: "hints.reply",
    hints: [
      {
        bidder: seller,
        hint: { head: buyer, matchHead: true, headToken: { token: 2, words: words(4), proof: [hex("03", 32)] }, prev: zero, prevToken: noToken, next: zero, nextToken: noToken },
        outcome: { placed: true, matchedWith: buyer },
      },
    ],
    lists: { buy: [], sell: [] },
  },
  "bid.submit.v2": { type: "bid.submit.v2", bidder: seller, side: 1, slot: 7, notAfter: 1_800_000_000, commitment: hex("02", 32), ciphertext: words(66), ticketSignature: sig, submittedAt: 1 },
};

const validPayloads: Record<string, Record<string, unknown>> = {
  "certify.request": { type: "certify.request", meterId: "meter-1", bidder: seller, opening: slotOpening, notAfter: 1_800_000_000, auth },
  "trade.terms.v2": {
    type: "trade.terms.v2",
    terms: { matchId: tradeId, buyBidder: buyer, sellBidder: seller, buyLevel: 640, sellLevel: 613, quantityWh: 1200, priceMicroPerKWh: 200_000, clearingRule: "midpoint" },
    txHash,
    slot: 7,
    side: 0,
    bidder: buyer,
    counterpart: { bidder: seller, opening: slotOpening },
  },
  "certify.reply": {
    type: "certify.reply",
    bidder: seller,
    side: 1,
    slot: 7,
    notAfter: 1_800_000_000,
    commitment: hex("02", 32),
    ciphertextRoot: hex("04", 32),
    ciphertext: words(66),
    ticketSignature: sig,
  },
  msk: { type: "msk", marketId: "m1", msk: hex("09", 100) },
  "epoch.keys": { type: "epoch.keys", marketId: "m1", keys: [{ epoch: 20_000, msk: hex("09", 100), tokenKey: hex("0a", 32) }] },
  opening: { type: "opening", tradeId, bidder: buyer, side: 0, opening },
  "trade.terms": {
    type: "trade.terms",
    terms: { matchId: tradeId, buyBidder: buyer, sellBidder: seller, buyLevel: 6, sellLevel: 4, quantityWh: 1200, priceMicroPerKWh: 200_000, clearingRule: "midpoint" },
    txHash,
    side: 0,
    bidder: buyer,
    counterpart: { bidder: seller, opening },
  },
  "enrol.request": { type: "enrol.request", meterId: "meter-1", name: "House 1", publicKey: meter.signingKey.publicKey, auth },
  "enrol.reply": {
    type: "enrol.reply",
    meterId: "meter-1",
    inboxId: "a1b2c3d4",
    market: marketDescription,
    dso: { address: dso.address, publicKey: dso.signingKey.publicKey },
    sealedMsk: sealed,
  },
  "ticket.request": { type: "ticket.request", meterId: "meter-1", bidder: buyer, side: 0, notAfter: 1_800_000_000, auth },
  "ticket.reply": { type: "ticket.reply", bidder: buyer, ticket: { notAfter: 1_800_000_000, signature: sig } },
  dispute: { type: "dispute", tradeId, bidder: buyer, code: "ciphertext-mismatch", detail: "left differs", auth },
  "dispute.ack": { type: "dispute.ack", tradeId, status: "recorded" },
  "trade.voided": { type: "trade.voided", tradeId, bidder: buyer, reason: "openingTimeout", blamedBidders: [seller] },
  "trade.disputed": { type: "trade.disputed", tradeId, bidder: buyer, code: "ciphertext-mismatch", detail: "left differs" },
  reading: { type: "reading", tradeId, bidder: seller, side: 1, energyWh: 900, measuredAt: 5, auth },
  settlement: {
    type: "settlement",
    tradeId,
    period: "2026-05",
    settledAt: 9,
    deliveredWh: 900,
    shortfallWh: 100,
    postings: [
      { account: "meter:meter-1", kind: "energy.buy", amountMicro: -180_000, memo: "" },
      { account: "meter:meter-2", kind: "energy.sell", amountMicro: 180_000, memo: "" },
    ],
  },
  "settlement.notice": {
    type: "settlement.notice",
    tradeId,
    bidder: buyer,
    period: "2026-05",
    quantityWh: 1000,
    deliveredWh: 900,
    shortfallWh: 100,
    priceMicroPerKWh: 150_000,
    entries: [{ account: { kind: "bidder", bidder: buyer }, kind: "energy.buy", amountMicro: "-135000" }],
    netMicro: -135_000,
  },
};

const all = { ...Object.fromEntries(Object.entries(valid).map(([k, v]) => [`message ${k}`, v])), ...Object.fromEntries(Object.entries(validPayloads).map(([k, v]) => [`payload ${k}`, v])) };
const schemaFor = (name: string) =>
  name.startsWith("message ")
    ? messageSchemas[name.slice(8) as keyof typeof messageSchemas]
    : sealedPayloadSchemas[name.slice(8) as keyof typeof sealedPayloadSchemas];

function rejects(name: string, value: unknown): BadMessageError {
  try {
    decode(schemaFor(name), new TextEncoder().encode(JSON.stringify(value)));
  } catch (error) {
    expect(error).toBeInstanceOf(BadMessageError);
    return error as BadMessageError;
  }
  throw new Error(`${name} accepted ${JSON.stringify(value).slice(0, 200)}`);
}

describe("message schemas", () => {
  it("have a valid example for every message and sealed payload", () => {
    expect(Object.keys(valid).sort()).toEqual(Object.keys(messageSchemas).sort());
    expect(Object.keys(validPayloads).sort()).toEqual(Object.keys(sealedPayloadSchemas).sort());
    for (const [name, value] of Object.entries(all)) {
      const result = schemaFor(name).safeParse(value);
      expect(result.success, `${name}: ${result.error?.message}`).toBe(true);
    }
  });

  it.each(Object.keys(all))("%s: rejects each required field missing, each field mistyped, and unknown fields", (name) => {
    const value = all[name];
    const schema = schemaFor(name);
    for (const key of Object.keys(value)) {
      const { [key]: _removed, ...without } = value;
      // A field is optional if the schema accepts the message without it.
      if (!schema.safeParse(without).success) {
        const error = rejects(name, without);
        expect(error.issues.some((issue) => issue.path.startsWith(key)), `${name} missing ${key}: ${error.message}`).toBe(true);
        expect(error.message).toContain(key);
      }
      if (key === "state") continue; // any JSON value is a valid machine state
      const mistyped = { ...value, [key]: key === "summary" ? "not an object" : { wrong: true } };
      const error = rejects(name, mistyped);
      expect(error.issues.some((issue) => issue.path.startsWith(key)), `${name} mistyped ${key}: ${error.message}`).toBe(true);
    }
    const extra = rejects(name, { ...value, surprise: 1 });
    expect(extra.message).toMatch(/surprise/);
    rejects(name, null);
    rejects(name, [value]);
  });

  it.each<[string, (v: Record<string, unknown>) => unknown, RegExp]>([
    ["payload ticket.request", (v) => ({ ...v, bidder: buyer.toLowerCase().replace("0x", "0X") }), /bidder/],
    ["payload ticket.request", (v) => ({ ...v, bidder: mixCase(buyer) }), /checksum/],
    ["payload ticket.request", (v) => ({ ...v, side: 2 }), /side 0 \(buy\) or 1 \(sell\)/],
    ["payload ticket.request", (v) => ({ ...v, notAfter: 1.5 }), /notAfter/],
    ["payload enrol.request", (v) => ({ ...v, publicKey: hex("05", 65) }), /secp256k1 public key/],
    ["payload enrol.request", (v) => ({ ...v, meterId: "bad id with spaces" }), /meter id/],
    ["message bid.submit", (v) => ({ ...v, ciphertext: { left: words(22), right: words(40) } }), /dimension/],
    ["message bid.submit", (v) => ({ ...v, ciphertext: { left: words(21), right: words(44) } }), /2d words/],
    ["message bid.submit", (v) => ({ ...v, ciphertext: "0x" }), /ciphertext/],
    ["message bid.submit", (v) => ({ ...v, ciphertext: "0xabc" }), /ciphertext/],
    ["message bid.submit", (v) => ({ ...v, ciphertext: { left: [...words(21), (1n << 256n).toString()], right: words(44) } }), /uint256/],
    ["message bid.submit", (v) => ({ ...v, commitment: hex("02", 31) }), /bytes32/],
    ["message market.matched", (v) => ({ ...v, sellId: buyer }), /cannot match itself/],
    ["message market.matched", (v) => ({ ...v, blockNumber: -1 }), /blockNumber/],
    ["payload settlement", (v) => ({ ...v, postings: [{ account: "meter:a", kind: "energy.buy", amountMicro: -1, memo: "" }] }), /sum to zero/],
    ["payload settlement", (v) => ({ ...v, postings: [{ account: "bank:x", kind: "energy.buy", amountMicro: 0, memo: "" }] }), /meter:<id>/],
    ["payload settlement", (v) => ({ ...v, postings: [{ account: "dso:revenue", kind: "fee revenue", amountMicro: 0, memo: "" }] }), /postings\.0\.kind/],
    ["payload settlement", (v) => ({ ...v, postings: [{ account: "meter:a", kind: "energy.buy", amountMicro: 0.5, memo: "" }] }), /amountMicro/],
    ["payload settlement", (v) => ({ ...v, period: "May 2026" }), /billing period/],
    ["payload reading", (v) => ({ ...v, energyWh: -3 }), /energy must be ≥ 0 Wh/],
    ["payload reading", (v) => ({ ...v, auth: { ...auth, signature: hex("ab", 64) } }), /65-byte signature/],
    ["message error", (v) => ({ ...v, code: "oops" }), /code/],
    ["message opening.submit", (v) => ({ ...v, sealed: { ...sealed, v: 1 } }), /sealed\.v/],
    ["payload opening", (v) => ({ ...v, opening: { ...opening, alpha: "0" } }), /non-zero scalar/],
    ["payload opening", (v) => ({ ...v, opening: { ...opening, beta: FR_ORDER.toString() } }), /below the BN254 group order/],
    ["payload opening", (v) => ({ ...v, opening: { ...opening, beta: "12ab" } }), /decimal integer/],
    ["payload opening", (v) => ({ ...v, opening: { ...opening, quantityWh: 0 } }), /positive number of Wh/],
    ["payload opening", (v) => ({ ...v, opening: { ...opening, priceLevel: 1024 } }), /price level must be < 1024/],
    ["payload trade.terms", (v) => ({ ...v, terms: { ...(v.terms as object), buyLevel: 3 } }), /buy level below sell level/],
    ["payload trade.terms", (v) => ({ ...v, bidder: seller }), /not on its side/],
    ["payload trade.terms.v2", (v) => ({ ...v, counterpart: { bidder: seller, opening: { ...slotOpening, slot: 8 } } }), /another slot/],
    ["payload trade.terms.v2", (v) => ({ ...v, counterpart: { bidder: seller, opening: { ...slotOpening, side: 0 } } }), /own side/],
    ["payload trade.terms.v2", (v) => ({ ...v, counterpart: { bidder: buyer, opening: slotOpening } }), /other side/],
    ["payload trade.terms", (v) => ({ ...v, counterpart: { bidder: buyer, opening } }), /other side/],
  ])("%s: semantic check %#", (name, mutate, message) => {
    expect(rejects(name, mutate(all[name])).message).toMatch(message);
  });

  it("a voided notice names whom it blames (possibly nobody), and cannot blame three", () => {
    expect(sealedPayloadSchemas["trade.voided"].parse({ ...validPayloads["trade.voided"], blamedBidders: [] }).blamedBidders).toEqual([]);
    rejects("payload trade.voided", { ...validPayloads["trade.voided"], blamedBidders: [buyer, seller, buyer] });
  });

  it("a dispute can say the counterpart's opening could not be checked at all, but not an unknown reason", () => {
    expect(sealedPayloadSchemas.dispute.parse({ ...validPayloads.dispute, code: "counterpart-unverifiable" }).code).toBe("counterpart-unverifiable");
    rejects("payload dispute", { ...validPayloads.dispute, code: "counterpartUnverifiable" });
  });

  it("accepts ciphertexts as the compact hex blob and normalises hex and addresses", () => {
    const parsed = messageSchemas["bid.submit"].parse({ ...valid["bid.submit"], ciphertext: "0xABCDEF01", bidder: buyer.toLowerCase() });
    expect(parsed.ciphertext).toBe("0xabcdef01");
    expect(parsed.bidder).toBe(buyer);
  });

  it("derives the same trade id whatever the address spelling", () => {
    expect(tradeIdOf({ buyId: buyer.toLowerCase(), sellId: seller, txHash })).toBe(tradeId);
    expect(tradeIdOf({ buyId: seller, sellId: buyer, txHash })).not.toBe(tradeId);
  });
});

/** Flips the case of address letters so that the EIP-55 checksum is wrong but the hex is still valid. */
function mixCase(address: string): string {
  const body = address.slice(2);
  const flipped = [...body].map((c) => (c >= "a" && c <= "f" ? c.toUpperCase() : c >= "A" && c <= "F" ? c.toLowerCase() : c)).join("");
  return `0x${flipped}`;
}
