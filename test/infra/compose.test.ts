// infra/compose.yaml: Compose accepts it (no engine needed), it has the market's services, and every environment
// variable it sets is one an actor's CLI (or the entrypoint / health check) actually reads.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { claimMeterSlot, meterEnvironment, NoFreeMeterSlotError } from "../../infra/claimMeterSlot.ts";
import { parseRegistry } from "../../actors/dso/registry.ts";
import { provision } from "../../infra/provision.ts";
import { dsoSettings } from "../../actors/config/dso.ts";
import { gatewaySettings } from "../../actors/config/gateway.ts";
import { meterSettings } from "../../actors/config/meter.ts";
import { environmentOf } from "../../actors/config/settings.ts";

const repo = resolve(import.meta.dirname, "../..");
const infra = join(repo, "infra");
const composeText = readFileSync(join(infra, "compose.yaml"), "utf8");

function composeConfig(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync("bash", [join(infra, "compose-config.sh"), ...args], { encoding: "utf8", timeout: 240_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** One run of Compose (it takes seconds to start): the resolved configuration, or exit 3 without a docker CLI. */
const resolved = composeConfig();
const noDockerCli = resolved.status === 3;

describe("infra/compose.yaml", () => {
  it.skipIf(noDockerCli)("passes `docker compose config` (or docker-compose's) and defines the whole market", () => {
    expect(resolved.status, resolved.stderr).toBe(0);
    expect(resolved.stdout).toMatch(/^compose-config: .*(compose|Compose).*version/m);
    const servicesSection = resolved.stdout.slice(resolved.stdout.indexOf("\nservices:\n"), resolved.stdout.indexOf("\nvolumes:\n"));
    const services = [...servicesSection.matchAll(/^ {2}([a-z-]+):$/gm)].map((match) => match[1]);
    expect(services.sort()).toEqual(["chain", "dso", "gateway", "jaeger", "meter", "nats", "otel-collector"]);
    // Environment files and anchors resolved: the DSO gets its key and the registry path.
    expect(resolved.stdout).toMatch(/GRIDVEIL_REGISTRY: \/app\/infra\/provision\/registry.json/);
  });
  if (noDockerCli) it("is skipped: no docker CLI on this machine (infra/compose-config.sh exit 3)", () => undefined);

  it("lets meters scale (no fixed name or host port) and starts each actor only after what it needs is healthy", () => {
    const services = composeText.slice(composeText.indexOf("\nservices:\n"), composeText.indexOf("\nvolumes:\n"));
    const blocks = new Map(
      services
        .split(/\n(?= {2}[a-z-]+:\n)/)
        .slice(1)
        .map((block) => [/^ {2}([a-z-]+):/.exec(block)?.[1] ?? "", block]),
    );
    expect([...blocks.keys()]).toEqual(["nats", "chain", "jaeger", "otel-collector", "dso", "gateway", "meter"]);
    const meter = blocks.get("meter") ?? "";
    expect(meter).not.toMatch(/container_name|ports:/);
    expect(meter).toMatch(/dso:\s+condition: service_healthy/);
    expect(meter).toMatch(/gateway:\s+condition: service_healthy/);
    expect(blocks.get("gateway")).toMatch(/dso:\s+condition: service_healthy/);
    expect(blocks.get("dso")).toMatch(/nats:\s+condition: service_healthy\s+chain:\s+condition: service_healthy/);
    for (const service of ["nats", "chain", "dso", "gateway"]) expect(blocks.get(service), service).toContain("healthcheck:");
    expect(composeText).toMatch(/nats-data:\/data\/jetstream/);
    expect(composeText).toMatch(/dso-data:\/data/);
  });

  it("sets only environment variables that something in the image reads", () => {
    // The parties' variables, from their settings tables; the rest from the scripts and modules that read them.
    const partyVariables = new Set(environmentOf(dsoSettings, gatewaySettings, meterSettings));
    const sources = [
      join(repo, "actors/telemetry/telemetry.ts"),
      join(infra, "entrypoint.sh"),
      join(infra, "healthcheck.ts"),
      join(infra, "claimMeterSlot.ts"),
    ].map((path) => readFileSync(path, "utf8"));
    const read = (name: string): boolean =>
      partyVariables.has(name) ||
      sources.some((text) => text.includes(`process.env.${name}`) || text.includes(`\${${name}`) || text.includes(`$${name}`));
    const envFiles = readdirSync(join(infra, "provision")).filter((file) => file.endsWith(".env"));
    const names = new Set([
      ...[...composeText.matchAll(/^\s{6}([A-Z][A-Z0-9_]+):/gm)].map((match) => match[1] as string),
      ...envFiles.flatMap((file) => [...readFileSync(join(infra, "provision", file), "utf8").matchAll(/^([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1] as string)),
      ...Object.keys(meterEnvironment(provision().meters[0]!, "/p", "/d")),
    ]);
    // Read by a third-party image (Jaeger).
    const external = new Set(["COLLECTOR_OTLP_ENABLED"]);
    expect(names.size).toBeGreaterThan(10);
    expect([...names].filter((name) => !read(name) && !external.has(name))).toEqual([]);
  });

  it("provisions registry entries with the meter's inbox id, and the DSO's registry accepts and keeps them", () => {
    const registry = JSON.parse(readFileSync(join(infra, "provision/registry.json"), "utf8")) as { inboxId?: string }[];
    expect(registry.every((entry) => typeof entry.inboxId === "string")).toBe(true);
    const parsed = parseRegistry(registry, "infra/provision/registry.json");
    expect(parsed.map((entry) => entry.inboxId)).toEqual(provision().meters.map((meter) => meter.inboxId));
  });
});

describe("infra/claimMeterSlot.ts (scaled meter replicas)", () => {
  const meters = provision({ meters: 3 }).meters;

  it("gives each container its own slot, the same slot again after a restart, and refuses when all are taken", () => {
    const dir = mkdtempSync(join(tmpdir(), "gridveil-slots-"));
    try {
      expect(claimMeterSlot(dir, meters, "container-a").meterId).toBe("meter-01");
      expect(claimMeterSlot(dir, meters, "container-b").meterId).toBe("meter-02");
      expect(claimMeterSlot(dir, meters, "container-a").meterId).toBe("meter-01");
      expect(claimMeterSlot(dir, meters, "container-c").meterId).toBe("meter-03");
      expect(() => claimMeterSlot(dir, meters, "container-d")).toThrow(NoFreeMeterSlotError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("hands the meter its provisioned identity in the environment `gridveil meter` reads", () => {
    const meter = meters[1]!;
    expect(meterEnvironment(meter, "/app/infra/provision", "/data")).toEqual({
      GRIDVEIL_METER_ID: "meter-02",
      GRIDVEIL_METER_NAME: "Meter 02",
      GRIDVEIL_METER_KEY: meter.privateKey,
      GRIDVEIL_METER_INBOX: meter.inboxId,
      GRIDVEIL_PLAN: "/app/infra/provision/plans/meter-02.json",
      GRIDVEIL_DATA_DIR: "/data/meter-02",
      NATS_USER: meter.inboxId,
      NATS_PASSWORD: meter.natsPassword,
    });
  });
});
