// Opt-in: connects an actor's machine to the Stately inspector (@statelyai/inspect) through a local WebSocket bridge,
// for a developer watching one actor's transitions and events in a browser. Never on by default.
//
// Bridge (relays to the inspector UI in a browser; the UI itself loads from stately.ai):
//   npx tsx actors/runtime/inspect.ts serve [--port 8080]      → open http://localhost:8080
// Actor:  `gridveil <role> --inspect [ws://127.0.0.1:8080]`, or `connectInspector()` + `createActor(…, { inspect })`.
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { createWebSocketInspector } from "@statelyai/inspect";
import type { InspectionEvent, Observer } from "xstate";
import { InvalidSettingError } from "../../protocol/base/errors.ts";
import { InspectorUnreachableError } from "./errors.ts";
import { adapterDefaults } from "../config/common.ts";

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

export type InspectOption = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

export type InspectorConnection = {
  url: string;
  /** Pass as `createActor(machine, { inspect })` (alone or through `combineInspect`). */
  inspect: (event: InspectionEvent) => void;
  stop(): void;
};

export type ConnectInspectorOptions = {
  /** WebSocket URL of the bridge (default ws://127.0.0.1:8080). */
  url?: string;
  timeoutMs?: number;
  /**
   * Inspection events carry the machine's whole context — for the DSO and the meters that includes the FHIPE master
   * key and openings — so only a loopback bridge is accepted unless this is set.
   */
  allowRemote?: boolean;
};

function parseInspectorUrl(raw: string, allowRemote: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidSettingError({ setting: "the inspector URL", expected: "a URL", value: raw, hint: `e.g. ${adapterDefaults.inspectorUrl}` });
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new InvalidSettingError({ setting: "the inspector URL", expected: "ws:// or wss://", value: raw, hint: `e.g. ${adapterDefaults.inspectorUrl}` });
  }
  if (!allowRemote && !LOOPBACK_HOSTS.has(url.hostname)) {
    throw new InvalidSettingError({
      setting: "the inspector",
      expected: "on this machine: inspection events carry the machine's context (secrets)",
      value: raw,
      hint: "tunnel the bridge to localhost, or pass allowRemote if you accept that risk",
    });
  }
  return url;
}

/** Resolves once a WebSocket to `url` opens; rejects on error or after `timeoutMs`. */
function probe(url: string, timeoutMs: number): Promise<void> {
  return new Promise((done, fail) => {
    const socket = new WebSocket(url);
    const timer = setTimeout(() => {
      socket.close();
      fail(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.addEventListener("open", () => {
      clearTimeout(timer);
      socket.close();
      done();
    });
    socket.addEventListener("error", () => {
      clearTimeout(timer);
      fail(new Error("connection refused or failed"));
    });
  });
}

/** Connects to a running inspector bridge, or fails at once with `InspectorUnreachableError` (nothing is queued). */
export async function connectInspector(options: ConnectInspectorOptions = {}): Promise<InspectorConnection> {
  const url = parseInspectorUrl(options.url ?? adapterDefaults.inspectorUrl, options.allowRemote ?? false).toString().replace(/\/$/, "");
  try {
    await probe(url, options.timeoutMs ?? adapterDefaults.inspectorTimeoutMs);
  } catch (cause) {
    throw new InspectorUnreachableError({ url, cause });
  }
  const inspector = createWebSocketInspector({ url });
  return {
    url,
    inspect: (event) => inspector.inspect.next?.(event),
    stop: () => inspector.stop(),
  };
}

/** One `inspect` option out of several (telemetry's transition spans and the inspector, say); undefined ones skipped. */
export function combineInspect(...observers: (InspectOption | undefined)[]): (event: InspectionEvent) => void {
  const present = observers.filter((observer): observer is InspectOption => observer !== undefined);
  return (event) => {
    for (const observer of present) {
      try {
        if (typeof observer === "function") observer(event);
        else observer.next?.(event);
      } catch {
        // An inspector must never stop the actor it watches.
      }
    }
  };
}

async function serve(): Promise<void> {
  const { values } = parseArgs({ args: process.argv.slice(3), options: { port: { type: "string", default: "8080" } } });
  const { createInspectorServer } = await import("@statelyai/inspect/server");
  const port = Number(values.port);
  const server = createInspectorServer({ port, autoOpen: false });
  process.stdout.write(`inspector bridge on ws://127.0.0.1:${port}: open http://localhost:${port} in a browser, then start actors with --inspect\n`);
  const stop = (): void => {
    server.stop();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === "serve") await serve();
  else {
    process.stderr.write("usage: npx tsx actors/runtime/inspect.ts serve [--port 8080]\n");
    process.exit(2);
  }
}
