// The runtimes publish their machines' state (the live view of `gridveil watch`): a real DSO, gateway and meter (nats-server, local
// chain, SQLite) show up in `gridveil watch --once`, the meter under its opaque inbox id, never its permanent id.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { watchMarket } from "../../actors/cli/commands/watch.ts";
import { startGatewayRuntime, type GatewayRuntime } from "../../actors/gateway/runtime.ts";
import { startMeterRuntime, type MeterRuntime } from "../../actors/meter/runtime.ts";
import { parseMachineConfig } from "../../machines/config.ts";
import { createLogger } from "../../actors/telemetry/logger.ts";
import { TEST_CONFIG, startDso, startInfra, type DsoUnderTest, type Infra } from "../dso/harness.ts";

describe("state snapshots from the DSO and meter runtimes (real NATS, chain, SQLite)", () => {
  let infra: Infra;
  let dso: DsoUnderTest;
  let meter: MeterRuntime;
  let gateway: GatewayRuntime;
  let gatewayDir: string;
  const meterKey = Wallet.createRandom();

  beforeAll(async () => {
    infra = await startInfra();
    dso = await startDso(infra, "live1", [{ meterId: "house-7", address: meterKey.address as `0x${string}`, name: "House 7" }]);
    meter = await startMeterRuntime({
      marketId: "live1",
      natsUrl: infra.nats.url,
      rpcUrl: infra.chain.rpcUrl,
      meterId: "house-7",
      meterPrivateKey: meterKey.privateKey,
      name: "House 7",
      tracer: infra.meterTelemetry.tracer,
      logger: createLogger({ actor: "meter", market: "live1" }),
      config: parseMachineConfig(TEST_CONFIG),
      snapshotIntervalMs: 300,
    });
    await meter.enrolled;
    gatewayDir = await mkdtemp(join(tmpdir(), "gridveil-live-gateway-"));
    gateway = await startGatewayRuntime({
      marketId: "live1",
      natsUrl: infra.nats.url,
      rpcUrl: infra.chain.rpcUrl,
      gatewayPrivateKey: infra.chain.accountKeys[1] as string,
      dataDir: gatewayDir,
      tracer: infra.meterTelemetry.tracer,
      logger: createLogger({ actor: "gateway", market: "live1" }),
      config: parseMachineConfig(TEST_CONFIG),
      snapshotIntervalMs: 300,
    });
  });
  afterAll(async () => {
    await meter?.stop();
    await gateway?.stop();
    await dso?.runtime.stop();
    if (gatewayDir) await rm(gatewayDir, { recursive: true, force: true });
    await infra?.close();
  });

  it("shows the serving DSO, the running gateway and the enrolled meter, live", async () => {
    const { inboxId } = await meter.enrolled;
    // The DSO beats every 5 s by default: listen a little longer than that.
    const table = await watchMarket({ nats: infra.nats.url, market: "live1", once: true, waitMs: 5_600, write: () => undefined });
    const lines = table.trim().split("\n");
    expect(lines.find((line) => line.startsWith("dso"))).toMatch(/^dso\s+live1\s+serving\.\{requests\.idle, epochKeys\.noEpochs, trades\}\s+serving\s+.*LIVE$/);
    expect(lines.find((line) => line.startsWith("gateway"))).toMatch(/^gateway\s+live1\s+running\.\{intake\.idle, cancels\.idle, chain\.\{follower\.following, publisher\.idle\}\}.*batches=0.*LIVE$/);
    expect(lines.find((line) => line.startsWith("meter"))).toMatch(new RegExp(`^meter\\s+${inboxId}\\s+ready\\b.*sessions=0 queued=0.*LIVE$`));
    expect(table).not.toContain("house-7");
  });
});
