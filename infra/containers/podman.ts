// Running podman (and the other tools of infra/containers/) as child processes: captured for short queries, logged to
// a file with progress lines for the long steps (debootstrap, image builds).
import { spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ContainersStepError } from "../errors.ts";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * podman's settings for this kind of machine (infra/podman/containers.conf: runc, cgroupfs, no default ulimits), unless
 * the caller points CONTAINERS_CONF elsewhere. Every podman this process starts inherits it.
 */
export function usePodmanSettings(): string {
  process.env.CONTAINERS_CONF ??= join(REPO_ROOT, "infra/podman/containers.conf");
  if (!existsSync(process.env.CONTAINERS_CONF)) {
    throw new ContainersStepError({ step: "preflight", detail: `CONTAINERS_CONF names ${process.env.CONTAINERS_CONF}, which does not exist` });
  }
  return process.env.CONTAINERS_CONF;
}

export type Captured = { code: number; stdout: string; stderr: string };

/** Runs a command to its end and captures its output (for short queries: inspect, exists, healthcheck run). */
export function capture(command: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<Captured> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = options.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), options.timeoutMs) : undefined;
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new ContainersStepError({ step: `${command} ${args[0] ?? ""}`.trim(), detail: error.message }));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** `podman …` that must succeed; resolves with its trimmed standard output. */
export async function podman(args: readonly string[], step: string): Promise<string> {
  const result = await capture("podman", args);
  if (result.code !== 0) {
    // podman says this on every run where there is no syslog to connect to; it is never why a command failed.
    const stderr = result.stderr.replace(/^failed to connect to syslog: .*\n/gm, "").trim();
    throw new ContainersStepError({ step, detail: `podman ${args.slice(0, 3).join(" ")} … exited ${result.code}: ${stderr.slice(-600)}` });
  }
  return result.stdout.trim();
}

export type Progress = (line: string) => void;

/**
 * A long step: output appended to `log`; `onLine` sees each line (to echo the steps worth printing), and a heartbeat
 * says every 30 s that it is still running. Resolves with the exit code. `stdin` may be another process's output.
 */
export function runLogged(
  command: string,
  args: readonly string[],
  options: { log: string; progress: Progress; label: string; onLine?: (line: string) => void; stdin?: NodeJS.ReadableStream },
): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const log = createWriteStream(options.log, { flags: "a" });
    log.write(`$ ${command} ${args.join(" ")}\n`);
    const child = spawn(command, args, { stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"] });
    if (options.stdin && child.stdin) options.stdin.pipe(child.stdin);
    const started = Date.now();
    const heartbeat = setInterval(() => options.progress(`  ${options.label}: still running (${Math.round((Date.now() - started) / 1000)} s)`), 30_000);
    let partial = "";
    const onData = (chunk: Buffer): void => {
      log.write(chunk);
      partial += chunk.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) options.onLine?.(line);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("error", (error) => {
      clearInterval(heartbeat);
      log.end();
      reject(new ContainersStepError({ step: options.label, detail: `${command}: ${error.message}`, log: options.log }));
    });
    child.on("close", (code, signal) => {
      clearInterval(heartbeat);
      if (partial) options.onLine?.(partial);
      log.end(`\n[exit ${code ?? signal}]\n`, () => resolvePromise(code ?? 128));
    });
  });
}

export function seconds(sinceMs: number): string {
  return `${((Date.now() - sinceMs) / 1000).toFixed(0)} s`;
}
