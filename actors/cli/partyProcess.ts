// What every party process (`gridveil dso`, `gateway`, `meter`) shares: common flags, the private key and JSON
// files they read, telemetry, the inspector, and the graceful stop on SIGTERM/SIGINT.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { CommanderError, type Command } from "commander";
import { parseMachineConfig, type MachineConfig, type MachineConfigInput } from "../../machines/config.ts";
import { ConflictingSettingsError, InvalidSettingError, MissingSettingError, InvalidJsonSettingFileError, UnreadableSettingFileError } from "../../protocol/base/errors.ts";
import { KeyFileUnreadableError } from "./errors.ts";
import { connectInspector, type InspectorConnection } from "../runtime/inspect.ts";
import { createLogger, type Logger } from "../telemetry/logger.ts";
import { startProcessTelemetry, type Telemetry } from "../telemetry/telemetry.ts";
import { privateKey } from "../config/parsers.ts";
import { addSettings, type Settings } from "../config/settings.ts";

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
    if (flags.natsPassword !== undefined) throw new MissingSettingError({ who: "a NATS password", setting: "its user", hint: "--nats-user NAME or NATS_USER" });
    return {};
  }
  return { natsUser: flags.natsUser, natsPassword: flags.natsPassword ?? "" };
}

/** `gridveil <name>`: a party command whose options are its settings table; bad flags exit with 2. */
export function registerPartyCommand<F>(
  program: Command,
  name: PartyActor,
  description: string,
  settings: Settings,
  run: (flags: F) => Promise<void>,
): Command {
  const command = program.command(name).description(description);
  addSettings(command, settings).action(async (flags: F) => run(flags));
  return exitTwoOnUsageError(command);
}

/** Bad flags exit with 2 (usage error), as every `gridveil` actor does; help and version stay 0. */
export function exitTwoOnUsageError(command: Command): Command {
  return command.exitOverride((error) => {
    if (error.exitCode === 0) throw error;
    throw new CommanderError(2, error.code, error.message);
  });
}

/**
 * A JSON file named by `flag`, with `what` it should hold as the hint: a file that cannot be read is an
 * UnreadableSettingFileError, one that is not JSON an InvalidJsonSettingFileError saying where the parser stopped.
 */
export function readJsonFile(flag: string, path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new UnreadableSettingFileError({ setting: flag, path, hint: what, cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new InvalidJsonSettingFileError({ setting: flag, path, detail: cause instanceof Error ? cause.message : String(cause), hint: what, cause });
  }
}

/** The unvalidated `--config FILE` (JSON, `MachineConfigInput`), for a party that lays its own flags on top. */
export function readMachineConfigInput(path: string | undefined): MachineConfigInput {
  if (path === undefined) return {};
  const what = "a JSON object of machines/config.ts fields";
  const input = readJsonFile("--config", path, what);
  // A party lays its own flags over this object before validation, so anything but an object is refused here.
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new UnreadableSettingFileError({ setting: "--config", path, expected: "a JSON object", hint: what });
  }
  return input as MachineConfigInput;
}

/** The machine configuration from `--config FILE`, validated (defaults when there is none). */
export function loadMachineConfig(path: string | undefined): MachineConfig {
  return parseMachineConfig(readMachineConfigInput(path));
}

export type MissingKey = {
  /** How the party names itself: "DSO" → "give the DSO key once…", "the DSO needs <key>". */
  party: string;
  /** What the party needs when neither `--key` nor `--key-file` is given ("its private key"), and how to give one. */
  key: string;
  hint: string;
};

/** The key from `--key` (or its variable), or from `--key-file` (which keeps it out of the process list). */
export function privateKeyOf(flags: KeyFlags, missing: MissingKey): string {
  if (flags.key !== undefined && flags.keyFile !== undefined) throw new ConflictingSettingsError({ settings: ["--key", "--key-file"], what: `the ${missing.party} key` });
  if (flags.key !== undefined) return flags.key;
  if (flags.keyFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.keyFile, "utf8");
    } catch (cause) {
      throw new KeyFileUnreadableError({ path: flags.keyFile, cause });
    }
    try {
      return privateKey("the --key-file content")(text);
    } catch (cause) {
      throw new InvalidSettingError({ setting: "the --key-file content", expected: "a private key (64 hex digits)", value: flags.keyFile, cause });
    }
  }
  throw new MissingSettingError({ who: `the ${missing.party}`, setting: missing.key, hint: missing.hint });
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
  /** Begins the shutdown, once: `stop`, shut telemetry down, exit with `exitCode` (default 0; 1 when `stop` failed). */
  begin(reason: string, exitCode?: number): void;
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
  const begin = (reason: string, exitCode = 0): void => {
    if (exiting) return;
    exiting = true;
    logger.info({ [reasonField]: reason }, "shutting down");
    void (async () => {
      let code = exitCode;
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

/** What every party runtime takes from the common flags and the process. */
export type PartyBasics = {
  marketId: string;
  natsUrl: string;
  natsUser?: string;
  natsPassword?: string;
  rpcUrl: string;
  dataDir: string;
  tracer: Telemetry["tracer"];
  logger: Logger;
  inspect?: InspectorConnection["inspect"];
  /** Aborted when a signal arrives while the party is starting. */
  signal: AbortSignal;
};

export type PartyRun<R extends { stop(): Promise<void> }> = {
  actor: PartyActor;
  flags: PartyFlags;
  /** The folder name under `.gridveil/<market>/` when there is no `--data-dir`. */
  dataDirName: string;
  /** Resource attributes beside the market id (only in the party's own process). */
  telemetryAttributes?: Record<string, string>;
  /** The log field that carries the reason in "shutting down". */
  reasonField?: "signal" | "reason";
  /** Warnings about the flags, logged before anything starts. */
  warnings?: string[];
  start(basics: PartyBasics): Promise<R>;
  /** After the start: the party's first line on stdout, and what it does until it stops. */
  started?(runtime: R, shutdown: PartyShutdown): void;
  /** After the runtime stopped (the last line on stdout). */
  stopped?(runtime: R, reason: string): void;
};

/**
 * Runs a party process: logger, inspector (`--inspect`), telemetry, the runtime, and the graceful stop on SIGTERM or
 * SIGINT (also while starting: the start is aborted and the process exits 0). Resolves never; the shutdown exits.
 */
export async function runParty<R extends { stop(): Promise<void> }>(run: PartyRun<R>): Promise<void> {
  const { flags } = run;
  const natsCredentials = natsCredentialsOf(flags);
  const dataDir = partyDataDir(flags, run.dataDirName);
  const logger = createLogger({ actor: run.actor, market: flags.market });
  for (const warning of run.warnings ?? []) logger.warn({}, warning);
  const inspector = await connectInspectorFlag(flags.inspect);
  const telemetry = startPartyTelemetry(run.actor, flags.market, dataDir, run.telemetryAttributes);
  const aborter = new AbortController();
  let runtime: R | undefined;
  const shutdown = handleShutdown({
    logger,
    telemetry,
    ...(run.reasonField ? { reasonField: run.reasonField } : {}),
    stop: async (reason) => {
      aborter.abort();
      await runtime?.stop();
      inspector?.stop();
      if (runtime) run.stopped?.(runtime, reason);
    },
  });
  try {
    runtime = await run.start({
      ...(inspector ? { inspect: inspector.inspect } : {}),
      marketId: flags.market,
      natsUrl: flags.nats,
      ...natsCredentials,
      rpcUrl: flags.rpc,
      dataDir,
      tracer: telemetry.tracer,
      logger,
      signal: aborter.signal,
    });
  } catch (error) {
    // A signal during start: the shutdown exits 0.
    return shutdown.startFailed(error);
  }
  run.started?.(runtime, shutdown);
  // A signal that arrived while starting: stop what just started.
  if (shutdown.exiting) await runtime.stop();
  // Run until a signal (or the party's own reason): the shutdown exits.
  return untilExit();
}

/** A party runs until its shutdown calls `process.exit`. */
export function untilExit(): Promise<void> {
  return new Promise<void>(() => undefined);
}
