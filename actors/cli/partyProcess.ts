// What every party process (`gridveil dso`, `gateway`, `meter`) shares: common flags, the private key and JSON
// files they read, telemetry, the inspector, and the graceful stop on SIGTERM/SIGINT.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { CommanderError, type Command } from "commander";
import { parseMachineConfig, type MachineConfig, type MachineConfigInput } from "../../machines/config.ts";
import { ConfigError } from "../../protocol/base/errors.ts";
import { connectInspector, type InspectorConnection } from "../runtime/inspect.ts";
import type { Logger } from "../telemetry/logger.ts";
import { startProcessTelemetry, type Telemetry } from "../telemetry/telemetry.ts";
import { privateKey } from "../config/parsers.ts";

/** The flags every party takes (actors/config/common.ts `partySettings`, `--rpc`, `--data-dir`, `--config`, `--inspect`). */
export type PartyFlags = {
  nats: string;
  natsUser?: string;
  natsPassword?: string;
  rpc: string;
  market: string;
  dataDir?: string;
  config?: string;
  inspect?: string | true;
};

/** `--key`, and `--key-file` for the parties that take one. */
export type KeyFlags = { key?: string; keyFile?: string };

/** The runtimes' NATS credentials from the flags; a password without a user is a usage error. */
export function natsCredentialsOf(flags: Pick<PartyFlags, "natsUser" | "natsPassword">): { natsUser?: string; natsPassword?: string } {
  if (flags.natsUser === undefined) {
    if (flags.natsPassword !== undefined) throw new ConfigError("a NATS password needs its user", { hint: "--nats-user NAME or NATS_USER" });
    return {};
  }
  return { natsUser: flags.natsUser, natsPassword: flags.natsPassword ?? "" };
}

/** Bad flags exit with 2 (usage error), as every `gridveil` actor does; help and version stay 0. */
export function exitTwoOnUsageError(command: Command): Command {
  return command.exitOverride((error) => {
    if (error.exitCode === 0) throw error;
    throw new CommanderError(2, error.code, error.message);
  });
}

/** A JSON file named by `flag`; any read or parse failure is a ConfigError with `what` as the hint. */
export function readJsonFile(flag: string, path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as unknown;
  } catch (cause) {
    throw new ConfigError(`cannot read the ${flag} file`, { value: path, hint: what, cause });
  }
}

/** The unvalidated `--config FILE` (JSON, `MachineConfigInput`), for a party that lays its own flags on top. */
export function readMachineConfigInput(path: string | undefined): MachineConfigInput {
  if (path === undefined) return {};
  const what = "a JSON object of machines/config.ts fields";
  const input = readJsonFile("--config", path, what);
  // A party lays its own flags over this object before validation, so anything but an object is refused here.
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new ConfigError("the --config file must hold a JSON object", { value: path, hint: what });
  }
  return input as MachineConfigInput;
}

/** The machine configuration from `--config FILE`, validated (defaults when there is none). */
export function loadMachineConfig(path: string | undefined): MachineConfig {
  return parseMachineConfig(readMachineConfigInput(path));
}

export type MissingKey = {
  /** How the party names its key: "DSO" → "give the DSO key once…". */
  party: string;
  /** The message when neither `--key` nor `--key-file` is given, and how to give one. */
  message: string;
  hint: string;
};

/** The key from `--key` (or its variable), or from `--key-file` (which keeps it out of the process list). */
export function privateKeyOf(flags: KeyFlags, missing: MissingKey): string {
  if (flags.key !== undefined && flags.keyFile !== undefined) throw new ConfigError(`give the ${missing.party} key once: --key or --key-file, not both`);
  if (flags.key !== undefined) return flags.key;
  if (flags.keyFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.keyFile, "utf8");
    } catch (cause) {
      throw new ConfigError("cannot read the --key-file", { value: flags.keyFile, cause });
    }
    try {
      return privateKey("the --key-file content")(text);
    } catch (error) {
      throw new ConfigError(error instanceof Error ? error.message : "bad --key-file", { value: flags.keyFile });
    }
  }
  throw new ConfigError(missing.message, { hint: missing.hint });
}

export type PartyActor = "dso" | "gateway" | "meter";

/** `--data-dir`, else `.gridveil/<market>/<name>` under the working directory. */
export function partyDataDir(flags: Pick<PartyFlags, "dataDir" | "market">, name: string): string {
  return resolve(flags.dataDir ?? `.gridveil/${flags.market}/${name}`);
}

/** `--inspect [url]`: opt-in, and checked before anything starts (an unreachable inspector is a usage error). */
export async function connectInspectorFlag(inspect: string | true | undefined): Promise<InspectorConnection | undefined> {
  return inspect === undefined ? undefined : connectInspector(typeof inspect === "string" ? { url: inspect } : {});
}

/** The process's telemetry: service `gridveil-<actor>`, the market id and `attributes` as resource attributes. */
export function startPartyTelemetry(actor: PartyActor, market: string, dataDir: string, attributes: Record<string, string> = {}): Telemetry {
  return startProcessTelemetry({
    service: `gridveil-${actor}`,
    attributes: { "gridveil.market.id": market, ...attributes },
    dataDir,
    otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT,
  });
}

export type PartyShutdown = {
  /** True once the shutdown has begun (a signal, or the party's own reason). */
  readonly exiting: boolean;
  /** Begins the shutdown, once: `stop`, shut telemetry down, exit 0 (1 when `stop` failed). */
  begin(reason: string): void;
  /** After a failed start: telemetry down, then a signal during start leaves the exit (0) to the shutdown; else rethrows. */
  startFailed(error: unknown): Promise<void>;
};

export type PartyShutdownOptions = {
  logger: Logger;
  telemetry: Telemetry;
  /** Stops the party (its runtime, inspector, …); the reason is the signal name or the party's own. */
  stop(reason: string): Promise<void>;
  /** The log field that carries the reason in "shutting down". */
  reasonField?: "signal" | "reason";
};

/** Installs the SIGTERM/SIGINT handlers: each begins the graceful shutdown. */
export function handleShutdown({ logger, telemetry, stop, reasonField = "signal" }: PartyShutdownOptions): PartyShutdown {
  let exiting = false;
  const begin = (reason: string): void => {
    if (exiting) return;
    exiting = true;
    logger.info({ [reasonField]: reason }, "shutting down");
    void (async () => {
      let code = 0;
      try {
        await stop(reason);
      } catch (error) {
        logger.error({ err: error }, "stop failed");
        code = 1;
      }
      await telemetry.shutdown().catch(() => undefined);
      process.exit(code);
    })();
  };
  process.on("SIGTERM", () => begin("SIGTERM"));
  process.on("SIGINT", () => begin("SIGINT"));
  return {
    get exiting() {
      return exiting;
    },
    begin,
    async startFailed(error) {
      await telemetry.shutdown().catch(() => undefined);
      if (exiting) return untilExit();
      throw error;
    },
  };
}

/** A party runs until its shutdown calls `process.exit`. */
export function untilExit(): Promise<void> {
  return new Promise<void>(() => undefined);
}
