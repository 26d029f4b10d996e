// connectNats against a real nats-server that is not there yet: a party started while NATS restarts waits for it
// (within its limit) instead of dying; a server that never comes is a clear NatsUnavailableError in bounded time.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { connectNats } from "../../actors/nats/connect.ts";
import { NatsUnavailableError } from "../../actors/nats/errors.ts";
import { findNatsServerBinary } from "../../actors/nats/server.ts";
import { freePort } from "../../actors/runtime/freePort.ts";

const children: ReturnType<typeof spawn>[] = [];
const stores: string[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  for (const store of stores.splice(0)) rmSync(store, { recursive: true, force: true });
});

describe("connectNats", () => {
  it("waits for a server that starts after it began to connect", async () => {
    const port = await freePort();
    const started = Date.now();
    const connecting = connectNats({ url: `nats://127.0.0.1:${port}`, name: "connect-test", timeoutMs: 500, firstConnectWithinMs: 15_000 });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const store = mkdtempSync(join(tmpdir(), "gridveil-connect-"));
    stores.push(store);
    children.push(spawn(findNatsServerBinary(), ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", store], { stdio: "ignore" }));
    const clients = await connecting;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    expect(clients.nc.isClosed()).toBe(false);
    await clients.nc.close();
  });

  it("gives up after its limit with NatsUnavailableError when no server comes", async () => {
    const port = await freePort();
    const started = Date.now();
    await expect(connectNats({ url: `nats://127.0.0.1:${port}`, name: "connect-test", timeoutMs: 300, firstConnectWithinMs: 1_000 })).rejects.toThrow(NatsUnavailableError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
