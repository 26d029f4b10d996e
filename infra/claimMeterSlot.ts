// Gives a scaled meter container (`docker compose up --scale meter=N`) its own provisioned identity: the first free
// slot of infra/provision/meters.json, claimed atomically (mkdir) in a volume shared by the meter replicas.
// Prints `export NAME='value'` lines for the entrypoint to eval: meter id, key, inbox, NATS credentials, plan.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { MeterCredentials } from "./provision.ts";

export class NoFreeMeterSlotError extends Error {
  override name = "NoFreeMeterSlotError";
}

/**
 * Claims the first slot not held by another owner. The owner is the container's hostname (its id), which survives a
 * restart of the same container, so a restarted meter gets its own slot back; a new container gets a new slot.
 */
export function claimMeterSlot(slotsDir: string, meters: readonly MeterCredentials[], owner: string): MeterCredentials {
  mkdirSync(slotsDir, { recursive: true });
  for (const meter of meters) {
    const claim = join(slotsDir, `slot-${meter.slot}`);
    try {
      mkdirSync(claim); // atomic: exactly one container creates it
      writeFileSync(join(claim, "owner"), owner);
      return meter;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      let holder = "";
      try {
        holder = readFileSync(join(claim, "owner"), "utf8");
      } catch {
        holder = ""; // being claimed right now by someone else
      }
      if (holder === owner) return meter;
    }
  }
  throw new NoFreeMeterSlotError(
    `all ${meters.length} provisioned meter slots in ${slotsDir} are taken: provision more (npx tsx infra/provision.ts --meters N) ` +
      "or reset the claims (docker compose down -v)",
  );
}

function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The environment of `gridveil meter` for one slot (names as in actors/cli/commands/meter.ts). */
export function meterEnvironment(meter: MeterCredentials, provisionDir: string, dataRoot: string): Record<string, string> {
  return {
    GRIDVEIL_METER_ID: meter.meterId,
    GRIDVEIL_METER_NAME: meter.name,
    GRIDVEIL_METER_KEY: meter.privateKey,
    GRIDVEIL_METER_INBOX: meter.inboxId,
    GRIDVEIL_PLAN: join(provisionDir, meter.plan),
    GRIDVEIL_DATA_DIR: join(dataRoot, meter.meterId),
    NATS_USER: meter.natsUser,
    NATS_PASSWORD: meter.natsPassword,
  };
}

function main(): void {
  const slotsDir = process.env.GRIDVEIL_METER_SLOTS_DIR ?? "/slots";
  const credentials = resolve(process.env.GRIDVEIL_METER_CREDENTIALS ?? join(dirname(fileURLToPath(import.meta.url)), "provision/meters.json"));
  const meters = JSON.parse(readFileSync(credentials, "utf8")) as MeterCredentials[];
  const meter = claimMeterSlot(slotsDir, meters, process.env.HOSTNAME ?? hostname());
  const environment = meterEnvironment(meter, dirname(credentials), process.env.GRIDVEIL_DATA_DIR ?? "/data");
  process.stderr.write(`meter slot ${meter.slot}: ${meter.meterId}\n`);
  for (const [name, value] of Object.entries(environment)) process.stdout.write(`export ${name}=${quote(value)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`claimMeterSlot: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
