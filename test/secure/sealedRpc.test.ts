// Sealed request/reply and sealed trade messages over a real nats-server: what an observer of `>` sees (envelopes only),
// errors sealed back to the requester, and a notice sealed by anyone but the expected sender or naming another trade
// refused without stopping the listener.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RemoteError, RequestRejectedError } from "../../actors/nats/errors.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import { answerSealed, callSealed, listenSealed, notifySealed, sealTradeMessage } from "../../actors/secure/sealedRpc.ts";
import { endpoints, inboxChannels } from "../../protocol/wire/endpoints.ts";
import { sealContexts } from "../../protocol/wire/sealContexts.ts";
import { open, seal } from "../../actors/secure/sealed.ts";
import type { Sealed, TicketRequest, VoidedNotice } from "../../protocol/wire/schemas.ts";
import { marketSubjects } from "../../protocol/wire/subjects.ts";

const s = marketSubjects("sealed-rpc");
const dso = Wallet.createRandom();
const meter = Wallet.createRandom();
const oneTime = Wallet.createRandom();
const request: TicketRequest = {
  type: "ticket.request",
  meterId: "house-4711",
  bidder: oneTime.address as `0x${string}`,
  side: 1,
  notAfter: 1_900_000_000,
  auth: { signer: meter.address as `0x${string}`, signature: `0x${"ab".repeat(65)}`, issuedAt: 1 },
};

let server: NatsServerHandle;
let nc: NatsConnection;
const seen: string[] = [];
beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  nc = await connect({ servers: server.url });
  // The observer: everything on the server, as text.
  nc.subscribe(">", { callback: (_error, msg) => void seen.push(`${msg.subject} ${new TextDecoder().decode(msg.data)}`) });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("sealed request/reply", () => {
  it("answers with a sealed reply, seals refusals back, and an observer sees no field of either", async () => {
    const asked: { meterId: string; sender: string }[] = [];
    const service = answerSealed(nc, s, endpoints.ticket, dso, (payload, { sender }) => {
      asked.push({ meterId: payload.meterId, sender });
      if (payload.side === 0) throw new RequestRejectedError("rejected", "no buying today");
      return { type: "ticket.reply" as const, bidder: payload.bidder, ticket: { notAfter: payload.notAfter, signature: `0x${"cd".repeat(65)}` } };
    });
    await service.ready;
    const keys = { wallet: oneTime, recipientPublicKey: dso.signingKey.publicKey };
    const reply = await callSealed(nc, s, endpoints.ticket, request, keys);
    expect(reply).toMatchObject({ type: "ticket.reply", bidder: oneTime.address, ticket: { notAfter: 1_900_000_000 } });
    expect(asked).toEqual([{ meterId: "house-4711", sender: oneTime.address }]);

    const refused = await callSealed(nc, s, endpoints.ticket, { ...request, side: 0 }, keys).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RemoteError);
    expect(refused).toMatchObject({ code: "rejected", reply: { message: "no buying today" } });

    // Sealed to a key the DSO does not hold: refused in clear, with no detail of the request.
    const elsewhere = await callSealed(nc, s, endpoints.ticket, request, { ...keys, recipientPublicKey: Wallet.createRandom().signingKey.publicKey }).catch((error: unknown) => error);
    expect(elsewhere).toMatchObject({ code: "unauthorized" });

    await nc.flush();
    const wire = seen.filter((line) => line.startsWith(s.dso.ticket) || line.startsWith("_INBOX")).join("\n");
    expect(wire).toContain("sealed.request");
    for (const secret of ["house-4711", oneTime.address.slice(2), meter.address.slice(2), "1900000000", "no buying today"]) expect(wire.toLowerCase()).not.toContain(secret.toLowerCase());
    await service.stop();
  });
});

describe("sealed replies belong to their request", () => {
  it("an old reply replayed to a new request does not open, and a malformed sealed payload is refused sealed", async () => {
    const keys = { wallet: oneTime, recipientPublicKey: dso.signingKey.publicKey };
    // A responder that records its first reply and answers every later request with it.
    let recorded: Uint8Array | undefined;
    const honest = answerSealed(nc, s, endpoints.ticket, dso, (payload) => ({
      type: "ticket.reply" as const,
      bidder: payload.bidder,
      ticket: { notAfter: payload.notAfter, signature: `0x${"cd".repeat(65)}` },
    }));
    await honest.ready;
    const tap = nc.subscribe("_INBOX.>", { callback: (_error, msg) => void (recorded ??= msg.data) });
    await nc.flush();
    await callSealed(nc, s, endpoints.ticket, request, keys);
    await honest.stop();
    tap.unsubscribe();
    const replayer = nc.subscribe(s.dso.ticket, { callback: (_error, msg) => void msg.respond(recorded!) });
    await nc.flush();
    await expect(callSealed(nc, s, endpoints.ticket, request, keys)).rejects.toThrow(/another context/);
    replayer.unsubscribe();

    // A payload that opens but does not fit the schema: the refusal is sealed back too.
    const strict = answerSealed(nc, s, endpoints.ticket, dso, () => {
      throw new Error("unreachable");
    });
    await strict.ready;
    const sealed = seal({ payload: { type: "ticket.request", meterId: "house-4711" }, senderWallet: oneTime, recipientPublicKey: dso.signingKey.publicKey, context: s.dso.ticket });
    const raw = await nc.request(s.dso.ticket, JSON.stringify({ type: "sealed.request", sealed }), { timeout: 2_000 });
    const reply = JSON.parse(new TextDecoder().decode(raw.data)) as { type: string; sealed: Sealed };
    expect(reply.type).toBe("sealed.reply");
    expect(open(reply.sealed, oneTime.privateKey, dso.address, sealContexts.reply(s.dso.ticket, sealed.ciphertext))).toMatchObject({ type: "error", code: "unauthorized" });
    await strict.stop();
  });
});

describe("sealed notices", () => {
  it("reach the listener only sealed by the DSO, to this meter, for the trade they name", async () => {
    const tradeId = `0x${"42".repeat(32)}` as const;
    const notice: VoidedNotice = { type: "trade.voided", tradeId, bidder: oneTime.address as `0x${string}`, reason: "openingTimeout", blamedBidders: [] };
    const received: VoidedNotice[] = [];
    const refused: unknown[] = [];
    const listener = listenSealed(nc, s, inboxChannels.voided, "inbox-9", { privateKey: meter.privateKey, dsoAddress: dso.address }, (payload) => void received.push(payload), {
      onFailure: (error) => refused.push(error),
    });
    await listener.ready;
    const subject = s.meter.voided("inbox-9");
    notifySealed(nc, s, inboxChannels.voided, "inbox-9", notice, { wallet: dso, recipientPublicKey: meter.signingKey.publicKey });
    // Sealed by someone else, and a genuine seal naming another trade outside than inside.
    nc.publish(subject, JSON.stringify(sealTradeMessage(subject, tradeId, notice, { wallet: Wallet.createRandom(), recipientPublicKey: meter.signingKey.publicKey })));
    const moved = sealTradeMessage(subject, tradeId, notice, { wallet: dso, recipientPublicKey: meter.signingKey.publicKey });
    nc.publish(subject, JSON.stringify({ ...moved, tradeId: `0x${"43".repeat(32)}` }));
    const renamed = sealTradeMessage(subject, `0x${"43".repeat(32)}`, notice, { wallet: dso, recipientPublicKey: meter.signingKey.publicKey });
    nc.publish(subject, JSON.stringify(renamed));
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received).toEqual([notice]);
    expect(refused.map((error) => (error as Error).name)).toEqual(["UnexpectedSenderError", "WrongContextError", "MisaddressedSealedMessageError"]);
    expect(seen.filter((line) => line.startsWith(subject)).join("\n")).not.toContain("openingTimeout");
    await listener.stop();
  });
});
