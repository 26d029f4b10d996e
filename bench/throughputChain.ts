// The throughput bench's chain in a process of its own (as the compose file runs it): the in-process EDR node of
// actors/chain/localChain.ts, started by `startChildChain`, which reads its URL from this script's first stdout line.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { startLocalChain } from "../actors/chain/localChain.ts";
import { ChainProcessError } from "./errors.ts";

export type ChildChain = { rpcUrl: string; stop(): Promise<void> };

const START_TIMEOUT_MS = 60_000;
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Spawns this file under the same Node (with tsx) and resolves once the node answers on its URL. */
export async function startChildChain(): Promise<ChildChain> {
  const child: ChildProcess = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), fileURLToPath(import.meta.url)], {
    // Hardhat reads hardhat.config.ts from the working directory.
    cwd: REPO_ROOT,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  try {
    const rpcUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ChainProcessError({ kind: "timeout", timeoutMs: START_TIMEOUT_MS })), START_TIMEOUT_MS);
      const lines = createInterface({ input: child.stdout! });
      lines.once("line", (line) => {
        clearTimeout(timer);
        const parsed = JSON.parse(line) as { rpcUrl?: unknown };
        if (typeof parsed.rpcUrl === "string") resolve(parsed.rpcUrl);
        else reject(new ChainProcessError({ kind: "noUrl", line }));
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new ChainProcessError({ kind: "exited", code }));
      });
    });
    return { rpcUrl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function serveChain(): Promise<void> {
  const chain = await startLocalChain();
  process.stdout.write(`${JSON.stringify({ rpcUrl: chain.rpcUrl })}\n`);
  const shutdown = () => void chain.stop().finally(() => process.exit(0));
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
  // The bench died without stopping us: stdin closes with it.
  process.stdin.once("end", shutdown);
  process.stdin.resume();
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await serveChain();
