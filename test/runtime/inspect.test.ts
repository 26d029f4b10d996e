// The opt-in Stately inspector: an actor's inspection events reach a real local bridge (@statelyai/inspect/server);
// an unreachable or remote inspector fails at once with a clear message.
import { setTimeout as sleep } from "node:timers/promises";
import { createInspectorServer } from "@statelyai/inspect/server";
import { createActor, createMachine, type InspectionEvent } from "xstate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../protocol/base/errors.ts";
import { InspectorUnreachableError } from "../../actors/runtime/errors.ts";
import { combineInspect, connectInspector } from "../../actors/runtime/inspect.ts";
import { freePort } from "../../actors/runtime/freePort.ts";

const light = createMachine({ id: "light", initial: "green", states: { green: { on: { NEXT: "yellow" } }, yellow: {} } });

describe("connectInspector", () => {
  let port: number;
  let bridge: { stop(): void };

  beforeAll(async () => {
    port = await freePort();
    bridge = createInspectorServer({ port, autoOpen: false });
    await sleep(200);
  });
  afterAll(() => bridge?.stop());

  it("streams an actor's inspection events to the bridge, where a browser UI would read them", async () => {
    const received: string[] = [];
    const ui = new WebSocket(`ws://127.0.0.1:${port}`);
    ui.addEventListener("message", (message) => void received.push(String(message.data)));
    await new Promise((done) => ui.addEventListener("open", done));

    const connection = await connectInspector({ url: `ws://127.0.0.1:${port}` });
    const seen: InspectionEvent[] = [];
    const actor = createActor(light, { inspect: combineInspect(connection.inspect, (event) => void seen.push(event), undefined) }).start();
    actor.send({ type: "NEXT" });
    for (let i = 0; i < 50 && !received.some((text) => text.includes("yellow")); i++) await sleep(50);
    actor.stop();
    connection.stop();
    ui.close();
    expect(received.some((text) => text.includes('"NEXT"'))).toBe(true);
    expect(received.some((text) => text.includes("yellow"))).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
  });

  it("fails at once, naming the bridge, when nothing listens", async () => {
    const closed = await freePort();
    const error = await connectInspector({ url: `ws://127.0.0.1:${closed}`, timeoutMs: 1_000 }).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(InspectorUnreachableError);
    expect((error as Error).message).toMatch(/not reachable at ws:\/\/127\.0\.0\.1:\d+[\s\S]*inspect\.ts serve/);
  });

  it("refuses a remote inspector (inspection events carry the context, secrets included) unless allowed", async () => {
    await expect(connectInspector({ url: "ws://inspector.example:8080" })).rejects.toBeInstanceOf(ConfigError);
    await expect(connectInspector({ url: "http://127.0.0.1:8080" })).rejects.toBeInstanceOf(ConfigError);
  });

  it("keeps the actor running when one observer throws", () => {
    const calls: string[] = [];
    const inspect = combineInspect(() => {
      throw new Error("broken inspector");
    }, { next: (event) => void calls.push(event.type) });
    createActor(light, { inspect }).start().stop();
    expect(calls.length).toBeGreaterThan(0);
  });
});
