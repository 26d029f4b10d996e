// `gridveil dso` as a process (real nats-server and local chain): bad flags exit 2 with a clear message; a good start
// serves the market description and SIGTERM stops it gracefully with exit code 0.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalChain, type LocalChain } from "../../actors/chain/localChain.ts";
import { connectNats, type NatsClients } from "../../actors/nats/connect.ts";
import { call } from "../../actors/nats/rpc.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";

import { marketSubjects } from "../../protocol/wire/subjects.ts";
import { spanFilePath } from "../../actors/telemetry/telemetry.ts";
import { until } from "./harness.ts";

type Run = { child: ChildProcess; stdout: () => string; stderr: () => string; exit: Promise<number | null> };

function gridveil(args: string[], env: Record<string, string> = {}): Run {
  // Only what the test gives: no NATS_URL or GRIDVEIL_* from the environment the suite runs in.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => name !== "NATS_URL" && !name.startsWith("GRIDVEIL_") && !name.startsWith("OTEL_")),
  );
  const child = spawn(process.execPath, ["--import", "tsx", "actors/cli/main.ts", ...args], {
    cwd: process.cwd(),
    env: { ...inherited, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exit = once(child, "exit").then(([code]) => code as number | null);
  return { child, stdout: () => out, stderr: () => err, exit };
}

let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "gridveil-dso-cli-"));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe("gridveil dso (flags)", () => {
  it.each([
    [["--levels", "1"], /--levels must be between 2 and 1024/],
    [["--design", "v3"], /--design must be v1 or v2/],
    [["--encrypt-at", "gateway"], /--encrypt-at must be dso or meter/],
    [["--width", "9"], /--width must be between 1 and 8/],
    [["--nats", "not a url"], /--nats must be a URL/],
    [["--clearing-rule", "average"], /--clearing-rule must be midpoint, seller or buyer/],
    [["--key", "0xnothex"], /--key must be a private key/],
  ])("%j exits 2 with a clear message", async (args, message) => {
    const run = gridveil(["dso", ...args]);
    expect(await run.exit).toBe(2);
    expect(run.stderr()).toMatch(message);
  });

  it("levels beyond version 1's bound, or a width the levels cannot use in version 2, exit 2 naming the bound", async () => {
    const key = { GRIDVEIL_DSO_KEY: Wallet.createRandom().privateKey };
    const v1 = gridveil(["dso", "--design", "v1", "--levels", "200"], key);
    expect(await v1.exit).toBe(2);
    expect(v1.stderr()).toMatch(/--levels must be at most 126 in version 1/);
    const width = gridveil(["dso", "--design", "v2", "--levels", "10", "--width", "5"], key);
    expect(await width.exit).toBe(2);
    expect(width.stderr()).toMatch(/--width must be at most 4 bits for 10 levels/);
  });

  it("a missing key, or a registry with a bad entry, exits 2 naming the problem", async () => {
    const noKey = gridveil(["dso", "--data-dir", join(workDir, "nokey")]);
    expect(await noKey.exit).toBe(2);
    expect(noKey.stderr()).toMatch(/needs its private key/);

    const registry = join(workDir, "bad-registry.json");
    await writeFile(registry, JSON.stringify([{ meterId: "house 1", address: "0x1234", name: "" }]));
    const badRegistry = gridveil(["dso", "--registry", registry], { GRIDVEIL_DSO_KEY: Wallet.createRandom().privateKey });
    expect(await badRegistry.exit).toBe(2);
    expect(badRegistry.stderr()).toMatch(/invalid meter registry in .*bad-registry\.json: \[0\.meterId\]/);
  });
});

describe("gridveil dso (process)", () => {
  let nats: NatsServerHandle;
  let chain: LocalChain;
  let client: NatsClients;

  beforeAll(async () => {
    const storeDir = await mkdtemp(join(tmpdir(), "gridveil-dso-cli-js-"));
    [nats, chain] = await Promise.all([startNatsServer({ storeDir }), startLocalChain()]);
    client = await connectNats({ url: nats.url, name: "dso-cli-test" });
  });

  afterAll(async () => {
    await client?.nc.close();
    await Promise.all([nats?.stop(), chain?.stop()]);
  });

  it("starts, serves the market description, and exits 0 on SIGTERM", async () => {
    const dataDir = join(workDir, "dso");
    const registry = join(workDir, "registry.json");
    await writeFile(registry, JSON.stringify([{ meterId: "house-1", address: Wallet.createRandom().address, name: "House 1" }]));
    const run = gridveil(["dso", "--market", "cli", "--rpc", chain.rpcUrl, "--data-dir", dataDir, "--registry", registry, "--levels", "4"], {
      NATS_URL: nats.url,
      GRIDVEIL_DSO_KEY: chain.accountKeys[0] as string,
    });
    try {
      const line = await until(() => run.stdout().split("\n").find((text) => text.startsWith("{")), 60_000, "the DSO's start line");
      const started = JSON.parse(line) as { contract: string; market: string };
      expect(started.market).toBe("cli");
      const reply = await call(
        client.nc,
        marketSubjects("cli"),
        endpoints.marketInfo,
        { type: "market.info.request" },
      );
      expect(reply.market).toMatchObject({ contractAddress: started.contract, fhipe: { dimension: 5 } });
      run.child.kill("SIGTERM");
      expect(await run.exit).toBe(0);
      expect(existsSync(join(dataDir, "dso.sqlite"))).toBe(true);
      expect(existsSync(spanFilePath(dataDir))).toBe(true);
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGKILL");
    }
  });
});
