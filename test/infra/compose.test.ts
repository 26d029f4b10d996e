// infra/compose.yaml: Compose accepts it (no engine needed), it has the market's services, and every environment
// variable it sets is one an actor's CLI (or the entrypoint / health check) actually reads.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { claimMeterSlot, meterEnvironment, NoFreeMeterSlotError } from "../../infra/claimMeterSlot.ts";
import { readComposeFile } from "../../infra/containers/compose.ts";
import { parseRegistry } from "../../actors/dso/registry.ts";
import { provision } from "../../infra/provision.ts";
import { dsoSettings } from "../../actors/config/dso.ts";
import { gatewaySettings } from "../../actors/config/gateway.ts";
import { meterSettings } from "../../actors/config/meter.ts";
import { environmentOf } from "../../actors/config/settings.ts";

const repo = resolve(import.meta.dirname, "../..");
const infra = join(repo, "infra");
const composeText = readFileSync(join(infra, "compose.yaml"), "utf8");

function composeConfig(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync("bash", [join(infra, "compose-config.sh")], { encoding: "utf8", timeout: 240_000, env: { ...process.env, ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * One run of Compose (it takes seconds to start): the resolved configuration with the tracing profile active (Compose
 * v2 leaves inactive profiles' services out of `config`; COMPOSE_PROFILES is read by v1.29 and v2 alike), or exit 3
 * without a docker CLI.
 */
const resolved = composeConfig({ COMPOSE_PROFILES: "tracing", NATS_IMAGE: "localhost/gridveil-nats:bookworm" });
const noDockerCli = resolved.status === 3;

const servicesText = composeText.slice(composeText.indexOf("\nservices:\n"), composeText.indexOf("\nvolumes:\n"));
/** Each service's block of compose.yaml as written, in file order (comments above a service end the block before). */
const blocks = new Map(
  servicesText
    .split(/\n(?= {2}[a-z-]+:\n)/)
    .slice(1)
    .map((block) => [/^ {2}([a-z-]+):/.exec(block)?.[1] ?? "", block]),
);

describe("infra/compose.yaml", () => {
  it.skipIf(noDockerCli)("passes `docker compose config` (or docker-compose's) and defines the whole market", () => {
    expect(resolved.status, resolved.stderr).toBe(0);
    expect(resolved.stdout).toMatch(/^compose-config: .*(compose|Compose).*version/m);
    const servicesSection = resolved.stdout.slice(resolved.stdout.indexOf("\nservices:\n"), resolved.stdout.indexOf("\nvolumes:\n"));
    const services = [...servicesSection.matchAll(/^ {2}([a-z-]+):$/gm)].map((match) => match[1]);
    expect(services.sort()).toEqual(["chain", "dso", "gateway", "jaeger", "meter", "nats", "otel-collector"]);
    // Environment files and anchors resolved: the DSO gets its key and the registry path.
    expect(resolved.stdout).toMatch(/GRIDVEIL_REGISTRY: \/app\/infra\/provision\/registry.json/);
    // Variables resolved: NATS from NATS_IMAGE; no OTLP endpoint unless GRIDVEIL_OTLP_ENDPOINT names one.
    expect(resolved.stdout).toMatch(/^ {4}image: localhost\/gridveil-nats:bookworm$/m);
    expect(resolved.stdout).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT: ''/);
    expect(resolved.stdout).not.toMatch(/otel-collector:4318/);
  });
  if (noDockerCli) it("is skipped: no docker CLI on this machine (infra/compose-config.sh exit 3)", () => undefined);

  it("lets meters scale (no fixed name or host port) and starts each actor only after what it needs is healthy", () => {
    expect([...blocks.keys()]).toEqual(["nats", "chain", "jaeger", "otel-collector", "dso", "gateway", "meter"]);
    const meter = blocks.get("meter") ?? "";
    expect(meter).not.toMatch(/container_name|ports:/);
    expect(meter).toMatch(/dso:\s+condition: service_healthy/);
    expect(meter).toMatch(/gateway:\s+condition: service_healthy/);
    expect(blocks.get("gateway")).toMatch(/dso:\s+condition: service_healthy/);
    expect(blocks.get("dso")).toMatch(/depends_on:\s+nats:\s+condition: service_healthy\s+chain:\s+condition: service_healthy\s+healthcheck:/);
    for (const service of ["nats", "chain", "dso", "gateway"]) expect(blocks.get(service), service).toContain("healthcheck:");
    expect(composeText).toMatch(/nats-data:\/data\/jetstream/);
    expect(composeText).toMatch(/dso-data:\/data/);
  });

  it("runs tracing only in its profile, NATS from NATS_IMAGE, and no actor depends on the tracing services", () => {
    for (const [name, block] of blocks) {
      if (name === "jaeger" || name === "otel-collector") {
        expect(block, name).toMatch(/^ {4}profiles: \["tracing"\]$/m);
      } else {
        expect(block, name).not.toContain("profiles:");
        expect(block, name).not.toMatch(/^ {6}(jaeger|otel-collector):$/m);
      }
    }
    expect(blocks.get("nats")).toMatch(/^ {4}image: \$\{NATS_IMAGE:-nats:2\.10-alpine\}$/m);
    // The health check needs only wget, which busybox gives the alpine image and infra/images/nats.Containerfile installs.
    expect(blocks.get("nats")).toMatch(/test: \["CMD", "wget", /);
    expect(readFileSync(join(infra, "images/nats.Containerfile"), "utf8")).toMatch(/apt-get install .*nats-server wget/);
    expect(composeText).toMatch(/^ {4}OTEL_EXPORTER_OTLP_ENDPOINT: \$\{GRIDVEIL_OTLP_ENDPOINT:-\}$/m);
  });

  it("reads for podman as Compose would: profiles applied, start order, variables, env files under environment", () => {
    const file = join(infra, "compose.yaml");
    const plain = readComposeFile(file, { variables: {} });
    expect(plain.services.map((service) => service.name)).toEqual(["nats", "chain", "dso", "gateway", "meter"]);
    expect(plain.volumes).toEqual(["nats-data", "dso-data", "gateway-data", "meter-slots"]);
    const byName = new Map(plain.services.map((service) => [service.name, service]));
    expect(byName.get("nats")?.image).toBe("nats:2.10-alpine");
    expect(byName.get("dso")?.environment).toMatchObject({ NATS_USER: "dso", GRIDVEIL_REGISTRY: "/app/infra/provision/registry.json", OTEL_EXPORTER_OTLP_ENDPOINT: "" });
    expect(byName.get("dso")?.dependsOn).toEqual([
      { service: "nats", condition: "service_healthy" },
      { service: "chain", condition: "service_healthy" },
    ]);
    expect(byName.get("chain")?.build).toEqual({ context: repo, dockerfile: "infra/Dockerfile" });
    expect(byName.get("dso")?.healthcheck).toEqual({ test: ["CMD", "node", "--import", "tsx", "infra/healthcheck.ts", "dso"], intervalMs: 10_000, timeoutMs: 8_000, retries: 12, startPeriodMs: 30_000 });

    const traced = readComposeFile(file, { profiles: ["tracing"], variables: { NATS_IMAGE: "localhost/gridveil-nats:bookworm", GRIDVEIL_OTLP_ENDPOINT: "http://otel-collector:4318" } });
    expect(traced.services.map((service) => service.name)).toEqual(["nats", "chain", "jaeger", "otel-collector", "dso", "gateway", "meter"]);
    expect(traced.services[0]?.image).toBe("localhost/gridveil-nats:bookworm");
    expect(traced.services.find((service) => service.name === "meter")?.environment.OTEL_EXPORTER_OTLP_ENDPOINT).toBe("http://otel-collector:4318");
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
