// State snapshots on a real nats-server: what an actor publishes (never its context), throttling and heartbeat, and
// `gridveil watch --once` showing two actors, one of them stale.
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { assign, createActor, setup } from "xstate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LiveView, renderStateValue, watchMarket } from "../../actors/cli/commands/watch.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import { stateSnapshotSchema, type StateSnapshot } from "../../protocol/wire/schemas.ts";
import { marketSubjects } from "../../protocol/wire/subjects.ts";
import { describeSnapshot, publishStateSnapshots } from "../../actors/runtime/stateSnapshots.ts";

const SECRET = "0xdeadbeefcafe-master-secret";

/** A small machine whose context holds a secret, with a parallel state and tags. */
const toy = setup({
  types: { context: {} as { msk: string; bids: number }, events: {} as { type: "GO" } | { type: "BID" } },
}).createMachine({
  id: "toy",
  context: { msk: SECRET, bids: 0 },
  initial: "idle",
  states: {
    idle: { on: { GO: "running" } },
    running: {
      type: "parallel",
      tags: ["serving"],
      on: { BID: { actions: assign({ bids: ({ context }) => context.bids + 1 }) } },
      states: { a: { initial: "x", states: { x: {} } }, b: { initial: "y", states: { y: {} } } },
    },
  },
});

const decoder = new TextDecoder();

describe("publishStateSnapshots / gridveil watch (real nats-server)", () => {
  let server: NatsServerHandle;
  const open: NatsConnection[] = [];
  const s = marketSubjects("m1");

  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
  });
  afterAll(async () => {
    await Promise.all(open.map((nc) => nc.close().catch(() => undefined)));
    await server?.stop();
  });

  async function client(): Promise<NatsConnection> {
    const nc = await connect({ servers: server.url });
    open.push(nc);
    return nc;
  }

  it("publishes state value, tags and numeric counts only — never the context", async () => {
    const listener = await client();
    const received: StateSnapshot[] = [];
    const raw: string[] = [];
    listener.subscribe(s.dso.state, {
      callback: (_error, msg) => {
        raw.push(decoder.decode(msg.data));
        received.push(stateSnapshotSchema.parse(JSON.parse(decoder.decode(msg.data))));
      },
    });
    await listener.flush();

    const actor = createActor(toy).start();
    const publisher = publishStateSnapshots(actor, {
      nc: await client(),
      subject: s.dso.state,
      party: "dso",
      id: "m1",
      intervalMs: 0,
      throttleMs: 100,
      // A careless counts function: the string is dropped, only the number survives.
      counts: (snapshot) => ({ bids: (snapshot as { context: { bids: number } }).context.bids, msk: (snapshot as { context: { msk: string } }).context.msk as unknown as number }),
    });
    actor.send({ type: "GO" });
    for (let i = 0; i < 5; i++) actor.send({ type: "BID" }); // a burst: throttled, the last state still arrives
    await sleep(400);
    publisher.stop();
    actor.stop();
    await sleep(100);

    expect(raw.join("\n")).not.toContain(SECRET);
    expect(received[0]).toMatchObject({ type: "state.snapshot", party: "dso", actorId: "m1", state: "idle" });
    const last = received.at(-1) as StateSnapshot;
    expect(last.state).toEqual({ running: { a: "x", b: "y" } });
    expect(last.summary).toMatchObject({ tags: ["serving"], bids: 5 });
    expect(last.summary).not.toHaveProperty("msk");
    // Initial + first transition + trailing burst snapshot + stop: far fewer than the 7 transitions' worth.
    expect(received.length).toBeLessThanOrEqual(5);
  });

  it("sends a heartbeat while nothing changes", async () => {
    const listener = await client();
    let count = 0;
    listener.subscribe(s.gateway.state, { callback: () => void count++ });
    await listener.flush();
    const actor = createActor(toy).start();
    const publisher = publishStateSnapshots(actor, { nc: await client(), subject: s.gateway.state, party: "gateway", id: "m1", intervalMs: 100 });
    await sleep(550);
    publisher.stop();
    actor.stop();
    expect(count).toBeGreaterThanOrEqual(4);
  });

  it("watch --once shows every actor's current state and marks the one whose heartbeat stopped as STALE", async () => {
    // Actor 1: a live gateway with a 200 ms heartbeat.
    const gateway = createActor(toy).start();
    gateway.send({ type: "GO" });
    const live = publishStateSnapshots(gateway, { nc: await client(), subject: s.gateway.state, party: "gateway", id: "m1", intervalMs: 200 });
    // Actor 2: a meter that announced a 200 ms heartbeat, published once and went silent.
    const silent = await client();
    const meter = createActor(toy).start();
    silent.publish(
      s.meter.state("inboxa"),
      JSON.stringify(describeSnapshot(meter.getSnapshot(), { party: "meter", id: "inboxa", intervalMs: 200, at: Date.now() })),
    );
    await silent.flush();

    const table = await watchMarket({ nats: server.url, market: "m1", once: true, waitMs: 900, write: () => undefined });
    live.stop();
    gateway.stop();
    expect(table).toContain("gateway");
    expect(table).toMatch(/gateway\s+m1\s+running\.\{a\.x, b\.y\}\s+serving/);
    expect(table).toMatch(/LIVE/);

    // The CLI itself, in a child process: the meter speaks once, then never again; the gateway keeps beating.
    const gateway2 = createActor(toy).start();
    const live2 = publishStateSnapshots(gateway2, { nc: await client(), subject: s.gateway.state, party: "gateway", id: "m1", intervalMs: 200 });
    const child = spawn(
      process.execPath,
      ["--import", "tsx", resolve(import.meta.dirname, "../../actors/cli/main.ts"), "watch", "--once", "--wait", "2000", "--nats", server.url, "--market", "m1"],
      { cwd: resolve(import.meta.dirname, "../.."), env: { ...process.env, NATS_USER: "", NATS_PASSWORD: "" } },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => void (stdout += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.once("exit", done));
    // Once the child listens, the meter speaks once and never again.
    await Promise.race([
      new Promise<void>((listening) => child.stderr.on("data", (chunk: Buffer) => ((stderr += chunk.toString()), stderr.includes("watching") && listening()))),
      exited,
    ]);
    expect(stderr).toContain("watching gridveil.m1.*.state and gridveil.m1.meter.*.state");
    silent.publish(
      s.meter.state("inboxa"),
      JSON.stringify(describeSnapshot(meter.getSnapshot(), { party: "meter", id: "inboxa", intervalMs: 200, at: Date.now() })),
    );
    expect(await exited).toBe(0);
    live2.stop();
    gateway2.stop();
    meter.stop();
    const lines = stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^PARTY\s+ACTOR\s+STATE\s+TAGS\s+COUNTS\s+SEEN\s+STATUS$/);
    expect(lines.find((line) => line.startsWith("gateway"))).toMatch(/\bidle\b.*LIVE$/);
    expect(lines.find((line) => line.startsWith("meter"))).toMatch(/^meter\s+inboxa\s+idle\b.*STALE$/);
  });
});

describe("LiveView", () => {
  const snapshot = (party: StateSnapshot["party"], actorId: string, at: number, status = "active"): StateSnapshot => ({
    type: "state.snapshot",
    party,
    actorId,
    state: "idle",
    summary: { status, tags: [], heartbeatMs: 1_000, sessions: 2 },
    at,
  });

  it("keeps the newest snapshot per actor, orders DSO, gateway, meters, and tells live, stale and stopped apart", () => {
    const view = new LiveView();
    view.update(snapshot("meter", "b", 10), 1_000);
    view.update(snapshot("dso", "m1", 10), 1_000);
    view.update(snapshot("meter", "a", 10, "done"), 1_000);
    view.update(snapshot("dso", "m1", 5), 2_000); // older: ignored
    expect(view.actors().map((entry) => `${entry.snapshot.party}/${entry.snapshot.actorId}`)).toEqual(["dso/m1", "meter/a", "meter/b"]);
    expect(view.statusOf(view.actors()[0]!, 3_500)).toBe("live");
    expect(view.statusOf(view.actors()[0]!, 4_500)).toBe("stale");
    expect(view.statusOf(view.actors()[1]!, 9_999)).toBe("stopped");
    expect(view.render(1_500)).toContain("sessions=2");
  });

  it("renders nested and parallel state values compactly", () => {
    expect(renderStateValue("idle")).toBe("idle");
    expect(renderStateValue({ trading: { opening: "awaitingTerms" } })).toBe("trading.opening.awaitingTerms");
    expect(renderStateValue({ running: { intake: "idle", chain: { follower: "following", publisher: "idle" } } })).toBe(
      "running.{intake.idle, chain.{follower.following, publisher.idle}}",
    );
  });
});
