// Gateway test fixture (real components): a private nats-server, a local EDR chain, a deployed market, real FHIPE bids,
// and the DSO/meter sides driven directly through the adapters (no other party's runtime).
import { mkdtemp, rm } from "node:fs/promises";
import { afterAll, beforeAll } from "vitest";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { trace, type Tracer } from "@opentelemetry/api";
import { JsonRpcProvider, Wallet, hexlify, randomBytes } from "ethers";
import { pino } from "pino";
import { startLocalChain, type LocalChain, type LocalChainNetwork } from "../../actors/chain/localChain.ts";
import { encodeBidCiphertext } from "../../protocol/fhipe/binary.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { setup, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { dimensionFor } from "../../protocol/encoding/priceEncoding.ts";
import { startGatewayRuntime, type GatewayRuntime, type GatewayRuntimeOptions } from "../../actors/gateway/runtime.ts";
import { dedupIds, ensureStreams, publishDeduplicated } from "../../actors/nats/jetstream.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import { bidSubmissionSchema, marketEventSchema, type BidSubmission, type MarketEvent } from "../../protocol/wire/schemas.ts";
import { DURABLES, marketSubjects, streamNames, type MarketSubjects, type StreamNames } from "../../protocol/wire/subjects.ts";
import type { Logger } from "../../actors/telemetry/logger.ts";
import { parseMachineConfig, type MachineConfig, type MachineConfigInput } from "../../machines/config.ts";
import { buildBid, deployMarket, signTicket, withRunner, type MarketHandle } from "../../contracts/client/index.ts";
import { type Hex } from "../../protocol/base/hex.ts";
import { type SideCode } from "../../protocol/domain.ts";

export const LEVELS = 4;
export const HOUR = 3600;

/** Short delays so the suite stays fast; batches still form (several bids arrive within the delay). */
export function testConfig(gateway: MachineConfigInput["gateway"] = {}): MachineConfig {
  return parseMachineConfig({
    gateway: {
      batchMaxSize: 8,
      batchMaxDelayMs: 150,
      submitRetryBaseMs: 100,
      submitRetryMaxMs: 500,
      nakDelayMs: 200,
      followRetryBaseMs: 100,
      followRetryMaxMs: 500,
      ...gateway,
    },
  });
}

export type MadeBid = { submission: BidSubmission; oneTimeKey: Wallet; side: SideCode; priceLevel: number };

export type MarketEventRecord = { subject: string; msgId: string | undefined; event: MarketEvent; headers: Record<string, string> };

export type Environment = {
  nats: NatsServerHandle;
  chain: LocalChain;
  provider: JsonRpcProvider;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  msk: MasterSecretKey;
  close(): Promise<void>;
};

/** One nats-server and one chain per test file. */
/** The environment of one test file: started before its first test, closed after its last; `use` receives it. */
export function environmentPerFile(use: (env: Environment) => void, options: { network?: LocalChainNetwork } = {}): void {
  let env: Environment | undefined;
  beforeAll(async () => {
    env = await startEnvironment(options);
    use(env);
  });
  afterAll(async () => {
    await env?.close();
  });
}

export async function startEnvironment(options: { network?: LocalChainNetwork } = {}): Promise<Environment> {
  await initCurve();
  const [nats, chain] = await Promise.all([startNatsServer(), startLocalChain(options)]);
  const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true, pollingInterval: 50 });
  const nc = await connect({ servers: nats.url, name: "gateway-test" });
  const jsm = await jetstreamManager(nc);
  return {
    nats,
    chain,
    provider,
    nc,
    js: jetstream(nc),
    jsm,
    msk: setup(dimensionFor(LEVELS)),
    async close() {
      await nc.close().catch(() => undefined);
      provider.destroy();
      await Promise.all([nats.stop(), chain.stop()]);
    },
  };
}

export type Market = {
  marketId: string;
  s: MarketSubjects;
  streams: StreamNames;
  market: MarketHandle;
  dso: Wallet;
  /** A fresh one-time key, a DSO ticket and a real FHIPE bid, as a meter submits it. */
  makeBid(params: { side: SideCode; priceLevel: number; lifetimeSeconds?: number; format?: "words" | "hex" }): Promise<MadeBid>;
  publish(submission: BidSubmission, msgId?: string): Promise<{ duplicate: boolean; seq: number }>;
  /** Every message on the matches stream (`market.*`), in order, with its `Nats-Msg-Id`. */
  marketEvents(): Promise<MarketEventRecord[]>;
  dataDir(): Promise<string>;
  /** The gateway's bid consumer has nothing pending and nothing unacknowledged. */
  bidsIdle(): Promise<boolean>;
  gatewayOptions(dataDir: string, overrides?: Partial<GatewayRuntimeOptions>): GatewayRuntimeOptions;
  startGateway(dataDir: string, overrides?: Partial<GatewayRuntimeOptions>): Promise<GatewayRuntime>;
  cleanup(): Promise<void>;
};

let marketCounter = 0;

/** A freshly deployed market (account 0 deploys, as the DSO would) with its own market id, streams and data dirs. */
export async function createMarket(env: Environment, name = "gw"): Promise<Market> {
  const marketId = `${name}-${process.pid}-${++marketCounter}`;
  const s = marketSubjects(marketId);
  const streams = streamNames(marketId);
  const dso = new Wallet(hexlify(randomBytes(32)));
  const deployer = new Wallet(env.chain.accountKeys[0] as string, env.provider);
  const deployed = await deployMarket(deployer, { dim: dimensionFor(LEVELS), ticketSigner: dso.address });
  const market = withRunner(deployed, env.provider);
  await ensureStreams(env.jsm, marketId);
  const dirs: string[] = [];
  const silent: Logger = pino({ level: process.env.GRIDVEIL_LOG_LEVEL ?? "silent" });
  const tracer: Tracer = trace.getTracer("gateway-test");

  const latestTimestamp = async (): Promise<number> => (await env.provider.getBlock("latest"))!.timestamp;

  const self: Market = {
    marketId,
    s,
    streams,
    market,
    dso,
    async makeBid({ side, priceLevel, lifetimeSeconds = HOUR, format = "words" }) {
      const oneTimeKey = new Wallet(hexlify(randomBytes(32)));
      const notAfter = (await latestTimestamp()) + lifetimeSeconds;
      const ticket = await signTicket(dso, market.domain, oneTimeKey.address, notAfter);
      const built = await buildBid({ msk: env.msk, levels: LEVELS, side, priceLevel, quantityWh: 1_000, oneTimeKey, ticket, domain: market.domain });
      const words = { left: built.bid.left.map(String), right: built.bid.right.map(String) };
      const submission: BidSubmission = {
        type: "bid.submit",
        bidder: built.bid.bidder,
        side,
        ciphertext: format === "hex" ? (hexlify(encodeBidCiphertext(built.bid)) as Hex) : words,
        commitment: built.bid.commitment,
        ticket: { notAfter, signature: built.bid.ticketSignature },
        bidSignature: built.bid.bidderSignature,
        submittedAt: Date.now(),
      };
      return { submission, oneTimeKey, side, priceLevel };
    },
    async publish(submission, msgId) {
      return publishDeduplicated(env.js, s.gateway.submit, bidSubmissionSchema, submission, msgId ?? dedupIds.bid(submission.bidder));
    },
    async marketEvents() {
      const info = await env.jsm.streams.info(streams.matches);
      const records: MarketEventRecord[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq += 1) {
        const stored = await env.jsm.streams.getMessage(streams.matches, { seq });
        if (stored === null) continue;
        const headers: Record<string, string> = {};
        for (const key of stored.header?.keys() ?? []) headers[key] = stored.header.get(key);
        records.push({
          subject: stored.subject,
          msgId: headers["Nats-Msg-Id"],
          event: marketEventSchema.parse(stored.json()),
          headers,
        });
      }
      return records;
    },
    async bidsIdle() {
      const info = await env.jsm.consumers.info(streams.bids, DURABLES.gatewayBids);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    },
    async dataDir() {
      const dir = await mkdtemp(join(tmpdir(), "gridveil-gateway-"));
      dirs.push(dir);
      return dir;
    },
    gatewayOptions(dataDir, overrides = {}) {
      return {
        marketId,
        natsUrl: env.nats.url,
        rpcUrl: env.chain.rpcUrl,
        gatewayPrivateKey: env.chain.accountKeys[1] as string,
        dataDir,
        contractAddress: market.address,
        tracer,
        logger: silent,
        config: testConfig(),
        ackWaitMs: 2_000,
        pollIntervalMs: 50,
        stopTimeoutMs: 20_000,
        ...overrides,
      };
    },
    startGateway(dataDir, overrides = {}) {
      return startGatewayRuntime(self.gatewayOptions(dataDir, overrides));
    },
    async cleanup() {
      await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    },
  };
  return self;
}

/** A fresh market (`name`) and a gateway on it for `test`; both are stopped and cleaned up however the test ends. */
export async function withGateway(env: Environment, name: string, test: (m: Market, gateway: GatewayRuntime) => Promise<void>): Promise<void> {
  const m = await createMarket(env, name);
  const gateway = await m.startGateway(await m.dataDir());
  try {
    await test(m, gateway);
  } finally {
    await gateway.stop();
    await m.cleanup();
  }
}

export async function until<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
