// Starts a private nats-server (JetStream, temporary store, random loopback port) for tests and the demo.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { NatsServerNotFoundError, NatsServerStartError } from "./errors.ts";
import { adapterDefaults } from "../config/common.ts";

export type StartNatsServerOptions = {
  /** Enable JetStream (default true: bids, matches, readings and settlements live in streams). */
  jetstream?: boolean;
  /** JetStream store directory; a fresh temporary directory (removed on stop) when omitted. */
  storeDir?: string;
  /** Path to the nats-server binary; default `NATS_SERVER_BIN`, then `PATH`, then `/usr/sbin`, `/usr/local/bin`. */
  binary?: string;
  /** How long to wait for the server to accept connections. */
  startTimeoutMs?: number;
  /** A nats-server configuration file (users, permissions…); host, port and JetStream flags still come from here. */
  configFile?: string;
  /** Serve nats-server's HTTP monitoring (`/connz`, `/varz`) on this loopback port (audits read connection names). */
  monitorPort?: number;
};

export type NatsServerHandle = {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  pid: number;
  /** The JetStream store in use (undefined without JetStream). */
  storeDir: string | undefined;
  /** Terminates the server (SIGTERM, then SIGKILL) and removes the temporary store it created. Idempotent. */
  stop(): Promise<void>;
};

export type ResolvedNats = {
  url: string;
  /** True when this call started a server (and `stop` will stop it); false when `NATS_URL` was used. */
  started: boolean;
  stop(): Promise<void>;
};

const FALLBACK_DIRS = ["/usr/sbin", "/usr/local/bin", "/usr/bin"];

/** Locates the nats-server binary, or throws `NatsServerNotFoundError` with the install hint. */
export function findNatsServerBinary(explicit?: string): string {
  const candidates: string[] = [];
  if (explicit) candidates.push(explicit);
  else {
    const fromEnv = process.env.NATS_SERVER_BIN;
    if (fromEnv) candidates.push(fromEnv);
    for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir) candidates.push(join(dir, "nats-server"));
    for (const dir of FALLBACK_DIRS) candidates.push(join(dir, "nats-server"));
  }
  const found = candidates.find((path) => existsSync(path));
  if (!found) {
    throw new NatsServerNotFoundError({ binary: explicit ?? process.env.NATS_SERVER_BIN ?? "nats-server" });
  }
  return found;
}

/**
 * Spawns nats-server on 127.0.0.1 with a server-chosen port (`-p -1`, read back from the ports file, so there is
 * no race between picking a free port and binding it) and waits until it greets a client (with JetStream on).
 */
export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = findNatsServerBinary(options.binary);
  const jetstream = options.jetstream ?? true;
  const workDir = await mkdtemp(join(tmpdir(), "gridveil-nats-"));
  const storeDir = jetstream ? (options.storeDir ?? join(workDir, "jetstream")) : undefined;
  const args = [
    ...(options.configFile ? ["-c", options.configFile] : []),
    ...["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", workDir, "-n", `gridveil-${process.pid}`],
  ];
  if (storeDir) args.push("-js", "-sd", storeDir);
  if (options.monitorPort !== undefined) args.push("-m", String(options.monitorPort));

  const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
  const stderrTail: string[] = [];
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderrTail.push(chunk);
    if (stderrTail.length > 40) stderrTail.shift();
  });
  let exited = false;
  let spawnError: Error | undefined;
  child.once("error", (error) => (spawnError = error));
  const exitedPromise = new Promise<void>((resolve) => child.once("exit", () => ((exited = true), resolve())));
  // A crashed test must not leave servers behind.
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener("exit", killOnExit);
    if (!exited) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), adapterDefaults.natsStopGraceMs);
      await exitedPromise;
      clearTimeout(timer);
    }
    await rm(workDir, { recursive: true, force: true });
  };

  try {
    const port = await waitForPort(child, workDir, options.startTimeoutMs ?? adapterDefaults.natsStartTimeoutMs, () => {
      if (spawnError) throw spawnError;
      if (exited) throw new Error(`nats-server exited early:\n${stderrTail.join("").trim()}`);
    });
    await waitForGreeting(port, jetstream, options.startTimeoutMs ?? adapterDefaults.natsStartTimeoutMs);
    return { url: `nats://127.0.0.1:${port}`, port, pid: child.pid ?? -1, storeDir, stop };
  } catch (error) {
    await stop();
    throw new NatsServerStartError({ binary, args, cause: error });
  }
}

/** The demo's and the tests' entry point: `NATS_URL` when set, otherwise a private server that `stop` terminates. */
export async function resolveNats(options: StartNatsServerOptions & { url?: string } = {}): Promise<ResolvedNats> {
  const url = options.url ?? process.env.NATS_URL;
  if (url) return { url, started: false, stop: async () => {} };
  const server = await startNatsServer(options);
  return { url: server.url, started: true, stop: server.stop };
}

async function waitForPort(child: ChildProcess, dir: string, timeoutMs: number, check: () => void): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    check();
    const files = (await readdir(dir)).filter((name) => name.endsWith(`_${child.pid}.ports`));
    if (files.length > 0) {
      const ports = JSON.parse(await readFile(join(dir, files[0]), "utf8")) as { nats?: string[] };
      const first = ports.nats?.[0];
      const port = first ? Number(new URL(first).port) : NaN;
      if (Number.isInteger(port) && port > 0) return port;
    }
    await sleep(adapterDefaults.natsProbeIntervalMs);
  }
  throw new Error(`no ports file after ${timeoutMs} ms`);
}

/** Reads the server's INFO line: the listener is up, and (if asked) JetStream is enabled. */
async function waitForGreeting(port: number, jetstream: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const info = await readInfoLine(port);
      if (!jetstream || info.jetstream === true) return;
      lastError = new Error("server greeted without JetStream");
    } catch (error) {
      lastError = error;
    }
    await sleep(adapterDefaults.natsProbeIntervalMs);
  }
  throw lastError instanceof Error ? lastError : new Error("nats-server did not greet");
}

function readInfoLine(port: number): Promise<{ jetstream?: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    let buffer = "";
    socket.setEncoding("utf8");
    socket.setTimeout(1_000, () => socket.destroy(new Error("greeting timed out")));
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      const end = buffer.indexOf("\r\n");
      if (end < 0) return;
      socket.destroy();
      const line = buffer.slice(0, end);
      if (!line.startsWith("INFO ")) return reject(new Error(`unexpected greeting: ${line.slice(0, 80)}`));
      try {
        resolve(JSON.parse(line.slice(5)) as { jetstream?: boolean });
      } catch (error) {
        reject(error);
      }
    });
    socket.on("error", reject);
  });
}
