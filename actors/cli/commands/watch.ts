// `gridveil watch`: the current state of every actor of a market, live in the terminal, from their state snapshots.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Option, type Command } from "commander";
import { tryDecode } from "../../nats/codec.ts";
import { NatsUnavailableError } from "../../nats/errors.ts";
import { stateSnapshotSchema, type StateSnapshot } from "../../../protocol/wire/schemas.ts";
import { SUBJECT_ROOT, marketToken } from "../../../protocol/wire/subjects.ts";
import { adapterDefaults } from "../../config/common.ts";
import { watchDefaults } from "../../config/tools.ts";
import { renderTable } from "../table.ts";
import { positiveInt } from "../../config/parsers.ts";

/** An actor is stale when nothing came from it for this many of the heartbeats it announces. */
export const STALE_AFTER_HEARTBEATS = 3;
const REDRAW_MS = 1_000;

/** The subjects carrying every actor's state in one market: DSO and gateway, and every meter. */
export function stateSubjectsOf(market: string): string[] {
  const base = `${SUBJECT_ROOT}.${marketToken(market)}`;
  return [`${base}.*.state`, `${base}.meter.*.state`];
}

export type ActorView = {
  snapshot: StateSnapshot;
  /** Local receive time: staleness never depends on the publisher's clock. */
  receivedAt: number;
};

export type ActorStatus = "live" | "stale" | "stopped";

const PARTY_ORDER = { dso: 0, gateway: 1, meter: 2 } as const;

/** The latest snapshot of every actor heard from, and how to show them. */
export class LiveView {
  readonly #actors = new Map<string, ActorView>();
  readonly #staleAfterMs: number | undefined;

  /** `staleAfterMs` overrides the per-actor threshold (3 × the heartbeat each actor announces). */
  constructor(options: { staleAfterMs?: number | undefined } = {}) {
    this.#staleAfterMs = options.staleAfterMs;
  }

  update(snapshot: StateSnapshot, receivedAt: number): void {
    const key = `${snapshot.party}/${snapshot.actorId}`;
    const known = this.#actors.get(key);
    // A redelivered older snapshot (reconnect) must not put an old state back.
    if (known && known.snapshot.at > snapshot.at) return;
    this.#actors.set(key, { snapshot, receivedAt });
  }

  get size(): number {
    return this.#actors.size;
  }

  actors(): ActorView[] {
    return [...this.#actors.values()].sort(
      (a, b) => PARTY_ORDER[a.snapshot.party] - PARTY_ORDER[b.snapshot.party] || a.snapshot.actorId.localeCompare(b.snapshot.actorId),
    );
  }

  staleAfterMs(view: ActorView): number {
    if (this.#staleAfterMs !== undefined) return this.#staleAfterMs;
    const heartbeat = view.snapshot.summary.heartbeatMs;
    const interval = typeof heartbeat === "number" && heartbeat > 0 ? heartbeat : adapterDefaults.snapshotIntervalMs;
    return STALE_AFTER_HEARTBEATS * interval;
  }

  statusOf(view: ActorView, now: number): ActorStatus {
    const status = view.snapshot.summary.status;
    if (status === "done" || status === "stopped" || status === "error") return "stopped";
    return now - view.receivedAt > this.staleAfterMs(view) ? "stale" : "live";
  }

  render(now: number): string {
    const rows = this.actors();
    if (rows.length === 0) return "no actor has published its state yet";
    const table = renderTable(rows, [
      { header: "PARTY", value: (row) => row.snapshot.party, align: "left" },
      { header: "ACTOR", value: (row) => row.snapshot.actorId, align: "left" },
      { header: "STATE", value: (row) => renderStateValue(row.snapshot.state), align: "left" },
      { header: "TAGS", value: (row) => tagsOf(row.snapshot).join(",") || "-", align: "left" },
      { header: "COUNTS", value: (row) => countsOf(row.snapshot) || "-", align: "left" },
      { header: "SEEN", value: (row) => `${((now - row.receivedAt) / 1000).toFixed(1)}s ago`, align: "right" },
      { header: "STATUS", value: (row) => this.statusOf(row, now).toUpperCase(), align: "left" },
    ]);
    return table
      .split("\n")
      .map((line) => line.trimEnd())
      .join("\n");
  }
}

/** `"idle"`; `running.{intake.idle, chain.{follower.following, publisher.idle}}` for parallel states. */
export function renderStateValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value !== "object" || value === null) return "?";
  const parts = Object.entries(value).map(([key, child]) => {
    const rest = renderStateValue(child);
    return rest === "" ? key : `${key}.${rest}`;
  });
  if (parts.length === 0) return "";
  return parts.length === 1 ? (parts[0] as string) : `{${parts.join(", ")}}`;
}

function tagsOf(snapshot: StateSnapshot): string[] {
  const tags = snapshot.summary.tags;
  return Array.isArray(tags) ? tags.filter((tag): tag is string => typeof tag === "string") : [];
}

const NOT_COUNTS = new Set(["status", "tags", "heartbeatMs"]);

function countsOf(snapshot: StateSnapshot): string {
  return Object.entries(snapshot.summary)
    .filter(([key, value]) => !NOT_COUNTS.has(key) && typeof value === "number")
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(" ");
}

export type WatchOptions = {
  nats: string;
  market: string;
  user?: string | undefined;
  password?: string | undefined;
  /** Print one table after `waitMs` and return (instead of redrawing until interrupted). */
  once?: boolean | undefined;
  waitMs?: number | undefined;
  staleAfterMs?: number | undefined;
  /** Where the table goes (default stdout). */
  write?: (text: string) => void;
  now?: () => number;
  signal?: AbortSignal;
  /** Called once the subscriptions are on the server (snapshots published from now on are seen). */
  onListening?: (subjects: string[]) => void;
};

async function connectWatcher(options: WatchOptions): Promise<NatsConnection> {
  try {
    return await connect({
      servers: options.nats,
      name: `gridveil-watch-${options.market}`,
      ...(options.user ? { user: options.user, pass: options.password } : {}),
    });
  } catch (cause) {
    throw new NatsUnavailableError({ url: options.nats, credentials: "--user/--password (NATS_USER/NATS_PASSWORD)", cause });
  }
}

/** Subscribes to the market's state subjects; `once` resolves with the table, else redraws until `signal` aborts. */
export async function watchMarket(options: WatchOptions): Promise<string> {
  const now = options.now ?? Date.now;
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  const view = new LiveView({ staleAfterMs: options.staleAfterMs });
  const nc = await connectWatcher(options);
  let ignored = 0;
  for (const subject of stateSubjectsOf(options.market)) {
    nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error) return;
        const decoded = tryDecode(stateSnapshotSchema, msg);
        if (decoded.ok) view.update(decoded.value, now());
        else ignored++;
      },
    });
  }
  await nc.flush();
  options.onListening?.(stateSubjectsOf(options.market));
  try {
    if (options.once) {
      await new Promise((resolve) => setTimeout(resolve, options.waitMs ?? watchDefaults.onceWaitMs));
      const table = `${view.render(now())}\n`;
      write(table);
      return table;
    }
    const redraw = (): void => {
      const footer = `market ${options.market} · ${view.size} actor(s) · ${ignored} malformed snapshot(s) ignored · Ctrl-C to quit`;
      const text = `${view.render(now())}\n\n${footer}\n`;
      write(process.stdout.isTTY ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
    };
    redraw();
    const timer = setInterval(redraw, REDRAW_MS);
    await new Promise<void>((resolve) => {
      if (options.signal?.aborted) resolve();
      options.signal?.addEventListener("abort", () => resolve(), { once: true });
    });
    clearInterval(timer);
    return view.render(now());
  } finally {
    await nc.close().catch(() => undefined);
  }
}

export function registerWatchCommand(program: Command): void {
  program
    .command("watch")
    .description("show the current state of every actor of a market, live (from their state snapshots)")
    .addOption(new Option("--nats <url>", "NATS server").env("NATS_URL").default(watchDefaults.natsUrl))
    .addOption(new Option("--market <id>", "market id").env("GRIDVEIL_MARKET").default(watchDefaults.market))
    .addOption(new Option("--user <name>", "NATS user (the compose market's observer is `watch`)").env("NATS_USER"))
    .addOption(new Option("--password <secret>", "NATS password").env("NATS_PASSWORD"))
    .option("--once", "print one table of what arrives within --wait, then exit")
    .addOption(new Option("--wait <ms>", "with --once: how long to listen").argParser(positiveInt("--wait", 1, 600_000)))
    .addOption(new Option("--stale-after <ms>", "mark actors silent this long as STALE (default: 3 heartbeats)").argParser(positiveInt("--stale-after", 1)))
    .action(async (flags: { nats: string; market: string; user?: string; password?: string; once?: boolean; wait?: number; staleAfter?: number }) => {
      const aborter = new AbortController();
      const stop = (): void => aborter.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      await watchMarket({
        nats: flags.nats,
        market: marketToken(flags.market),
        user: flags.user,
        password: flags.password,
        once: flags.once,
        waitMs: flags.wait,
        staleAfterMs: flags.staleAfter,
        signal: aborter.signal,
        // On stderr, so that `--once` output stays one clean table.
        onListening: (subjects) => {
          if (flags.once) process.stderr.write(`watching ${subjects.join(" and ")} for ${flags.wait ?? watchDefaults.onceWaitMs} ms\n`);
        },
      });
      process.removeListener("SIGINT", stop);
      process.removeListener("SIGTERM", stop);
    });
}
