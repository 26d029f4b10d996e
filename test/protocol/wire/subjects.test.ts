// Subjects: built from the market id only, tokens validated; per-role permissions enforced by a real nats-server.
import { InvalidSubjectTokenError } from "../../../protocol/errors.ts";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Wallet } from "ethers";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dedupIds, ensureDurableConsumer, ensureStreams, publishDeduplicated } from "../../../actors/nats/jetstream.ts";
import { startNatsServer, type NatsServerHandle } from "../../../actors/nats/server.ts";
import { bidSubmissionSchema } from "../../../protocol/wire/schemas.ts";
import { bidSubmission, consumeBids } from "./fixtures.ts";
import {
  DURABLES,
  marketSubjects,
  natsPermissions,
  replyInboxPrefix,
  GATEWAY_INBOX_PREFIX,
  streamNames,
  streamSubjects,
} from "../../../protocol/wire/subjects.ts";

describe("marketSubjects", () => {
  const s = marketSubjects("m1");

  it("follows gridveil.<market>.<party>.<verb>", () => {
    expect(s.dso.ticket).toBe("gridveil.m1.dso.ticket");
    expect(s.gateway.submit).toBe("gridveil.m1.gateway.submit");
    expect(s.market.matched).toBe("gridveil.m1.market.matched");
    expect(s.meter.reading).toBe("gridveil.m1.meter.reading");
    expect(s.meter.trade("ab12")).toBe("gridveil.m1.meter.ab12.trade");
    expect(s.meter.trade("0xAbC0000000000000000000000000000000000001")).toBe("gridveil.m1.meter.0xabc0000000000000000000000000000000000001.trade");
  });

  it("refuses tokens that would change the subject's shape", () => {
    for (const bad of ["", "a.b", "*", ">", "A B", "UPPER", "x".repeat(65)]) {
      expect(() => marketSubjects(bad)).toThrow(InvalidSubjectTokenError);
      expect(() => s.meter.trade(bad)).toThrow(InvalidSubjectTokenError);
    }
  });

  it("names the four streams and what each captures, without overlaps", () => {
    expect(streamNames("east-1")).toEqual({
      bids: "GRIDVEIL_EAST_1_BIDS",
      matches: "GRIDVEIL_EAST_1_MATCHES",
      readings: "GRIDVEIL_EAST_1_READINGS",
      settlements: "GRIDVEIL_EAST_1_SETTLEMENTS",
    });
    const captured = Object.values(streamSubjects("m1")).flat();
    expect(new Set(captured).size).toBe(captured.length);
    // Request/reply and per-meter subjects stay out of streams.
    expect(captured).not.toContain(s.dso.ticket);
  });
});

describe("natsPermissions (enforced by nats-server)", () => {
  let dir: string;
  let server: NatsServerHandle;
  const s = marketSubjects("m1");
  const users = {
    dso: natsPermissions("m1", "dso"),
    gateway: natsPermissions("m1", "gateway"),
    meterA: natsPermissions("m1", "meter", "inboxa"),
    meterB: natsPermissions("m1", "meter", "inboxb"),
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gridveil-perm-"));
    const config = join(dir, "nats.conf");
    const entries = Object.entries(users).map(([user, permissions]) => ({ user, password: "pw", permissions }));
    await writeFile(config, `authorization ${JSON.stringify({ users: entries })}\n`);
    server = await startNatsServer({ configFile: config });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function as(user: keyof typeof users): Promise<NatsConnection> {
    return connect({
      servers: server.url,
      user,
      pass: "pw",
      ...(user.startsWith("meter") ? { inboxPrefix: replyInboxPrefix(user === "meterA" ? "inboxa" : "inboxb") } : {}),
      ...(user === "gateway" ? { inboxPrefix: GATEWAY_INBOX_PREFIX } : {}),
    });
  }

  /** Resolves with the error a subscription is closed with (permission violations arrive asynchronously). */
  async function subscribeOutcome(nc: NatsConnection, subject: string): Promise<string> {
    const sub = nc.subscribe(subject);
    const outcome = await Promise.race([sub.closed.then((error) => (error ? error.message : "closed")), sleep(500).then(() => "open")]);
    if (outcome === "open") sub.unsubscribe();
    return outcome;
  }

  it("lets a meter read its own inbox and the market events, and nothing of another meter", async () => {
    const meterA = await as("meterA");
    expect(await subscribeOutcome(meterA, s.meter.trade("inboxa"))).toBe("open");
    expect(await subscribeOutcome(meterA, s.market.matched)).toBe("open");
    expect(await subscribeOutcome(meterA, s.meter.trade("inboxb"))).toMatch(/permission/i);
    expect(await subscribeOutcome(meterA, "_INBOX.>")).toMatch(/permission/i);
    expect(await subscribeOutcome(meterA, s.dso.ticket)).toMatch(/permission/i);
    expect(await subscribeOutcome(meterA, s.meter.reading)).toMatch(/permission/i);
    await meterA.close();
  });

  it("still lets a meter make requests (replies come to its own inbox prefix) and the DSO reach a meter", async () => {
    const dso = await as("dso");
    const meterA = await as("meterA");
    const service = dso.subscribe(s.dso.ticket, { callback: (_error, msg) => void msg.respond(new TextEncoder().encode("ticket")) });
    await dso.flush(); // the subscription must be on the server before another connection's request
    const reply = await meterA.request(s.dso.ticket, new TextEncoder().encode("please"), { timeout: 2_000 });
    expect(new TextDecoder().decode(reply.data)).toBe("ticket");

    const inbox = meterA.subscribe(s.meter.trade("inboxa"), { max: 1 });
    await meterA.flush();
    dso.publish(s.meter.trade("inboxa"), new TextEncoder().encode("terms"));
    for await (const msg of inbox) expect(new TextDecoder().decode(msg.data)).toBe("terms");
    service.unsubscribe();
    await Promise.all([dso.close(), meterA.close()]);
  });

  it("lets a meter submit a bid to the stream and the gateway consume it durably, with only their permissions", async () => {
    const dso = await as("dso");
    const jsm = await jetstreamManager(dso);
    const streams = await ensureStreams(jsm, "m1");
    await ensureDurableConsumer(jsm, streams.bids, DURABLES.gatewayBids, { filterSubject: s.gateway.submit });

    const meterA = await as("meterA");
    const bidder = Wallet.createRandom().address;
    const bid = bidSubmission(bidder, 1);
    const published = await publishDeduplicated(jetstream(meterA), s.gateway.submit, bidSubmissionSchema, bid, dedupIds.bid(bidder));
    expect(published.duplicate).toBe(false);

    const gateway = await as("gateway");
    const consumed = await consumeBids(gateway, streams.bids);
    expect(consumed.bidders).toEqual([bidder]);
    expect(consumed.stats).toEqual({ acked: 1, naked: 0, termed: 0 });
    // The meter cannot read the bids stream (other meters' bids) through JetStream either.
    await expect(jetstream(meterA).consumers.get(streams.bids, DURABLES.gatewayBids)).rejects.toThrow();
    await Promise.all([dso.close(), meterA.close(), gateway.close()]);
  });
});
