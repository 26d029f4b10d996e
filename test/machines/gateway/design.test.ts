// gateway, one machine for both market designs (PROTOCOL "Versions"): in a version 2 market it takes certified slot bids
// and refuses version 1 bids (and the reverse); a bid whose transaction's fate is unknown goes back to the queue after
// the nak delay (never acked, never lost), while the rest of its batch is settled.
import { describe, expect, it } from "vitest";
import { bidProblem, isRetriedRejection, provideGateway, type GatewayAckParams, type GatewayNakParams, type NotifyBidRejectedParams, type SlotBid, type SubmitBidsOutput } from "../../../machines/gateway.ts";
import { address, bytes32, config, fake, runsOf, signature, signedBid, started } from "../helpers.ts";

const DIMENSION = 3;
const TOKENS = 11;
const V2 = { version: 2 as const, tokens: TOKENS };
const cfg = config({ gateway: { batchMaxSize: 3, batchMaxDelayMs: 200, nakDelayMs: 1_234 } });

function slotBid(n: number, words = 6 * DIMENSION * TOKENS): SlotBid {
  return {
    bidder: address(n),
    side: n % 2 === 0 ? "buy" : "sell",
    slot: 1_000 + n,
    notAfter: 2_000_000_000,
    commitment: bytes32(n),
    ciphertext: Array.from({ length: words }, (_, i) => String(i + 1)),
    ticketSignature: signature(n),
  };
}

async function start(respond: (bids: readonly SlotBid[]) => SubmitBidsOutput) {
  const acks: GatewayAckParams[] = [];
  const naks: GatewayNakParams[] = [];
  const rejections: NotifyBidRejectedParams[] = [];
  const submitBids = fake<SubmitBidsOutput, { bids: SlotBid[] }>((input) => respond(input.bids));
  const machine = provideGateway<SlotBid>(
    {
      ...runsOf({
        submitBids,
        submitCancel: fake(() => ({ kind: "mined" as const })),
        loadCursor: fake(() => ({ lastProcessedBlock: null })),
        publishNotices: fake(() => undefined),
        saveCursor: fake(() => undefined),
      }),
      followChain: () => () => undefined,
    },
    {
      ackMessages: (params) => void acks.push(params),
      nakMessages: (params) => void naks.push(params),
      notifyBidRejected: (params) => void rejections.push(params),
    },
  );
  const run = await started(machine, { config: cfg, dimension: DIMENSION, design: V2, startBlock: 1 });
  return { ...run, submitBids, acks, naks, rejections };
}

describe("gateway: the market's design", () => {
  it("checks a bid against its market's design: the other design's bid, or a ciphertext of the wrong size, is refused", () => {
    expect(bidProblem(slotBid(1), DIMENSION, V2)).toBeNull();
    expect(bidProblem(slotBid(1, 6 * DIMENSION * TOKENS - 1), DIMENSION, V2)).toBe(`the ciphertext must have ${6 * DIMENSION * TOKENS} words`);
    expect(bidProblem(signedBid(1), DIMENSION, V2)).not.toBeNull();
    expect(bidProblem(slotBid(1), 11)).not.toBeNull();
    expect(bidProblem(signedBid(1), 11)).toBeNull();
  });

  it("in a version 2 market takes slot bids, acks them by result, and hands an unknown one back after the nak delay", async () => {
    const g = await start((bids) => ({
      kind: "mined",
      txHash: "",
      results: bids.map((bid, index) => ({ bidder: bid.bidder, status: (["placed", "unknown", "rejected"] as const)[index]!, ...(index === 2 ? { reason: "SlotClosed" } : {}) })),
    }));
    for (const n of [1, 2, 3]) await g.send({ type: "BID.RECEIVED", messageId: `js:${n}`, bid: slotBid(n) });
    // A version 1 bid in this market: refused at once, its meter told.
    await g.send({ type: "BID.RECEIVED", messageId: "js:v1", bid: signedBid(9) });
    expect(g.submitBids.calls).toHaveLength(1);
    expect(g.submitBids.calls[0]!.bids.map((bid) => bid.slot)).toEqual([1_001, 1_002, 1_003]);
    expect(g.acks).toEqual([
      { messageIds: ["js:1"], disposition: "placed" },
      { messageIds: ["js:3"], disposition: "rejected" },
      { messageIds: ["js:v1"], disposition: "malformed" },
    ]);
    expect(g.naks).toEqual([{ messageIds: ["js:2"], delayMs: 1_234 }]);
    expect(g.rejections.map((r) => [r.bidder, r.rejection.error])).toEqual([
      [address(3), "SlotClosed"],
      [address(9), expect.any(String)],
    ]);
    expect(g.context().stats).toMatchObject({ placed: 1, rejected: 2, naked: 1 });
    expect(g.context().pending).toEqual([]);
    expect(g.context().inFlight).toEqual([]);
  });

  it("sends a bid refused for its hints or a book awaiting a purge again later, and refuses it only for its own fault", async () => {
    const reasons = ["StaleHint", "ExpiredBacklog", "TicketExpired"];
    const g = await start((bids) => ({ kind: "mined", txHash: "", results: bids.map((bid, index) => ({ bidder: bid.bidder, status: "rejected" as const, reason: reasons[index]! })) }));
    for (const n of [1, 2, 3]) await g.send({ type: "BID.RECEIVED", messageId: `js:${n}`, bid: slotBid(n) });
    expect(g.naks).toEqual([{ messageIds: ["js:1", "js:2"], delayMs: 1_234 }]);
    expect(g.acks).toEqual([{ messageIds: ["js:3"], disposition: "rejected" }]);
    expect(g.rejections.map((r) => r.rejection.error)).toEqual(["TicketExpired"]);
    // Version 1 has no hints: the same names there are the contract's last word.
    expect(isRetriedRejection("StaleHint", { version: 1 })).toBe(false);
    expect(isRetriedRejection("StaleHint", V2)).toBe(true);
  });
});
