// `infra/containers.sh images|up|check|down`: the container market of infra/compose.yaml on podman, from images built
// here (docs/deploy.md, "Run it with podman").
//
//   images  the local base images (Debian minbase by debootstrap, kept; NATS; the Node build base) and the image of
//           every compose service with `build:` (infra/Dockerfile on those bases)
//   up      images, then the market with the host ports of compose.yaml; it keeps running
//   check   images, the market without host ports, waits until trades settled, checks the ledger and the chain,
//           and removes everything again, also on failure
//   down    removes the containers, the network and the volumes of a project
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DSO_DATABASE_FILE } from "../../actors/dso/runtime.ts";
import { ContainersCheckError, ContainersStepError } from "../errors.ts";
import { waitForSettledMarket, type MarketOutcome } from "./check.ts";
import { containerName, readComposeFile, type ComposePlan, type RunNames } from "./compose.ts";
import {
  buildBuildBaseImage,
  buildNatsImage,
  buildServiceImages,
  DEFAULT_DEBIAN_MIRROR,
  ensureBaseImage,
  imageExists,
  LOCAL_IMAGES,
  removeOldBuilds,
  requireServiceImages,
} from "./images.ts";
import { containerAddress, marketDown, marketUp, saveLogs, unsteadyContainers, volumeDirectory } from "./market.ts";
import { capture, REPO_ROOT, seconds, usePodmanSettings, type Progress } from "./podman.ts";

const USAGE = `usage: infra/containers.sh images|up|check|down [options]
  --project NAME      container, network and volume prefix (up/down: gridveil, check: gridveil-check)
  --meters N          meter replicas (up: 6, check: 4; at most the provisioned slots, 16)
  --profile NAME      also run the services of a compose profile (repeatable; e.g. tracing, whose images need a registry)
  --default-images    build on node:22-bookworm-slim / debian:bookworm-slim and run nats:2.10-alpine (a registry is needed)
  --mirror URL        Debian mirror for debootstrap (${DEFAULT_DEBIAN_MIRROR})
  --timeout S         check: how long trades may take to settle once the meters run (300)
  --json              check: print the outcome as one JSON object
  --no-ports          up: publish none of the host ports compose.yaml names (check never does)
  --log-dir DIR       where logs go (.gridveil/containers/<project>)`;

const COMPOSE_FILE = join(REPO_ROOT, "infra/compose.yaml");
/** The check's quiet period: no new bid, match or trade state for this long means the meters' plans are done. */
const CHECK_QUIET_MS = 15_000;
const CHECK_MIN_SETTLED = 2;

const started = Date.now();
const progress: Progress = (line) => {
  const elapsed = Math.round((Date.now() - started) / 1000);
  process.stderr.write(`containers [${String(Math.floor(elapsed / 60)).padStart(2)}:${String(elapsed % 60).padStart(2, "0")}] ${line}\n`);
};

type Options = {
  project: string;
  meters: number;
  profiles: string[];
  defaultImages: boolean;
  mirror: string;
  timeoutMs: number;
  json: boolean;
  logDir: string;
  publishPorts: boolean;
};

function usageError(detail: string): ContainersStepError {
  return new ContainersStepError({ step: "usage", detail, hint: USAGE });
}

function parseOptions(command: string, argv: string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        project: { type: "string" },
        meters: { type: "string" },
        profile: { type: "string", multiple: true },
        "default-images": { type: "boolean" },
        mirror: { type: "string" },
        timeout: { type: "string" },
        json: { type: "boolean" },
        "log-dir": { type: "string" },
        "no-ports": { type: "boolean" },
      },
      strict: true,
    }).values;
  } catch (error) {
    throw usageError((error as Error).message);
  }
  const project = parsed.project ?? (command === "check" ? "gridveil-check" : "gridveil");
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(project)) throw usageError(`--project ${JSON.stringify(project)}: lower-case letters, digits, - and _`);
  const meters = Number(parsed.meters ?? (command === "check" ? 4 : 6));
  if (!Number.isInteger(meters) || meters < 1 || meters > 16) throw usageError(`--meters ${parsed.meters}: a whole number from 1 to 16 (the provisioned slots)`);
  const timeout = Number(parsed.timeout ?? 300);
  if (!Number.isFinite(timeout) || timeout <= 0) throw usageError(`--timeout ${parsed.timeout}: seconds, more than 0`);
  return {
    project,
    meters,
    profiles: parsed.profile ?? [],
    defaultImages: parsed["default-images"] ?? false,
    mirror: parsed.mirror ?? DEFAULT_DEBIAN_MIRROR,
    timeoutMs: timeout * 1000,
    json: parsed.json ?? false,
    logDir: parsed["log-dir"] ?? join(REPO_ROOT, ".gridveil/containers", project),
    publishPorts: command === "up" && !parsed["no-ports"],
  };
}

async function preflight(options: { needsRoot: boolean }): Promise<void> {
  const version = await capture("podman", ["--version"]).catch(() => undefined);
  if (!version || version.code !== 0) {
    throw new ContainersStepError({ step: "preflight", detail: "podman is not installed", hint: "apt-get install -y podman runc debootstrap (Debian/Ubuntu), then run this again" });
  }
  if (options.needsRoot && process.getuid?.() !== 0) {
    throw new ContainersStepError({ step: "preflight", detail: "run as root: debootstrap and rootful podman (the check reads the containers' volumes and addresses from the host)" });
  }
  const conf = usePodmanSettings();
  const info = await capture("podman", ["info", "--format", "{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}"]);
  if (info.code !== 0) throw new ContainersStepError({ step: "preflight", detail: `podman info failed: ${info.stderr.trim()}`, hint: `CONTAINERS_CONF=${conf}` });
  progress(`${version.stdout.trim()}, runtime and storage ${info.stdout.trim()}, settings ${conf}`);
}

/** Compose variables: in local mode NATS runs from the image built here, unless NATS_IMAGE names another. */
function composeVariables(options: Options): Record<string, string | undefined> {
  return options.defaultImages ? { ...process.env } : { ...process.env, NATS_IMAGE: process.env.NATS_IMAGE ?? LOCAL_IMAGES.nats };
}

async function buildImages(plan: ComposePlan, options: Options): Promise<void> {
  const context = { logDir: options.logDir, progress };
  const begun = Date.now();
  if (options.defaultImages) {
    await buildServiceImages(context, plan, {});
    await removeOldBuilds(context, begun);
    return;
  }
  if (!(await imageExists(LOCAL_IMAGES.base))) {
    const debootstrap = await capture("debootstrap", ["--version"]).catch(() => undefined);
    if (!debootstrap) throw new ContainersStepError({ step: "base image", detail: "debootstrap is not installed", hint: "apt-get install -y debootstrap" });
  }
  await ensureBaseImage(context, options.mirror);
  // Both only on the base: side by side, the NATS image is done while Debian's npm still unpacks.
  await Promise.all([buildNatsImage(context), buildBuildBaseImage(context)]);
  await buildServiceImages(context, plan, { BUILD_IMAGE: LOCAL_IMAGES.buildBase, RUNTIME_IMAGE: LOCAL_IMAGES.base });
  await removeOldBuilds(context, begun);
  await requireServiceImages(plan);
}

/** The address of a service the DSO reaches by name (its GRIDVEIL_RPC_URL), with the container's address instead. */
async function hostUrl(plan: ComposePlan, names: RunNames, from: string, variable: string): Promise<string> {
  const url = new URL(plan.services.find((service) => service.name === from)?.environment[variable] ?? "");
  url.hostname = await containerAddress(names, containerName(names, url.hostname, 1));
  return url.toString();
}

/** The DSO's database file, in the named volume mounted at its GRIDVEIL_DATA_DIR. */
async function dsoDatabase(plan: ComposePlan, names: RunNames): Promise<string> {
  const dso = plan.services.find((service) => service.name === "dso");
  const dataDir = dso?.environment.GRIDVEIL_DATA_DIR;
  const mount = dso?.mounts.find((entry) => entry.target === dataDir);
  if (!mount || mount.kind !== "volume") throw new ContainersStepError({ step: "check", detail: "the dso service has no named volume at its GRIDVEIL_DATA_DIR" });
  return join(await volumeDirectory(names, mount.name), DSO_DATABASE_FILE);
}

async function up(plan: ComposePlan, options: Options): Promise<RunNames> {
  const begun = Date.now();
  progress(`market ${options.project}: ${plan.services.map((service) => service.name).join(", ")} (meters × ${options.meters})`);
  try {
    const market = await marketUp(plan, { project: options.project, replicas: { meter: options.meters }, publishPorts: options.publishPorts, logDir: options.logDir, progress });
    progress(`market ${options.project}: every service started in ${seconds(begun)}`);
    return market.names;
  } catch (error) {
    progress(`market ${options.project}: start failed; saving logs and removing what was started`);
    await saveLogs(options.project, options.logDir).catch(() => undefined);
    await marketDown(options.project, progress).catch(() => undefined);
    throw error;
  }
}

async function check(plan: ComposePlan, options: Options): Promise<MarketOutcome> {
  const timings: Record<string, number> = {};
  let mark = Date.now();
  const lap = (name: string): void => {
    timings[name] = Date.now() - mark;
    mark = Date.now();
  };
  await buildImages(plan, options);
  lap("images");
  await marketDown(options.project, progress); // what an interrupted run left behind
  let tearingDown: Promise<void> | undefined;
  const teardown = (): Promise<void> =>
    (tearingDown ??= (async () => {
      const logs = await saveLogs(options.project, options.logDir).catch(() => undefined);
      if (logs) progress(`containers' logs saved in ${logs}`);
      await marketDown(options.project, progress);
    })());
  const onSignal = (signal: NodeJS.Signals): void => {
    progress(`${signal}: removing the market`);
    void teardown().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const names = await up(plan, options);
    lap("up");
    const logs = join(options.logDir, "containers");
    progress(`waiting for trades to settle (≥ ${CHECK_MIN_SETTLED} settled, every match ended, quiet ${CHECK_QUIET_MS / 1000} s; at most ${options.timeoutMs / 1000} s)`);
    const outcome = await waitForSettledMarket({
      dsoDatabase: await dsoDatabase(plan, names),
      rpcUrl: await hostUrl(plan, names, "dso", "GRIDVEIL_RPC_URL"),
      minSettled: CHECK_MIN_SETTLED,
      quietMs: CHECK_QUIET_MS,
      timeoutMs: options.timeoutMs,
      logs,
      progress,
    });
    lap("settle");
    const unsteady = await unsteadyContainers(options.project);
    if (unsteady.length > 0) throw new ContainersCheckError({ check: "containers", detail: `stopped or restarted: ${unsteady.join(", ")}`, logs });
    await teardown();
    lap("down");
    const total = Date.now() - started;
    const summary = { ok: true, project: options.project, meters: options.meters, outcome, timingsMs: { ...timings, total } };
    if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      process.stdout.write(
        `containers check passed: ${outcome.bidsPlaced} bids placed, ${outcome.matches} matches, every one a trade that ended ` +
          `(${outcome.trades.settled} settled, ${outcome.trades.voided} voided, ${outcome.trades.disputed} disputed); ledger ` +
          `${outcome.ledger.lines} lines summing to 0; ${Math.round(total / 1000)} s (images ${Math.round((timings.images ?? 0) / 1000)} s, ` +
          `up ${Math.round((timings.up ?? 0) / 1000)} s, settling ${Math.round((timings.settle ?? 0) / 1000)} s)\n`,
      );
    }
    return outcome;
  } finally {
    await teardown();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command !== "images" && command !== "up" && command !== "check" && command !== "down") {
    throw usageError(command ? `unknown command ${JSON.stringify(command)}` : "a command is needed");
  }
  const options = parseOptions(command, rest);
  await preflight({ needsRoot: command !== "down" });
  if (command === "down") {
    await marketDown(options.project, progress);
    progress(`market ${options.project}: removed`);
    return;
  }
  rmSync(options.logDir, { recursive: true, force: true });
  mkdirSync(options.logDir, { recursive: true });
  const plan = readComposeFile(COMPOSE_FILE, { profiles: options.profiles, variables: composeVariables(options) });
  if (command === "images") {
    await buildImages(plan, options);
    return;
  }
  if (command === "check") {
    await check(plan, options);
    return;
  }
  await buildImages(plan, options);
  await up(plan, options);
  progress(`market ${options.project} is up: docs/deploy.md says how to watch it; infra/containers.sh down removes it`);
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(error instanceof ContainersStepError && (error as Error).message.startsWith("containers: usage") ? 2 : 1);
}
