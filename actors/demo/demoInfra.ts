// What both demos (the day of version 2, the rounds of version 1) stand on: a NATS server (or `NATS_URL`), a local
// chain (or `--rpc` with funded keys), one telemetry per party writing to the run's span file, and the bills as the
// summary shows them.
import type { Tracer } from "@opentelemetry/api";
import type { DsoDatabase } from "../db/dsoDatabase.ts";
import { startLocalChain } from "../chain/localChain.ts";
import { resolveNats } from "../nats/server.ts";
import { startInProcessTelemetry, type Telemetry } from "../telemetry/telemetry.ts";
import { MissingSettingError } from "../../protocol/base/errors.ts";

export type DemoBill = { meterId: string; name: string; kind: string; period: string; totalMicro: number; trades: number };

export type DemoInfra = {
  natsUrl: string;
  rpcUrl: string;
  /** Funded keys: [DSO, gateway, …]. */
  accountKeys: readonly string[];
  /** A tracer for one party (each its own service name; all write the run's span file or OTLP). */
  tracer(service: "gridveil-dso" | "gridveil-gateway" | "gridveil-meter", attributes: Record<string, string>): Tracer;
  /** Flushes and ends every party's telemetry (the span file is complete afterwards). */
  shutdownTelemetry(): Promise<void>;
  /** Stops what the demo started (chain, NATS server), after the telemetry. */
  close(): Promise<void>;
};

export async function startDemoInfra(options: { dataDir: string; natsUrl?: string | undefined; rpcUrl?: string | undefined; accountKeys?: readonly string[] | undefined }): Promise<DemoInfra> {
  const telemetries: Telemetry[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const t of telemetries.splice(0)) await t.shutdown().catch(() => {});
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  try {
    const nats = await resolveNats({ url: options.natsUrl ?? process.env.NATS_URL });
    cleanups.push(() => nats.stop());
    const chain = options.rpcUrl ? undefined : await startLocalChain();
    if (chain) cleanups.push(() => chain.stop());
    return {
      natsUrl: nats.url,
      rpcUrl: options.rpcUrl ?? chain!.rpcUrl,
      accountKeys: chain?.accountKeys ?? options.accountKeys ?? devKeysForExternalChain(),
      tracer(service, attributes) {
        const t = startInProcessTelemetry({ service, attributes, dataDir: options.dataDir, otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT });
        telemetries.push(t);
        return t.tracer;
      },
      async shutdownTelemetry() {
        for (const t of telemetries.splice(0)) await t.shutdown();
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

function devKeysForExternalChain(): string[] {
  const dso = process.env.GRIDVEIL_DSO_KEY;
  const gateway = process.env.GRIDVEIL_GATEWAY_KEY;
  if (!dso || !gateway) {
    throw new MissingSettingError({
      who: "with --rpc the demo",
      setting: "funded keys for the DSO and the gateway",
      hint: "set GRIDVEIL_DSO_KEY and GRIDVEIL_GATEWAY_KEY (0x-hex private keys of funded accounts)",
    });
  }
  return [dso, gateway];
}

/** Each account's bills, named as the profiles name the prosumers (the DSO's own accounts: kind "dso"). */
export function demoBills(db: DsoDatabase, profiles: readonly { meterId: string; name: string; kind: string }[]): DemoBill[] {
  const kinds = new Map(profiles.map((profile) => [profile.meterId, profile]));
  return db.bills().map((bill) => ({
    meterId: bill.meterId,
    name: kinds.get(bill.meterId)?.name ?? bill.meterId,
    kind: kinds.get(bill.meterId)?.kind ?? "dso",
    period: bill.period,
    totalMicro: bill.totalMicro,
    trades: bill.tradeCount,
  }));
}
