// The DSO's meter registry (PROTOCOL §4: meters are provisioned with the DSO): who may enrol, under which key.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { RegistryError } from "./errors.ts";
import { inboxIdSchema } from "../../protocol/wire/schemas.ts";
import { type Address } from "../../protocol/base/hex.ts";
import { addressSchema } from "../../protocol/base/primitives.ts";
import { meterIdSchema } from "../../protocol/domain.ts";

/**
 * One provisioned meter: its permanent id, the address of its long-term key, a display name, and optionally the inbox
 * id fixed at provisioning (it names the meter's NATS user, whose permissions are static: docs/deploy.md). Without
 * one, the DSO assigns a random inbox id at enrolment.
 */
export const provisionedMeterSchema = z.strictObject({
  meterId: meterIdSchema,
  address: addressSchema,
  name: z.string().min(1).max(128),
  inboxId: inboxIdSchema.optional(),
});
export type ProvisionedMeter = z.output<typeof provisionedMeterSchema>;
export type ProvisionedMeterInput = z.input<typeof provisionedMeterSchema>;

export const registrySchema = z.array(provisionedMeterSchema);

/** Validates registry entries from `source` (a file name or "options"); ids and addresses must be unique. */
export function parseRegistry(input: unknown, source: string): ProvisionedMeter[] {
  const parsed = registrySchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.length ? `[${issue.path.join(".")}]` : "(root)"}: ${issue.message}`);
    throw new RegistryError({ reason: "invalidEntries", source, problems });
  }
  return mergeRegistries([parsed.data], source);
}

/** Reads and validates a registry file (JSON array of provisioned meters). */
export function loadRegistryFile(path: string): ProvisionedMeter[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new RegistryError({ reason: "unreadable", path, cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new RegistryError({ reason: "notJson", path, cause });
  }
  return parseRegistry(json, path);
}

/**
 * Joins registry lists (file and options). The same entry twice is fine; one meter id with two keys, or one key for
 * two meter ids, is refused: a key identifies exactly one meter.
 */
export function mergeRegistries(lists: readonly (readonly ProvisionedMeter[])[], source = "registry"): ProvisionedMeter[] {
  const byId = new Map<string, ProvisionedMeter>();
  const byAddress = new Map<Address, string>();
  const byInbox = new Map<string, string>();
  for (const meter of lists.flat()) {
    const existing = byId.get(meter.meterId);
    if (existing && existing.address !== meter.address) {
      throw new RegistryError({ reason: "meterWithTwoKeys", source, meterId: meter.meterId, addresses: [existing.address, meter.address] });
    }
    const owner = byAddress.get(meter.address);
    if (owner !== undefined && owner !== meter.meterId) {
      throw new RegistryError({ reason: "addressForTwoMeters", source, address: meter.address, meterIds: [owner, meter.meterId] });
    }
    // One entry may name the inbox id and the other not (a file and a --meter flag): the named one holds.
    if (existing?.inboxId !== undefined && meter.inboxId !== undefined && existing.inboxId !== meter.inboxId) {
      throw new RegistryError({ reason: "meterWithTwoInboxes", source, meterId: meter.meterId, inboxIds: [existing.inboxId, meter.inboxId] });
    }
    if (meter.inboxId !== undefined) {
      const inboxOwner = byInbox.get(meter.inboxId);
      if (inboxOwner !== undefined && inboxOwner !== meter.meterId) {
        throw new RegistryError({ reason: "inboxForTwoMeters", source, inboxId: meter.inboxId, meterIds: [inboxOwner, meter.meterId] });
      }
      byInbox.set(meter.inboxId, meter.meterId);
    }
    const inboxId = existing?.inboxId ?? meter.inboxId;
    byId.set(meter.meterId, { ...(existing ?? meter), ...(inboxId === undefined ? {} : { inboxId }) });
    byAddress.set(meter.address, meter.meterId);
  }
  return [...byId.values()];
}

/** Read-only lookup by permanent id. */
export class MeterRegistry {
  readonly #byId: ReadonlyMap<string, ProvisionedMeter>;

  constructor(meters: readonly ProvisionedMeter[]) {
    this.#byId = new Map(mergeRegistries([meters]).map((meter) => [meter.meterId, meter]));
  }

  get(meterId: string): ProvisionedMeter | undefined {
    return this.#byId.get(meterId);
  }

  get size(): number {
    return this.#byId.size;
  }

  list(): ProvisionedMeter[] {
    return [...this.#byId.values()];
  }
}
