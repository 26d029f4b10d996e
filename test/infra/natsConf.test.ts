// infra/nats/nats.conf enforced by a real nats-server (started here on a free port, JetStream in a temp dir):
// allowed flows of each role work, forbidden ones are refused. Also: the file is what infra/provision.ts generates.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Wallet } from "ethers";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dedupIds, ensureDurableConsumer, ensureMeterEventsConsumer, ensureStreams, publishDeduplicated } from "../../actors/nats/jetstream.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import { bidSubmissionSchema, matchEventSchema } from "../../protocol/wire/schemas.ts";
import {
  DURABLES,
  GATEWAY_INBOX_PREFIX,
  GATEWAY_QUEUE_GROUP,
  marketSubjects,
  meterEventsDurable,
  natsPermissions,
  replyInboxPrefix,
  type StreamNames,
} from "../../protocol/wire/subjects.ts";
import { provision, renderProvisioningFiles, watchPermissions, type NatsUser } from "../../infra/provision.ts";
import { bidSubmission, consumeBids } from "../protocol/wire/fixtures.ts";

const infraDir = resolve(import.meta.dirname, "../../infra");
const natsConfPath = join(infraDir, "nats/nats.conf");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe("infra provisioning files", () => {
  it("are what infra/provision.ts generates (else run `npx tsx infra/provision.ts` and commit)", async () => {
    for (const [name, content] of renderProvisioningFiles(provision())) {
      expect(await readFile(join(infraDir, name), "utf8"), name).toBe(content);
    }
  });

  it("give every role exactly natsPermissions, meters their own inbox, and agree with the DSO registry", () => {
    const { users, meters, registry } = provision();
    const byName = new Map(users.map((user) => [user.user, user]));
    expect(byName.get("dso")?.permissions).toEqual(natsPermissions("m1", "dso"));
    expect(byName.get("gateway")?.permissions).toEqual(natsPermissions("m1", "gateway"));
    expect(byName.get("watch")?.permissions.publish).toEqual({ deny: [">"] });
    expect(byName.get("watch")?.permissions.subscribe).toEqual(watchPermissions("m1").subscribe);
    for (const meter of meters) {
      expect(byName.get(meter.natsUser)?.permissions).toEqual(natsPermissions("m1", "meter", meter.inboxId));
      expect(registry).toContainEqual({ meterId: meter.meterId, address: meter.address, name: meter.name, inboxId: meter.inboxId });
      expect(new Wallet(meter.privateKey).address).toBe(meter.address);
    }
    // Distinct users, inboxes and passwords: one meter's credentials never open another's subjects.
    expect(new Set(users.map((user) => user.user)).size).toBe(users.length);
    expect(new Set(users.map((user) => user.password)).size).toBe(users.length);
  });
});

describe("infra/nats/nats.conf (enforced by nats-server)", () => {
  let dir: string;
  let server: NatsServerHandle;
  const s = marketSubjects("m1");
  const { users, meters } = provision();
  const [meterA, meterB] = [meters[0], meters[1]] as [(typeof meters)[number], (typeof meters)[number]];
  const open: NatsConnection[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gridveil-natsconf-"));
    // The committed file, minus its listen ports and store dir: startNatsServer picks a free port and a temp store.
    const conf = (await readFile(natsConfPath, "utf8"))
      .split("\n")
      .filter((line) => !/^(port|http_port):/.test(line) && !/^jetstream\s*\{/.test(line))
      .join("\n");
    expect(conf).toContain("authorization");
    await writeFile(join(dir, "nats.conf"), conf);
    server = await startNatsServer({ configFile: join(dir, "nats.conf"), storeDir: join(dir, "jetstream") });
  });
  afterAll(async () => {
    await Promise.all(open.map((nc) => nc.close().catch(() => undefined)));
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function credentials(user: string): NatsUser {
    const found = users.find((entry) => entry.user === user);
    if (!found) throw new Error(`no user ${user}`);
    return found;
  }

  async function as(user: string, inboxPrefix?: string): Promise<NatsConnection> {
    const nc = await connect({ servers: server.url, user, pass: credentials(user).password, ...(inboxPrefix ? { inboxPrefix } : {}) });
    open.push(nc);
    return nc;
  }
  const asMeter = (meter: typeof meterA): Promise<NatsConnection> => as(meter.natsUser, replyInboxPrefix(meter.inboxId));
  const asGateway = (): Promise<NatsConnection> => as("gateway", GATEWAY_INBOX_PREFIX);

  /** "open", or the error the server closed the subscription with (violations arrive asynchronously). */
  async function subscribeOutcome(nc: NatsConnection, subject: string): Promise<string> {
    const sub = nc.subscribe(subject);
    const outcome = await Promise.race([sub.closed.then((error) => (error ? error.message : "closed")), sleep(400).then(() => "open")]);
    if (outcome === "open") sub.unsubscribe();
    return outcome;
  }

  /** Publishes and reports whether the server answered with a publish permission violation for that subject. */
  async function publishRefused(nc: NatsConnection, subject: string): Promise<boolean> {
    let refused = false;
    const watcher = (async () => {
      for await (const status of nc.status()) {
        const text = JSON.stringify(status, Object.getOwnPropertyNames(status)) + String((status as { error?: unknown }).error ?? "");
        if (/permission/i.test(text) && text.includes(subject)) refused = true;
      }
    })();
    nc.publish(subject, encoder.encode("x"));
    await nc.flush();
    await sleep(200);
    void watcher;
    return refused;
  }

  it("refuses unknown users and wrong passwords", async () => {
    await expect(connect({ servers: server.url })).rejects.toThrow(/authorization/i);
    await expect(connect({ servers: server.url, user: meterA.natsUser, pass: meterB.natsPassword })).rejects.toThrow(/authorization/i);
  });

  it("lets a meter read its own inbox and the market events, and nothing of another meter or of the DSO's services", async () => {
    const nc = await asMeter(meterA);
    expect(await subscribeOutcome(nc, s.meter.trade(meterA.inboxId))).toBe("open");
    expect(await subscribeOutcome(nc, s.meter.inbox(meterA.inboxId))).toBe("open");
    expect(await subscribeOutcome(nc, s.market.matched)).toBe("open");
    for (const forbidden of [
      s.meter.trade(meterB.inboxId),
      s.meter.settled(meterB.inboxId),
      s.meter.state(meterB.inboxId),
      `${replyInboxPrefix(meterB.inboxId)}.>`,
      "_INBOX.>",
      s.dso.enrol,
      s.dso.ticket,
      s.dso.opening,
      s.gateway.submit,
      s.gateway.cancel,
      s.meter.reading,
      "gridveil.m1.meter.*.trade",
      ">",
    ]) {
      expect(await subscribeOutcome(nc, forbidden), forbidden).toMatch(/permission/i);
    }
  });

  it("does not let a meter write into another meter's inbox or forge market events", async () => {
    const nc = await asMeter(meterA);
    expect(await publishRefused(nc, s.meter.trade(meterB.inboxId))).toBe(true);
    expect(await publishRefused(nc, s.market.matched)).toBe(true);
    expect(await publishRefused(nc, s.meter.state(meterB.inboxId))).toBe(true);
    expect(await publishRefused(nc, s.meter.state(meterA.inboxId))).toBe(false);
  });

  it("lets the DSO serve enrolment and tickets, meters request them, and the DSO reach one meter's inbox", async () => {
    const dso = await as("dso");
    const served: string[] = [];
    for (const subject of [s.dso.enrol, s.dso.ticket]) {
      dso.subscribe(subject, { callback: (_error, msg) => (served.push(subject), void msg.respond(encoder.encode(`ok ${subject}`))) });
    }
    await dso.flush();
    const nc = await asMeter(meterA);
    expect(decoder.decode((await nc.request(s.dso.enrol, encoder.encode("enrol me"), { timeout: 2_000 })).data)).toBe(`ok ${s.dso.enrol}`);
    expect(decoder.decode((await nc.request(s.dso.ticket, encoder.encode("ticket"), { timeout: 2_000 })).data)).toBe(`ok ${s.dso.ticket}`);
    expect(served).toEqual([s.dso.enrol, s.dso.ticket]);

    const inbox = nc.subscribe(s.meter.trade(meterA.inboxId), { max: 1 });
    await nc.flush();
    dso.publish(s.meter.trade(meterA.inboxId), encoder.encode("terms"));
    for await (const msg of inbox) expect(decoder.decode(msg.data)).toBe("terms");
  });

  it("does not let a meter without its own reply prefix receive replies (the default _INBOX is closed to it)", async () => {
    const dso = await as("dso");
    dso.subscribe(s.dso.market, { callback: (_error, msg) => void msg.respond(encoder.encode("market")) });
    await dso.flush();
    const nc = await as(meterA.natsUser); // default inbox prefix `_INBOX.`
    await expect(nc.request(s.dso.market, encoder.encode("?"), { timeout: 1_000 })).rejects.toThrow();
  });

  it("lets a meter submit bids to the stream and only the gateway consume them", async () => {
    const dso = await as("dso");
    const streams = await ensureStreams(await jetstreamManager(dso), "m1");
    await ensureDurableConsumer(await jetstreamManager(dso), streams.bids, DURABLES.gatewayBids, { filterSubject: s.gateway.submit });

    const nc = await asMeter(meterA);
    const bidder = Wallet.createRandom().address;
    const bid = bidSubmission(bidder, 0);
    expect((await publishDeduplicated(jetstream(nc), s.gateway.submit, bidSubmissionSchema, bid, dedupIds.bid(bidder))).duplicate).toBe(false);
    // Another meter cannot read the bids stream (which would link bids to their sender's timing).
    const other = await asMeter(meterB);
    await expect(jetstream(other).consumers.get(streams.bids, DURABLES.gatewayBids)).rejects.toThrow();

    const gateway = await asGateway();
    const consumed = await consumeBids(gateway, streams.bids);
    expect(consumed.bidders).toEqual([bidder]);
    // The gateway publishes market events, never reads meter inboxes nor serves the DSO's requests.
    expect(await publishRefused(gateway, s.market.matched)).toBe(false);
    expect(await subscribeOutcome(gateway, s.meter.inbox(meterA.inboxId))).toMatch(/permission/i);
    expect(await subscribeOutcome(gateway, s.dso.enrol)).toMatch(/permission/i);
  });

  /** A match on the matches stream, as the gateway publishes it. */
  async function publishMatch(gateway: NatsConnection): Promise<void> {
    const match = {
      type: "market.matched" as const,
      buyId: Wallet.createRandom().address,
      sellId: Wallet.createRandom().address,
      txHash: `0x${"ab".repeat(32)}`,
      blockNumber: 1,
      logIndex: 0,
      observedAt: Date.now(),
    };
    await publishDeduplicated(jetstream(gateway), s.market.matched, matchEventSchema, match, dedupIds.marketEvent("market.matched", match.txHash));
  }

  /** The JetStream API requests that would let a party read, redirect or destroy what is not its own. */
  function foreignConsumerAttacks(streams: StreamNames, own: readonly string[]): string[] {
    const consumers = [DURABLES.dsoMatches, meterEventsDurable(meterB.inboxId), ...own];
    return [
      // Stealing: pull (and ack) another party's deliveries, or read its state.
      `$JS.API.CONSUMER.MSG.NEXT.${streams.matches}.${DURABLES.dsoMatches}`,
      `$JS.API.CONSUMER.MSG.NEXT.${streams.matches}.${meterEventsDurable(meterB.inboxId)}`,
      `$JS.API.CONSUMER.MSG.NEXT.${streams.readings}.${DURABLES.dsoReadings}`,
      `$JS.API.CONSUMER.INFO.${streams.matches}.${DURABLES.dsoMatches}`,
      `$JS.ACK.${streams.matches}.${DURABLES.dsoMatches}.1.1.1.${Date.now()}000000.0`,
      // Retargeting: create or update a durable under another's name (filter, max_deliver, ack_wait).
      ...consumers.flatMap((name) => [
        `$JS.API.CONSUMER.DURABLE.CREATE.${streams.matches}.${name}`,
        `$JS.API.CONSUMER.CREATE.${streams.matches}.${name}`,
        `$JS.API.CONSUMER.CREATE.${streams.matches}.${name}.${s.market.matched}`,
        `$JS.API.CONSUMER.DELETE.${streams.matches}.${name}`,
      ]),
      // Creating consumers of one's own (ephemeral or durable, legacy or named) and listing the others.
      `$JS.API.CONSUMER.CREATE.${streams.matches}`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${streams.matches}.extra`,
      `$JS.API.CONSUMER.CREATE.${streams.readings}.extra.${s.meter.reading}`,
      `$JS.API.CONSUMER.LIST.${streams.matches}`,
      `$JS.API.CONSUMER.NAMES.${streams.matches}`,
      // Reading stream messages directly, and changing or listing streams.
      `$JS.API.STREAM.MSG.GET.${streams.matches}`,
      `$JS.API.STREAM.MSG.GET.${streams.bids}`,
      `$JS.API.DIRECT.GET.${streams.matches}`,
      `$JS.API.DIRECT.GET.${streams.readings}.${s.meter.reading}`,
      `$JS.API.STREAM.UPDATE.${streams.matches}`,
      `$JS.API.STREAM.PURGE.${streams.matches}`,
      `$JS.API.STREAM.DELETE.${streams.bids}`,
      `$JS.API.STREAM.MSG.DELETE.${streams.bids}`,
      "$JS.API.STREAM.LIST",
      "$JS.API.STREAM.NAMES",
    ];
  }

  it("keeps every consumer its owner's: a meter pulls and acks only its own durable and can touch no other", async () => {
    const dso = await as("dso");
    const jsm = await jetstreamManager(dso);
    const streams = await ensureStreams(jsm, "m1");
    await ensureDurableConsumer(jsm, streams.matches, DURABLES.dsoMatches, { filterSubject: s.market.matched });
    await ensureDurableConsumer(jsm, streams.readings, DURABLES.dsoReadings, { filterSubject: s.meter.reading });
    await ensureMeterEventsConsumer(jsm, "m1", meterA.inboxId);
    await ensureMeterEventsConsumer(jsm, "m1", meterB.inboxId);
    const before = await jsm.consumers.info(streams.matches, DURABLES.dsoMatches);
    await publishMatch(await asGateway());

    const nc = await asMeter(meterA);
    for (const attack of foreignConsumerAttacks(streams, [meterEventsDurable(meterA.inboxId)])) {
      expect(await publishRefused(nc, attack), attack).toBe(true);
    }
    // The same through the client library: no binding to the DSO's durable, no consumer of its own making.
    await expect(jetstream(nc).consumers.get(streams.matches, DURABLES.dsoMatches)).rejects.toThrow();
    await expect((await jetstreamManager(nc, { checkAPI: false })).consumers.add(streams.matches, { durable_name: "extra" })).rejects.toThrow();
    // Its own durable delivers the match, and its ack is accepted.
    const own = await jetstream(nc).consumers.get(streams.matches, meterEventsDurable(meterA.inboxId));
    const event = await own.next({ expires: 2_000 });
    expect(event?.subject).toBe(s.market.matched);
    expect(await event?.ackAck()).toBe(true);

    // Nothing was taken from or changed on the DSO's consumer: the match is still pending for it, same config.
    const after = await jsm.consumers.info(streams.matches, DURABLES.dsoMatches);
    expect(after.config).toEqual(before.config);
    expect(after.num_pending + after.num_ack_pending).toBe(before.num_pending + before.num_ack_pending + 1);
  });

  it("lets the gateway own its bids durable and nothing else on any stream", async () => {
    const dso = await as("dso");
    const streams = await ensureStreams(await jetstreamManager(dso), "m1");
    await ensureDurableConsumer(await jetstreamManager(dso), streams.matches, DURABLES.dsoMatches, { filterSubject: s.market.matched });
    const gateway = await asGateway();
    for (const attack of foreignConsumerAttacks(streams, [DURABLES.gatewayBids])) {
      if (attack.includes(`.${DURABLES.gatewayBids}`) && attack.includes(streams.bids)) continue;
      expect(await publishRefused(gateway, attack), attack).toBe(true);
    }
    // Its own durable it may create and tune (its --ack-wait), as its runtime does at start.
    const jsm = await jetstreamManager(gateway, { checkAPI: false });
    await expect(ensureDurableConsumer(jsm, streams.bids, DURABLES.gatewayBids, { filterSubject: s.gateway.submit, ackWaitMs: 2_000 })).resolves.toBeDefined();
  });

  it("grants no role but the DSO a JetStream wildcard", () => {
    for (const permissions of [natsPermissions("m1", "gateway"), natsPermissions("m1", "meter", meterA.inboxId)]) {
      const jetStream = (permissions.publish.allow ?? []).filter((subject) => subject.startsWith("$JS"));
      // Every JetStream subject names one consumer (or is a read of stream or account info), except the acks of one.
      const wildcards = jetStream.filter((subject) => /(^|\.)[*>]($|\.)/.test(subject) && !/^\$JS\.(ACK|API\.CONSUMER\.CREATE)\.[^.*>]+\.[^.*>]+\.>$/.test(subject));
      expect(wildcards).toEqual([]);
    }
  });

  it("lets the gateway answer a meter's cancel and ask the DSO, but never read a meter's replies", async () => {
    const gateway = await asGateway();
    const nc = await asMeter(meterA);
    // The meters' reply inboxes (tickets, openings come back there) are closed to the gateway, whole or one by one.
    for (const forbidden of [`${replyInboxPrefix(meterA.inboxId)}.>`, `${replyInboxPrefix(meterB.inboxId)}.*`, "_INBOX.>", ">"]) {
      expect(await subscribeOutcome(gateway, forbidden), forbidden).toMatch(/permission/i);
    }
    // The DSO's replies to meter A (here: an opening's ack) travel on meter A's own inbox, out of the gateway's reach.
    const dso = await as("dso");
    dso.subscribe(s.dso.opening, { callback: (_error, msg) => void msg.respond(encoder.encode("opening")) });
    dso.subscribe(s.dso.market, { callback: (_error, msg) => void msg.respond(encoder.encode("market")) });
    await dso.flush();
    expect(decoder.decode((await nc.request(s.dso.opening, encoder.encode("o"), { timeout: 2_000 })).data)).toBe("opening");
    // Its own replies (the market description) come under its own prefix, which the DSO may answer.
    expect(decoder.decode((await gateway.request(s.dso.market, encoder.encode("?"), { timeout: 2_000 })).data)).toBe("market");
    // It serves cancels in a queue group and answers the meter on the meter's inbox.
    gateway.subscribe(s.gateway.cancel, { queue: GATEWAY_QUEUE_GROUP, callback: (_error, msg) => void msg.respond(encoder.encode("cancelled")) });
    await gateway.flush();
    expect(decoder.decode((await nc.request(s.gateway.cancel, encoder.encode("c"), { timeout: 2_000 })).data)).toBe("cancelled");
    // With the default prefix its requests get no reply: `_INBOX.>` is not the gateway's to read.
    const defaultPrefix = await as("gateway");
    await expect(defaultPrefix.request(s.dso.market, encoder.encode("?"), { timeout: 1_000 })).rejects.toThrow();
  });

  it("lets the observer read every actor's state snapshot and nothing else, and publish nothing", async () => {
    const watch = await as("watch");
    expect(await subscribeOutcome(watch, "gridveil.m1.*.state")).toBe("open");
    expect(await subscribeOutcome(watch, "gridveil.m1.meter.*.state")).toBe("open");
    expect(await subscribeOutcome(watch, s.meter.trade(meterA.inboxId))).toMatch(/permission/i);
    expect(await subscribeOutcome(watch, s.market.events)).toMatch(/permission/i);
    expect(await publishRefused(watch, s.dso.state)).toBe(true);

    const received = watch.subscribe("gridveil.m1.meter.*.state", { max: 1 });
    await watch.flush();
    const nc = await asMeter(meterA);
    nc.publish(s.meter.state(meterA.inboxId), encoder.encode("{}"));
    for await (const msg of received) expect(msg.subject).toBe(s.meter.state(meterA.inboxId));
  });
});
