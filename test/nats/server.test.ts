// Integration: starts real nats-server processes through actors/nats/server.ts (random loopback ports).
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { existsSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { NatsServerNotFoundError, NatsServerStartError } from "../../actors/nats/errors.ts";
import { resolveNats, startNatsServer } from "../../actors/nats/server.ts";

const savedNatsUrl = process.env.NATS_URL;
afterEach(() => {
  if (savedNatsUrl === undefined) delete process.env.NATS_URL;
  else process.env.NATS_URL = savedNatsUrl;
});

describe("startNatsServer", () => {
  it("starts a JetStream server on a free loopback port and stops it, removing its temporary store", async () => {
    const server = await startNatsServer();
    try {
      expect(server.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
      expect(server.port).not.toBe(4222);
      const nc = await connect({ servers: server.url });
      const jsm = await jetstreamManager(nc);
      const account = await jsm.getAccountInfo();
      expect(account.api.errors).toBe(0);
      await nc.close();
      expect(server.storeDir && existsSync(server.storeDir)).toBe(true);
    } finally {
      await server.stop();
    }
    expect(server.storeDir && existsSync(server.storeDir)).toBe(false);
    await expect(connect({ servers: server.url, reconnect: false, timeout: 500 })).rejects.toThrow();
    await server.stop(); // idempotent
  });

  it("runs two servers side by side on different ports", async () => {
    const [a, b] = await Promise.all([startNatsServer(), startNatsServer({ jetstream: false })]);
    try {
      expect(a.port).not.toBe(b.port);
      expect(b.storeDir).toBeUndefined();
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it("explains how to install nats-server when the binary is missing", async () => {
    const failure = startNatsServer({ binary: "/nonexistent/nats-server" });
    await expect(failure).rejects.toBeInstanceOf(NatsServerNotFoundError);
    await expect(failure).rejects.toThrow(/apt-get install -y nats-server/);
  });

  it("reports a server that exits at start with its output", async () => {
    // `false` exists everywhere and exits at once: the helper must not hang waiting for a port.
    const failure = startNatsServer({ binary: "/bin/false", startTimeoutMs: 3_000 });
    await expect(failure).rejects.toBeInstanceOf(NatsServerStartError);
    await expect(failure).rejects.toMatchObject({ cause: expect.objectContaining({ message: expect.stringMatching(/exited early/) }) });
  });
});

describe("resolveNats", () => {
  it("uses NATS_URL when set and starts nothing", async () => {
    process.env.NATS_URL = "nats://127.0.0.1:1";
    const resolved = await resolveNats();
    expect(resolved).toMatchObject({ url: "nats://127.0.0.1:1", started: false });
    await resolved.stop();
  });

  it("starts a private server when NATS_URL is unset", async () => {
    delete process.env.NATS_URL;
    const resolved = await resolveNats();
    try {
      expect(resolved.started).toBe(true);
      const nc = await connect({ servers: resolved.url });
      await nc.close();
    } finally {
      await resolved.stop();
    }
  });
});
