// The compose market as podman containers: one network (DNS by service name), the named volumes, each service's
// replicas started once what it depends on is started or healthy, as Compose orders them. podman-compose 1.0.3
// (Debian bookworm's) can neither apply profiles nor wait for `service_healthy`, so this reads compose.yaml itself
// (infra/containers/compose.ts); health checks run with `podman healthcheck run`, since podman would schedule them
// with systemd timers.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ContainersStepError } from "../errors.ts";
import { containerName, PROJECT_LABEL, runArguments, volumeName, type ComposePlan, type RunNames, type Service } from "./compose.ts";
import { capture, podman, seconds, type Progress } from "./podman.ts";

/** The poll period of a health check while it is not healthy yet; its budget is Compose's (see waitHealthy). */
const HEALTH_POLL_MS = 2_000;

export type Replicas = Readonly<Record<string, number>>;

export function runNames(project: string): RunNames {
  return { project, network: `${project}_default` };
}

export type StartedMarket = { names: RunNames; containers: { service: string; name: string }[] };

async function inspectState(container: string): Promise<{ status: string; restarts: number; exitCode: number }> {
  const text = await podman(["inspect", "--format", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", container], `inspect ${container}`);
  const [status, restarts, exitCode] = text.split(" ");
  return { status: status ?? "unknown", restarts: Number(restarts), exitCode: Number(exitCode) };
}

/**
 * Healthy = `podman healthcheck run` exits 0. Compose's budget: the start period, then `retries` failed checks at the
 * interval; it is polled more often than the interval so a healthy service is seen at once.
 */
async function waitHealthy(service: Service, container: string, logDir: string, progress: Progress): Promise<void> {
  const check = service.healthcheck;
  if (!check) return;
  const started = Date.now();
  const deadline = started + check.startPeriodMs + check.retries * check.intervalMs;
  let last = "";
  for (;;) {
    const result = await capture("podman", ["healthcheck", "run", container], { timeoutMs: check.timeoutMs + 10_000 });
    if (result.code === 0) {
      progress(`  ${container}: healthy after ${seconds(started)}`);
      return;
    }
    last = `${result.stdout}${result.stderr}`.trim().split("\n").slice(-3).join(" | ");
    const state = await inspectState(container);
    if (state.status !== "running" || Date.now() > deadline) {
      const log = await saveLog(container, logDir);
      const why = state.status !== "running" ? `it is ${state.status} (exit ${state.exitCode})` : `not healthy within ${seconds(started)}`;
      throw new ContainersStepError({ step: `service ${service.name}`, detail: `${container}: ${why}; last check: ${last || "no output"}`, log });
    }
    await sleep(HEALTH_POLL_MS);
  }
}

/** `podman logs` of one container into `<logDir>/<container>.log`; resolves with the file. */
export async function saveLog(container: string, logDir: string): Promise<string> {
  const file = join(logDir, `${container}.log`);
  const result = await capture("podman", ["logs", container]);
  writeFileSync(file, `${result.stdout}${result.stderr}`);
  return file;
}

/** Every container of the project, in start order of their names. */
export async function projectContainers(project: string): Promise<string[]> {
  const text = await podman(["ps", "--all", "--filter", `label=${PROJECT_LABEL}=${project}`, "--format", "{{.Names}}"], "list containers");
  return text === "" ? [] : text.split("\n").sort();
}

/** Saves every container's log under `<logDir>/containers/`; resolves with that directory. */
export async function saveLogs(project: string, logDir: string): Promise<string> {
  const dir = join(logDir, "containers");
  mkdirSync(dir, { recursive: true });
  for (const container of await projectContainers(project)) await saveLog(container, dir);
  return dir;
}

/**
 * Starts the plan's services: the network, the volumes, then each service's replicas (`replicas[service]`, default 1)
 * once its dependencies are started or healthy. `publishPorts: false` leaves the host's ports alone (the check).
 */
export async function marketUp(
  plan: ComposePlan,
  options: { project: string; replicas: Replicas; publishPorts: boolean; logDir: string; progress: Progress },
): Promise<StartedMarket> {
  const names = runNames(options.project);
  const { progress } = options;
  if ((await projectContainers(names.project)).length > 0) {
    throw new ContainersStepError({ step: "up", detail: `project ${names.project} already has containers`, hint: `infra/containers.sh down --project ${names.project}` });
  }
  await podman(["network", "create", "--label", `${PROJECT_LABEL}=${names.project}`, names.network], `network ${names.network}`);
  for (const volume of plan.volumes) {
    await podman(["volume", "create", "--label", `${PROJECT_LABEL}=${names.project}`, volumeName(names, volume)], `volume ${volume}`);
  }
  const started: StartedMarket = { names, containers: [] };
  const healthy = new Set<string>();
  for (const service of plan.services) {
    for (const dependency of service.dependsOn) {
      if (dependency.condition !== "service_healthy" || healthy.has(dependency.service)) continue;
      const target = plan.services.find((candidate) => candidate.name === dependency.service) as Service;
      progress(`waiting for ${dependency.service} to be healthy (${service.name} depends on it)`);
      for (const container of started.containers.filter((entry) => entry.service === dependency.service)) {
        await waitHealthy(target, container.name, options.logDir, progress);
      }
      healthy.add(dependency.service);
    }
    const count = options.replicas[service.name] ?? 1;
    for (let replica = 1; replica <= count; replica += 1) {
      const name = containerName(names, service.name, replica);
      await podman(runArguments(names, service, replica, { publishPorts: options.publishPorts }), `start ${name}`);
      started.containers.push({ service: service.name, name });
    }
    progress(`started ${service.name}${count === 1 ? "" : ` × ${count}`} (${service.image})`);
  }
  return started;
}

/** Removes every container, the network and the volumes of a project; what is already gone is skipped. */
export async function marketDown(project: string, progress: Progress): Promise<void> {
  const names = runNames(project);
  const containers = await projectContainers(project);
  if (containers.length > 0) {
    progress(`removing ${containers.length} containers of ${project}`);
    await podman(["rm", "--force", "--volumes", "--time", "5", ...containers], "remove containers");
  }
  const volumes = await podman(["volume", "ls", "--filter", `label=${PROJECT_LABEL}=${project}`, "--format", "{{.Name}}"], "list volumes");
  if (volumes !== "") await podman(["volume", "rm", "--force", ...volumes.split("\n")], "remove volumes");
  if ((await capture("podman", ["network", "exists", names.network])).code === 0) await podman(["network", "rm", "--force", names.network], "remove network");
}

/** The containers that stopped or were restarted since they started: none should have, in a healthy market. */
export async function unsteadyContainers(project: string): Promise<string[]> {
  const unsteady: string[] = [];
  for (const container of await projectContainers(project)) {
    const state = await inspectState(container);
    if (state.status !== "running" || state.restarts > 0) unsteady.push(`${container} (${state.status}, ${state.restarts} restarts, exit ${state.exitCode})`);
  }
  return unsteady;
}

/** A container's address on the project's network, which the host (rootful podman) reaches directly. */
export async function containerAddress(names: RunNames, container: string): Promise<string> {
  const address = await podman(["inspect", "--format", `{{(index .NetworkSettings.Networks "${names.network}").IPAddress}}`, container], `address of ${container}`);
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(address)) throw new ContainersStepError({ step: `address of ${container}`, detail: `no IPv4 address on ${names.network}: ${JSON.stringify(address)}` });
  return address;
}

/** A named volume's directory on the host (rootful podman), to read what a container wrote there. */
export async function volumeDirectory(names: RunNames, volume: string): Promise<string> {
  return podman(["volume", "inspect", "--format", "{{.Mountpoint}}", volumeName(names, volume)], `volume ${volume}`);
}
