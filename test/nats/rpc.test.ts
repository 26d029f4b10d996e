// Integration (real nats-server): typed request/reply, error replies, handlers that survive bad input, trace headers.
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { decode, encode } from "../../actors/nats/codec.ts";
import { BadMessageError, InvalidOutgoingMessageError, RemoteError, RequestRejectedError } from "../../actors/nats/errors.ts";
import { answer, call, publish, subscribe } from "../../actors/nats/rpc.ts";
import type { Endpoint } from "../../protocol/wire/endpoints.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import { headerRecord, setTracePropagation, noTracePropagation } from "../../actors/nats/tracing.ts";
import { marketSubjects } from "../../protocol/wire/subjects.ts";
import { ticketReplySchema, ticketRequestSchema, type TicketRequest } from "../../protocol/wire/schemas.ts";

const subjects = marketSubjects("rpc-test");
/** A plain (unsealed) typed endpoint: the adapter under test; the market's ticket endpoint is sealed (sealedRpc.test.ts). */
const ticketEndpoint = { subject: (s) => s.dso.ticket, request: ticketRequestSchema, reply: ticketReplySchema } satisfies Endpoint<typeof ticketRequestSchema, typeof ticketReplySchema>;
const endpoints = { ticket: ticketEndpoint };
const bidder = "0x52908400098527886E0F7030069857D2E4169EE7";
const validRequest: TicketRequest = {
  type: "ticket.request",
  meterId: "meter-1",
  bidder,
  side: 0,
  notAfter: 1_900_000_000,
  auth: { signer: bidder, signature: `0x${"ab".repeat(65)}`, issuedAt: 1 },
};

let server: NatsServerHandle;
let nc: NatsConnection;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  nc = await connect({ servers: server.url });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("codec", () => {
  it("round-trips a message and normalises addresses", () => {
    const bytes = encode(ticketRequestSchema, { ...validRequest, bidder: bidder.toLowerCase() as `0x${string}` });
    expect(decode(ticketRequestSchema, bytes)).toEqual(validRequest);
  });

  it("refuses to send an invalid message", () => {
    expect(() => encode(ticketRequestSchema, { ...validRequest, side: 2 as 0 })).toThrow(InvalidOutgoingMessageError);
  });

  it("reports non-JSON and schema violations as BadMessageError with the issues", () => {
    expect(() => decode(ticketRequestSchema, { data: new TextEncoder().encode("{nope"), subject: "s" })).toThrow(/not UTF-8 JSON/);
    try {
      decode(ticketRequestSchema, encodeRaw({ ...validRequest, notAfter: "soon" }));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(BadMessageError);
      expect((error as BadMessageError).issues).toEqual([{ path: "notAfter", message: expect.any(String) }]);
    }
  });
});

describe("request/reply", () => {
  it("answers typed requests, error replies, and keeps serving after bad messages and failures", async () => {
    const failures: unknown[] = [];
    const service = answer(
      nc,
      subjects,
      endpoints.ticket,
      async (req) => {
        if (req.meterId === "unknown") throw new RequestRejectedError("unauthorized", "meter not enrolled", { hint: "enrol first" });
        if (req.meterId === "crash") throw new Error("database password is hunter2");
        return { type: "ticket.reply" as const, bidder: req.bidder, ticket: { notAfter: req.notAfter, signature: `0x${"cd".repeat(65)}` } };
      },
      { onFailure: (error) => failures.push(error) },
    );
    await service.ready;

    const reply = await call(nc, subjects, endpoints.ticket, validRequest);
    expect(reply).toMatchObject({ type: "ticket.reply", bidder, ticket: { notAfter: 1_900_000_000 } });

    // Malformed JSON: error reply `bad-message`, the service survives.
    const raw = await nc.request(subjects.dso.ticket, new TextEncoder().encode("not json"), { timeout: 2_000 });
    expect(JSON.parse(new TextDecoder().decode(raw.data))).toMatchObject({ type: "error", code: "bad-message" });

    // Wrong shape: the issues come back to the sender.
    const wrong = await nc.request(subjects.dso.ticket, encodeRaw({ ...validRequest, bidder: "0x123" }), { timeout: 2_000 });
    expect(JSON.parse(new TextDecoder().decode(wrong.data))).toMatchObject({
      code: "bad-message",
      issues: [{ path: "bidder", message: expect.any(String) }],
    });

    // A handler's deliberate rejection carries its code and hint.
    const rejected = call(nc, subjects, endpoints.ticket, { ...validRequest, meterId: "unknown" });
    await expect(rejected).rejects.toBeInstanceOf(RemoteError);
    await expect(rejected).rejects.toMatchObject({ code: "unauthorized", reply: { hint: "enrol first" } });

    // An unexpected failure is `internal` and leaks nothing.
    const crashed = call(nc, subjects, endpoints.ticket, { ...validRequest, meterId: "crash" });
    await expect(crashed).rejects.toMatchObject({ code: "internal", reply: { message: "internal error" } });
    await crashed.catch((error: RemoteError) => expect(JSON.stringify(error.reply)).not.toContain("hunter2"));

    // Still alive after all of it.
    await expect(call(nc, subjects, endpoints.ticket, validRequest)).resolves.toBeDefined();
    expect(failures).toHaveLength(4);
    await service.stop();
  });

  it("rejects a reply that matches neither the reply schema nor the error schema", async () => {
    const sub = nc.subscribe(subjects.dso.ticket, { callback: (_err, msg) => void msg.respond(encodeRaw({ hello: "world" })) });
    const reply = call(nc, subjects, endpoints.ticket, validRequest);
    await expect(reply).rejects.toBeInstanceOf(BadMessageError);
    sub.unsubscribe();
  });

  it("drops bad published messages without crashing a subscriber", async () => {
    const received: string[] = [];
    const service = subscribe(nc, subjects.market.matched, z.object({ n: z.string() }), (value) => {
      received.push(value.n);
    });
    nc.publish(subjects.market.matched, encodeRaw({ n: 1 }));
    nc.publish(subjects.market.matched, new Uint8Array([0xff, 0xfe]));
    publish(nc, subjects.market.matched, z.object({ n: z.string() }), { n: "ok" });
    await nc.flush();
    await service.stop();
    expect(received).toEqual(["ok"]);
  });
});

describe("trace context", () => {
  it("injects headers through the propagation seam and hands the context to the handler", async () => {
    let seen: Record<string, string> = {};
    const previous = setTracePropagation({
      inject: (h) => h.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
      extract: (h) => {
        seen = headerRecord({ headers: h });
        return noTracePropagation.extract(h);
      },
    });
    try {
      const service = answer(nc, subjects, endpoints.ticket, (req) => ({
        type: "ticket.reply" as const,
        bidder: req.bidder,
        ticket: { notAfter: req.notAfter, signature: `0x${"cd".repeat(65)}` },
      }));
      const extra = natsHeaders();
      extra.set("x-gridveil-test", "1");
      await call(nc, subjects, endpoints.ticket, validRequest, { headers: extra });
      expect(seen).toMatchObject({ traceparent: expect.stringMatching(/^00-/), "x-gridveil-test": "1" });
      await service.stop();
    } finally {
      setTracePropagation(previous);
    }
  });
});

function encodeRaw(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
