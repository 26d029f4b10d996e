// A real 3-node nats-server cluster on loopback with JetStream streams of 3 replicas (`--stream-replicas 3`): a
// whole market runs on it (the DSO, the gateway and four meters in process, a real chain) and one node is killed
// during live trading. Nothing is lost (every match settles, the ledger balances), nothing is placed twice, and
// trading goes on through the other two nodes.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsCluster, type NatsCluster } from "../../actors/nats/cluster.ts";
import { runDemo, type DemoProgress } from "../../actors/demo/runDemo.ts";
import { streamNames } from "../../protocol/wire/subjects.ts";

let cluster: NatsCluster;
let dataDir: string;

beforeAll(async () => {
  cluster = await startNatsCluster({ size: 3 });
  dataDir = await mkdtemp(join(tmpdir(), "gridveil-cluster-"));
});

afterAll(async () => {
  await cluster?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe("a market on a 3-node NATS cluster", () => {
  it("loses nothing and places nothing twice when a node dies during trading", async () => {
    let killedAt: number | undefined;
    let last: DemoProgress | undefined;
    const summary = await runDemo({
      meters: 4,
      rounds: 3,
      levels: 10,
      seed: 7,
      dataDir,
      natsUrl: cluster.url,
      streamReplicas: 3,
      marketId: "cluster",
      onProgress: (progress) => {
        last = { ...progress };
        // Mid-trading: the first round's bids are placed and matching; the node goes away for good.
        if (killedAt === undefined && progress.phase === "trading" && progress.placed > 0) {
          killedAt = progress.round;
          void cluster.kill(0);
        }
      },
    });
    expect(killedAt).toBeDefined();
    expect(cluster.nodes().map((node) => node.running)).toEqual([false, true, true]);
    // Every stream had three copies, so the two left hold everything.
    const nc = await connect({ servers: cluster.url.split(",").slice(1) });
    try {
      const jsm = await jetstreamManager(nc);
      for (const stream of Object.values(streamNames("cluster"))) expect((await jsm.streams.info(stream)).config.num_replicas).toBe(3);
    } finally {
      await nc.close();
    }
    expect(summary.matches).toBeGreaterThan(0);
    expect(summary.tradesSettled).toBe(summary.matches);
    expect(summary.voided + summary.disputed).toBe(0);
    expect(summary.ledgerBalanced).toBe(true);
    // Every submission was placed, once: the meters' submissions, the distinct bidders announced placed, and the
    // gateway's placements (one BidPlaced each) are the same count.
    expect(last?.submitted).toBeGreaterThan(summary.matches);
    expect(last?.placed).toBe(last?.submitted);
    expect(summary.bids).toBe(last?.placed);
  }, 300_000);

  it("starts a killed node again and resolves only once that node itself serves JetStream", async () => {
    if (cluster.nodes()[0]?.running) await cluster.kill(0);
    await cluster.restart(0);
    expect(cluster.nodes()[0]?.running).toBe(true);
    // No other server to fall back on: node 0 alone answers a JetStream request at once (before the fix, restart()
    // returned as soon as any node answered, and this connection was refused).
    const nc = await connect({ servers: cluster.nodes()[0]!.url, reconnect: false, timeout: 2_000 });
    try {
      expect((await (await jetstreamManager(nc)).getAccountInfo()).limits).toBeDefined();
    } finally {
      await nc.close();
    }
  }, 120_000);
});
