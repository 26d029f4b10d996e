// The endpoint table: every request/reply subject has one entry, its schemas are registered messages, and a meter's
// permissions allow exactly what the tables say it uses.
import { describe, expect, it } from "vitest";
import { endpoints, inboxChannels } from "../../../protocol/wire/endpoints.ts";
import { messageSchemas, sealedPayloadSchemas } from "../../../protocol/wire/schemas.ts";
import { marketSubjects, natsPermissions } from "../../../protocol/wire/subjects.ts";

const s = marketSubjects("m1");
const typeOf = (schema: unknown): string => {
  const shape = (schema as { shape?: { type?: { value?: string } } }).shape;
  if (shape?.type?.value === undefined) throw new Error("not a message schema with a literal type");
  return shape.type.value;
};

describe("endpoints", () => {
  it("gives each request/reply subject of a market exactly one entry", () => {
    const subjects = Object.values(endpoints).map((endpoint) => endpoint.subject(s));
    expect(new Set(subjects).size).toBe(subjects.length);
    expect(subjects.sort()).toEqual([s.dso.dispute, s.dso.enrol, s.dso.market, s.dso.opening, s.dso.ticket, s.dso.certify, s.dso.hints, s.gateway.cancel].sort());
  });

  it("pairs each subject with registered message schemas of distinct types", () => {
    for (const [name, endpoint] of Object.entries(endpoints)) {
      const request = typeOf(endpoint.request);
      const reply = typeOf(endpoint.reply);
      expect(request, name).not.toBe(reply);
      expect(messageSchemas[request as keyof typeof messageSchemas], name).toBe(endpoint.request);
      expect(messageSchemas[reply as keyof typeof messageSchemas], name).toBe(endpoint.reply);
      // A sealed endpoint's payloads are registered as sealed payloads, never as messages in clear.
      if ("payload" in endpoint) {
        for (const payload of [endpoint.payload.request, endpoint.payload.reply]) {
          expect(sealedPayloadSchemas[typeOf(payload) as keyof typeof sealedPayloadSchemas], name).toBe(payload);
          expect(typeOf(payload) in messageSchemas, name).toBe(false);
        }
      }
    }
  });

  it("seals every endpoint that carries a permanent id, an opening or a claim", () => {
    const sealed = Object.entries(endpoints).filter(([, endpoint]) => "payload" in endpoint).map(([name]) => name);
    expect(sealed.sort()).toEqual(["certify", "dispute", "enrol", "ticket"]);
  });

  it("lets a meter ask every endpoint but the gateway's hints, and the gateway only the description and the hints", () => {
    const meter = natsPermissions("m1", "meter", "inbox-1").publish.allow;
    for (const [name, endpoint] of Object.entries(endpoints)) expect(meter.includes(endpoint.subject(s)), name).toBe(name !== "hints");
    const gateway = natsPermissions("m1", "gateway").publish.allow;
    for (const [name, endpoint] of Object.entries(endpoints)) expect(gateway.includes(endpoint.subject(s)), name).toBe(name === "hints" || name === "marketInfo");
  });
});

describe("inbox channels", () => {
  it("lie inside the meter's own inbox and carry registered sealed payloads", () => {
    const inbox = s.meter.inbox("inbox-1").replace(/>$/, "");
    const subjects = Object.values(inboxChannels).map((channel) => channel.subject(s, "inbox-1"));
    expect(new Set(subjects).size).toBe(subjects.length);
    for (const [name, channel] of Object.entries(inboxChannels)) {
      expect(channel.subject(s, "inbox-1").startsWith(inbox), name).toBe(true);
      // A channel carries one payload type, or (the terms) version 1's and version 2's: each registered as is.
      const options = (channel.payload as { options?: unknown[] }).options ?? [channel.payload];
      for (const option of options) expect(sealedPayloadSchemas[typeOf(option) as keyof typeof sealedPayloadSchemas], name).toBe(option);
    }
    expect(subjects.some((subject) => subject.includes("inbox-2"))).toBe(false);
  });
});
