// A market of processes, without containers (`gridveil market up|down`): provisioning generated into one directory
// (NATS users and a nats.conf with that directory's store and the chosen ports, the DSO registry, meter identities
// and plans), then nats-server, the chain (`npx hardhat node`), the DSO, the gateway and N meters, each a process
// of its own with its log file. `market.json` in the directory records what runs, for `down` and for tests.
import { spawn } from "node:child_process";
import { appendFileSync, chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { z } from "zod";
import { findNatsServerBinary } from "../actors/nats/server.ts";
import { marketDefaults } from "../actors/config/tools.ts";
import { meterEnvironment } from "./claimMeterSlot.ts";
import { PLAN_LEVELS, provision, renderNatsConf, renderProvisioningFiles } from "./provision.ts";
import { MarketNotRunningError, MarketStartError } from "./errors.ts";
import { chainAnswers, dsoServes } from "./health.ts";
import { freePort } from "../actors/runtime/freePort.ts";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const MARKET_FILE = "market.json";

/** One party's process: how it was started (so it can be started again the same way), its pid and its log. */
const processSchema = z.strictObject({
  name: z.string(),
  pid: z.int().positive(),
  log: z.string(),
  command: z.string(),
  args: z.array(z.string()),
  /** The variables this market gives it, on top of the environment `market up` ran in. */
  env: z.record(z.string(), z.string()),
});
type MarketProcess = z.output<typeof processSchema>;
const marketFileSchema = z.strictObject({
  version: z.literal(1),
  market: z.string(),
  dir: z.string(),
  natsUrl: z.string(),
  rpcUrl: z.string(),
  /** In start order; `down` stops them in reverse. */
  processes: z.array(processSchema),
  dsoDatabase: z.string(),
  startedAt: z.int(),
});
export type MarketFile = z.output<typeof marketFileSchema>;

export type MarketUpOptions = {
  dir: string;
  meters: number;
  natsPort?: number | undefined;
  rpcPort?: number | undefined;
  seed?: string | undefined;
  /** Trading rounds of every meter's plan (default: the demo's, `PLAN_ROUNDS`). */
  rounds?: number | undefined;
  onProgress?: (line: string) => void;
};

/** Starts one detached child whose stdout and stderr go to `<dir>/logs/<name>.log`. */
function startProcess(dir: string, name: string, command: string, args: string[], env: Record<string, string>): MarketProcess {
  const log = join(dir, "logs", `${name}.log`);
  const fd = openSync(log, "a");
  try {
    const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, detached: true, stdio: ["ignore", fd, fd] });
    // A spawn that fails late (not executable) must not crash the caller: its log and the readiness wait report it.
    child.once("error", (error) => appendFileSync(log, `spawn failed: ${error.message}\n`));
    if (child.pid === undefined) throw new MarketStartError({ step: name, detail: "the process did not start", log });
    child.unref();
    return { name, pid: child.pid, log, command, args, env };
  } finally {
    closeSync(fd);
  }
}

/** Polls `check` until it holds; gives up at once when the process it waits for (`of`) has exited. */
async function waitFor(step: string, of: MarketProcess | undefined, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const log = of?.log;
  let last: unknown;
  while (Date.now() < deadline) {
    if (of && !isAlive(of.pid)) throw new MarketStartError({ step, detail: "the process exited", log });
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    await sleep(250);
  }
  throw new MarketStartError({ step, detail: `not ready within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ""}`, log });
}

const gridveil = (args: string[]): [string, string[]] => [process.execPath, [join(REPO_ROOT, "bin/gridveil.js"), ...args]];

/** Generates the market's provisioning in `dir`, starts every party as a process, and waits until the DSO serves. */
export async function marketUp(options: MarketUpOptions): Promise<MarketFile> {
  const dir = resolve(options.dir);
  const progress = options.onProgress ?? (() => undefined);
  if (existsSync(join(dir, MARKET_FILE))) {
    const running = readMarketFile(dir);
    if (running.processes.some((entry) => isAlive(entry.pid)))
      throw new MarketStartError({ step: "start", detail: `a market already runs from ${dir}`, hint: "gridveil market down first" });
  }
  // `hardhat node` keeps nothing between runs: a new chain needs a new DSO database, cursors and streams, else the DSO
  // would find its recorded contract gone. Logs are kept (appended to).
  for (const state of ["data", "jetstream"]) rmSync(join(dir, state), { recursive: true, force: true });
  mkdirSync(join(dir, "logs"), { recursive: true });
  const market = marketDefaults.market;
  const provisioning = provision({
    market,
    meters: options.meters,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.rounds === undefined ? {} : { rounds: options.rounds }),
  });
  const natsPort = options.natsPort ?? (await freePort());
  const rpcPort = options.rpcPort ?? (await freePort());
  const natsHttpPort = await freePort();
  for (const [name, content] of renderProvisioningFiles(provisioning)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeSecret(join(dir, name), content);
  }
  const natsConf = join(dir, "nats/nats.conf");
  writeSecret(
    natsConf,
    renderNatsConf(provisioning, { host: "127.0.0.1", port: natsPort, httpPort: natsHttpPort, storeDir: join(dir, "jetstream") }),
  );
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const rpcUrl = `http://127.0.0.1:${rpcPort}`;
  const dataDir = join(dir, "data");
  const processes: MarketFile["processes"] = [];
  const startedAt = Date.now();
  const file = (): MarketFile => ({
    version: 1,
    market,
    dir,
    natsUrl,
    rpcUrl,
    processes,
    dsoDatabase: join(dataDir, "dso", "dso.sqlite"),
    startedAt,
  });
  const save = () => writeMarketFile(file());
  try {
    progress(`nats-server on ${natsUrl}`);
    processes.push(startProcess(dir, "nats", findNatsServerBinary(), ["-c", natsConf], {}));
    save();
    progress(`chain on ${rpcUrl}`);
    processes.push(
      startProcess(
        dir,
        "chain",
        process.execPath,
        [join(REPO_ROOT, "node_modules/hardhat/dist/src/cli.js"), "node", "--hostname", "127.0.0.1", "--port", String(rpcPort)],
        {},
      ),
    );
    save();
    const dso = provisioning.envFiles.dso;
    await waitFor("nats", processes[0], 15_000, async () => {
      const nc = await connect({ servers: natsUrl, user: dso.NATS_USER, pass: dso.NATS_PASSWORD, timeout: 1_000 });
      await nc.close();
      return true;
    });
    await waitFor("chain", processes[1], 60_000, async () => (await chainAnswers(rpcUrl, 1_000)) > 0);
    // Each party logs to its own file at info (or the caller's GRIDVEIL_LOG_LEVEL), also when started from a test.
    const common = { NATS_URL: natsUrl, GRIDVEIL_RPC_URL: rpcUrl, GRIDVEIL_MARKET: market, GRIDVEIL_LOG_LEVEL: process.env.GRIDVEIL_LOG_LEVEL ?? "info" };
    progress("the DSO");
    const [node, dsoArgs] = gridveil(["dso"]);
    processes.push(
      startProcess(dir, "dso", node, dsoArgs, {
        ...common,
        ...dso,
        GRIDVEIL_DATA_DIR: join(dataDir, "dso"),
        GRIDVEIL_REGISTRY: join(dir, "provision/registry.json"),
        GRIDVEIL_LEVELS: String(PLAN_LEVELS),
      }),
    );
    save();
    await waitFor("dso", processes[2], 120_000, async () => {
      await dsoServes({ natsUrl, user: dso.NATS_USER, pass: dso.NATS_PASSWORD, market, timeoutMs: 1_000 });
      return true;
    });
    progress("the gateway");
    const [, gatewayArgs] = gridveil(["gateway"]);
    processes.push(
      startProcess(dir, "gateway", node, gatewayArgs, { ...common, ...provisioning.envFiles.gateway, GRIDVEIL_DATA_DIR: join(dataDir, "gateway") }),
    );
    save();
    for (const meter of provisioning.meters) {
      progress(`meter ${meter.meterId}`);
      const [, meterArgs] = gridveil(["meter"]);
      processes.push(
        startProcess(dir, meter.meterId, node, meterArgs, { ...common, ...meterEnvironment(meter, join(dir, "provision"), join(dataDir, "meters")) }),
      );
    }
    save();
    return file();
  } catch (error) {
    save();
    await marketDown({ dir }).catch(() => undefined);
    throw error;
  }
}

/** Keys and passwords (the provisioning, nats.conf, market.json): owner only, also when the file already existed. */
function writeSecret(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600);
}

function writeMarketFile(file: MarketFile): void {
  writeSecret(join(file.dir, MARKET_FILE), `${JSON.stringify(file, null, 2)}\n`);
}

export function readMarketFile(dir: string): MarketFile {
  const path = join(resolve(dir), MARKET_FILE);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new MarketNotRunningError({ dir: resolve(dir), cause });
  }
  return marketFileSchema.parse(JSON.parse(text));
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
      return;
    } catch {
      // Not a group leader, or already gone (ESRCH): try the process itself, then nothing is left to signal.
    }
  }
}

/** Kills one party's process (a fault, for the fault tests: SIGKILL by default, nothing is flushed). */
export async function killProcess(dir: string, name: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  const entry = readMarketFile(dir).processes.find((candidate) => candidate.name === name);
  if (!entry) throw new MarketStartError({ step: "kill", detail: `no process named ${name}` });
  if (isAlive(entry.pid)) signalGroup(entry.pid, signal);
  while (isAlive(entry.pid)) await sleep(50);
}

/** Starts one party's process again with the command, arguments, market variables and data `market up` gave it (on top of the environment of the caller). */
export function restartProcess(dir: string, name: string): MarketFile {
  const file = readMarketFile(dir);
  const index = file.processes.findIndex((candidate) => candidate.name === name);
  const entry = file.processes[index];
  if (!entry) throw new MarketStartError({ step: "restart", detail: `no process named ${name}` });
  if (isAlive(entry.pid)) throw new MarketStartError({ step: "restart", detail: `${name} still runs (pid ${entry.pid})` });
  file.processes[index] = startProcess(file.dir, name, entry.command, entry.args, entry.env);
  writeMarketFile(file);
  return file;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL when the process is still there after `graceMs`; resolves once it is gone. */
async function stopProcess(entry: MarketProcess, graceMs: number): Promise<void> {
  signalGroup(entry.pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isAlive(entry.pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(entry.pid)) signalGroup(entry.pid, "SIGKILL");
  while (isAlive(entry.pid)) await sleep(50);
}

/**
 * Stops the meters gracefully (SIGTERM: each withdraws its bids still waiting for a match and finishes its matched
 * trades), all at once; the rest of the market runs on. Resolves with the meters stopped.
 */
export async function stopMeters(options: { dir: string; graceMs?: number }): Promise<string[]> {
  const meters = readMarketFile(options.dir).processes.filter((entry) => entry.name.startsWith("meter-") && isAlive(entry.pid));
  await Promise.all(meters.map((entry) => stopProcess(entry, options.graceMs ?? marketDefaults.stopGraceMs)));
  return meters.map((entry) => entry.name);
}

/** Stops every process of the market in reverse start order: SIGTERM, then SIGKILL after `graceMs`. */
export async function marketDown(options: { dir: string; graceMs?: number; onProgress?: (line: string) => void }): Promise<string[]> {
  const running = readMarketFile(options.dir);
  const stopped: string[] = [];
  for (const entry of [...running.processes].reverse()) {
    if (!isAlive(entry.pid)) continue;
    options.onProgress?.(`stopping ${entry.name}`);
    await stopProcess(entry, options.graceMs ?? marketDefaults.stopGraceMs);
    stopped.push(entry.name);
  }
  return stopped;
}
