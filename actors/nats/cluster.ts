// A NATS cluster on loopback (tests and benchmarks): N nats-server processes routed to each other, JetStream on
// each with its own store, so streams of N replicas survive the loss of a node. Clients take `url`, the servers'
// comma-separated list (actors/nats/connect.ts), and fail over between them.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { adapterDefaults } from "../config/common.ts";
import { freePort } from "../runtime/freePort.ts";
import { NatsServerStartError } from "./errors.ts";
import { findNatsServerBinary } from "./server.ts";

export type NatsClusterNode = { name: string; url: string; running: boolean };

export type NatsCluster = {
  /** Every node's client URL, comma-separated. */
  url: string;
  nodes(): NatsClusterNode[];
  /** Kills one node (SIGKILL: nothing flushed); its store is kept. */
  kill(index: number): Promise<void>;
  /** Starts a killed node again on its ports and store; it rejoins and catches up. */
  restart(index: number): Promise<void>;
  stop(): Promise<void>;
};

type Node = { name: string; clientPort: number; clusterPort: number; config: string; child: ChildProcess | null; exited: Promise<void> };

export async function startNatsCluster(options: { size?: number; binary?: string } = {}): Promise<NatsCluster> {
  const size = options.size ?? 3;
  const binary = findNatsServerBinary(options.binary);
  const dir = await mkdtemp(join(tmpdir(), "gridveil-nats-cluster-"));
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), cluster: await freePort() })));
  const nodes: Node[] = [];
  for (const [index, port] of ports.entries()) {
    const name = `n${index + 1}`;
    const routes = ports.filter((_, other) => other !== index).map((other) => `"nats-route://127.0.0.1:${other.cluster}"`);
    const config = join(dir, `${name}.conf`);
    await writeFile(
      config,
      [
        `server_name: ${name}`,
        `listen: "127.0.0.1:${port.client}"`,
        `jetstream { store_dir: ${JSON.stringify(join(dir, name))} }`,
        `cluster { name: gridveil, listen: "127.0.0.1:${port.cluster}", routes: [${routes.join(", ")}] }`,
        "",
      ].join("\n"),
    );
    nodes.push({ name, clientPort: port.client, clusterPort: port.cluster, config, child: null, exited: Promise.resolve() });
  }
  const url = nodes.map((node) => `nats://127.0.0.1:${node.clientPort}`).join(",");

  const start = (node: Node): void => {
    const child = spawn(binary, ["-c", node.config], { stdio: "ignore" });
    node.child = child;
    node.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  };
  const killAll = (): void => nodes.forEach((node) => node.child?.kill("SIGKILL"));
  process.once("exit", killAll);

  /**
   * Ready: the given nodes (all by default) each answer on their own client port, and JetStream has a meta leader
   * (account info succeeds through each of them).
   */
  const ready = async (which: readonly Node[] = nodes): Promise<void> => {
    const deadline = Date.now() + adapterDefaults.natsStartTimeoutMs * 3;
    let last: unknown;
    let pending = [...which];
    while (Date.now() < deadline) {
      const node = pending[0];
      if (node === undefined) return;
      try {
        // This node alone (no failover to another): a restarted node is ready only when it answers itself.
        const nc = await connect({ servers: `nats://127.0.0.1:${node.clientPort}`, timeout: 1_000, reconnect: false });
        try {
          await (await jetstreamManager(nc)).getAccountInfo();
          pending = pending.slice(1);
        } finally {
          await nc.close();
        }
      } catch (error) {
        last = error;
        await sleep(200);
      }
    }
    // The cluster did not elect a JetStream meta leader in time.
    throw new NatsServerStartError({ binary, args: nodes.map((node) => node.config), cause: last });
  };

  nodes.forEach(start);
  try {
    await ready();
  } catch (error) {
    // Nothing may outlive a failed start: the servers and their stores go.
    process.removeListener("exit", killAll);
    killAll();
    await Promise.all(nodes.map((node) => node.exited));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url,
    nodes: () =>
      nodes.map((node) => ({
        name: node.name,
        url: `nats://127.0.0.1:${node.clientPort}`,
        running: node.child !== null && node.child.exitCode === null && node.child.signalCode === null,
      })),
    async kill(index) {
      const node = nodes[index];
      if (!node?.child) return;
      node.child.kill("SIGKILL");
      await node.exited;
      node.child = null;
    },
    async restart(index) {
      const node = nodes[index];
      if (!node || node.child) return;
      start(node);
      await ready([node]);
    },
    async stop() {
      process.removeListener("exit", killAll);
      for (const node of nodes) node.child?.kill("SIGTERM");
      await Promise.all(nodes.map((node) => node.exited));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
