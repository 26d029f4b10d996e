// A market under the committed NATS authorization (infra/nats/nats.conf): real nats-server with that file, a real
// in-process chain, and the real DSO, gateway and meter runtimes logged in with the provisioned credentials and inbox
// ids (infra/provision.ts). One buy and one sell bid cross and the trade settles; a meter whose registry entry names
// another inbox than its own is refused clearly at enrolment.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { trace } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "xstate";
import { parseMachineConfig } from "../../machines/config.ts";
import { startLocalChain, type LocalChain } from "../../actors/chain/localChain.ts";
import { parseRegistry } from "../../actors/dso/registry.ts";
import { startDsoRuntime, type DsoRuntime, type TradeSettledEvent } from "../../actors/dso/runtime.ts";
import { startGatewayRuntime, type GatewayRuntime } from "../../actors/gateway/runtime.ts";
import { startMeterRuntime, type MeterRuntime } from "../../actors/meter/runtime.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import { parseMarketConfig } from "../../protocol/marketConfig.ts";
import { createLogger } from "../../actors/telemetry/logger.ts";
import { provision } from "../../infra/provision.ts";

const infraDir = resolve(import.meta.dirname, "../../infra");
const tracer = trace.getTracer("gridveil-auth-market-test");
const config = parseMachineConfig({
  meter: { bidLifetimeSeconds: 300, deliveryDurationMs: 200, enrolRetryBaseMs: 100, enrolMaxAttempts: 2 },
  dso: { disputeWindowMs: 300 },
  gateway: { batchMaxDelayMs: 50 },
});

describe("compose market under NATS authorization (committed nats.conf, provisioned credentials)", () => {
  let dir: string;
  let nats: NatsServerHandle;
  let chain: LocalChain;
  let dso: DsoRuntime | undefined;
  let gateway: GatewayRuntime | undefined;
  const meters: MeterRuntime[] = [];
  const { users, meters: slots, registry } = provision();
  const [seller, buyer, misfiled, other] = slots as [(typeof slots)[number], (typeof slots)[number], (typeof slots)[number], (typeof slots)[number]];
  const password = (user: string): string => users.find((entry) => entry.user === user)?.password ?? "";

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gridveil-auth-market-"));
    // The committed file, minus its listen ports and store dir: startNatsServer picks a free port and a temp store.
    const conf = (await readFile(join(infraDir, "nats/nats.conf"), "utf8"))
      .split("\n")
      .filter((line) => !/^(port|http_port):/.test(line) && !/^jetstream\s*\{/.test(line))
      .join("\n");
    await writeFile(join(dir, "nats.conf"), conf);
    [nats, chain] = await Promise.all([startNatsServer({ configFile: join(dir, "nats.conf"), storeDir: join(dir, "jetstream") }), startLocalChain()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(meters.map((meter) => meter.stop()));
    await gateway?.stop().catch(() => undefined);
    await dso?.stop().catch(() => undefined);
    await chain?.stop();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("enrols provisioned meters under their own inbox, crosses a buy and a sell bid and settles the trade", async () => {
    // The provisioned registry, except that the third meter's entry names the fourth meter's inbox (a stale file).
    const entries = registry.slice(0, 3).map((entry) => (entry.meterId === misfiled.meterId ? { ...entry, inboxId: other.inboxId } : entry));
    dso = await startDsoRuntime({
      marketId: "m1",
      natsUrl: nats.url,
      natsUser: "dso",
      natsPassword: password("dso"),
      rpcUrl: chain.rpcUrl,
      dsoPrivateKey: chain.accountKeys[0]!,
      dataDir: join(dir, "dso"),
      market: parseMarketConfig({ priceLevels: { count: 4 } }),
      registry: parseRegistry(entries, "provision()"),
      tracer,
      logger: createLogger({ actor: "dso", market: "m1" }, "warn"),
      config,
      streams: { storage: "memory" },
    });
    const settled = new Promise<TradeSettledEvent>((resolveSettled) => dso!.events.once("trade.settled", resolveSettled));
    // No contract address: the gateway asks the DSO (`dso.market`), whose reply comes under the gateway's own prefix.
    gateway = await startGatewayRuntime({
      marketId: "m1",
      natsUrl: nats.url,
      natsUser: "gateway",
      natsPassword: password("gateway"),
      rpcUrl: chain.rpcUrl,
      gatewayPrivateKey: chain.accountKeys[1]!,
      dataDir: join(dir, "gateway"),
      tracer,
      logger: createLogger({ actor: "gateway", market: "m1" }, "warn"),
      config,
    });
    const start = (slot: typeof seller, plan: Parameters<typeof startMeterRuntime>[0]["plan"]) =>
      startMeterRuntime({
        marketId: "m1",
        natsUrl: nats.url,
        natsUser: slot.natsUser,
        natsPassword: slot.natsPassword,
        inboxId: slot.inboxId,
        rpcUrl: chain.rpcUrl,
        meterId: slot.meterId,
        meterPrivateKey: slot.privateKey,
        name: slot.name,
        plan,
        tracer,
        logger: createLogger({ actor: `meter:${slot.meterId}`, market: "m1" }, "warn"),
        config,
      });
    meters.push(await start(seller, [{ planId: "sell-1", side: "sell", priceLevel: 1, quantityWh: 1_000 }]));
    meters.push(await start(buyer, [{ planId: "buy-1", side: "buy", priceLevel: 3, quantityWh: 1_000 }]));
    const [sellerMeter, buyerMeter] = meters as [MeterRuntime, MeterRuntime];
    // The DSO addresses each meter under its provisioned inbox id, the only subtree its NATS user may read.
    expect((await sellerMeter.enrolled).inboxId).toBe(seller.inboxId);
    expect((await buyerMeter.enrolled).inboxId).toBe(buyer.inboxId);

    const trade = await settled;
    expect(trade.settlement.deliveredWh).toBe(1_000);
    expect([trade.buyerMeterId, trade.sellerMeterId]).toEqual([buyer.meterId, seller.meterId]);
    await Promise.all([sellerMeter.whenIdle(20_000), buyerMeter.whenIdle(20_000)]);
    expect(sellerMeter.counters()).toMatchObject({ fills: 1, settled: 1, failed: 0 });
    expect(buyerMeter.counters()).toMatchObject({ fills: 1, settled: 1, failed: 0 });
    expect(gateway.counters().cancelsRelayed).toBe(0);
  }, 60_000);

  it("refuses an enrolment reply that names another inbox than the meter's provisioned one", async () => {
    const meter = await startMeterRuntime({
      marketId: "m1",
      natsUrl: nats.url,
      natsUser: misfiled.natsUser,
      natsPassword: misfiled.natsPassword,
      inboxId: misfiled.inboxId,
      rpcUrl: chain.rpcUrl,
      meterId: misfiled.meterId,
      meterPrivateKey: misfiled.privateKey,
      name: misfiled.name,
      tracer,
      logger: createLogger({ actor: `meter:${misfiled.meterId}`, market: "m1" }, "warn"),
      config,
    });
    meters.push(meter);
    const failed = await waitFor(meter.actor, (snapshot) => snapshot.value === "enrolmentFailed", { timeout: 15_000 });
    expect(failed.context.errors.map((error) => error.detail).join(" ")).toMatch(/another inbox id than the one this meter was provisioned with/);
  }, 30_000);
});
