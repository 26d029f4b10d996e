// The DSO's meter registry (PROTOCOL §4 provisioning): validated entries, clear errors naming the source, no key or
// id shared between two meters.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryError } from "../../actors/dso/errors.ts";
import { MeterRegistry, loadRegistryFile, mergeRegistries, parseRegistry } from "../../actors/dso/registry.ts";

const a = Wallet.createRandom().address;
const b = Wallet.createRandom().address;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gridveil-registry-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("meter registry", () => {
  it("loads a file, normalises addresses and looks meters up by id", async () => {
    const path = join(dir, "ok.json");
    await writeFile(path, JSON.stringify([{ meterId: "house-1", address: a.toLowerCase(), name: "House 1" }, { meterId: "flat-2", address: b, name: "Flat 2" }]));
    const registry = new MeterRegistry(loadRegistryFile(path));
    expect(registry.size).toBe(2);
    expect(registry.get("house-1")).toEqual({ meterId: "house-1", address: a, name: "House 1" });
    expect(registry.get("nobody")).toBeUndefined();
  });

  it.each<[string, unknown, RegExp]>([
    ["not an array", { meterId: "x" }, /\(root\)/],
    ["a bad meter id", [{ meterId: "house 1", address: a, name: "H" }], /\[0\.meterId\]: expected a meter id/],
    ["a bad address", [{ meterId: "h1", address: "0x12", name: "H" }], /\[0\.address\]/],
    ["an unknown field", [{ meterId: "h1", address: a, name: "H", key: "0x" }], /key/],
  ])("refuses %s, naming the source", (_what, input, message) => {
    expect(() => parseRegistry(input, "meters.json")).toThrow(RegistryError);
    expect(() => parseRegistry(input, "meters.json")).toThrow(message);
    expect(() => parseRegistry(input, "meters.json")).toThrow(/meters\.json/);
  });

  it("refuses a missing or non-JSON file with the path in the message", async () => {
    expect(() => loadRegistryFile(join(dir, "missing.json"))).toThrow(/cannot read the meter registry .*missing\.json/);
    const bad = join(dir, "bad.json");
    await writeFile(bad, "[{");
    expect(() => loadRegistryFile(bad)).toThrow(/bad\.json is not JSON/);
  });

  it("merges file and options: repeats are fine, one id with two keys or one key for two ids is not", () => {
    const one = { meterId: "h1", address: a as `0x${string}`, name: "H1" };
    expect(mergeRegistries([[one], [one]])).toEqual([one]);
    expect(() => mergeRegistries([[one], [{ ...one, address: b as `0x${string}` }]])).toThrow(/appears with two keys/);
    expect(() => mergeRegistries([[one], [{ ...one, meterId: "h2" }]])).toThrow(/provisioned for two meters/);
  });

  it("keeps a provisioned inbox id (infra/provision.ts), and refuses a bad one, two for one meter or one for two meters", () => {
    const one = { meterId: "h1", address: a as `0x${string}`, name: "H1" };
    const withInbox = { ...one, inboxId: "0fa783e54ce4bf81" };
    expect(parseRegistry([withInbox], "registry.json")).toEqual([withInbox]);
    expect(new MeterRegistry([withInbox]).get("h1")?.inboxId).toBe("0fa783e54ce4bf81");
    // A --meter flag without the inbox id next to the file's entry with it: the named one holds.
    expect(mergeRegistries([[one], [withInbox]])).toEqual([withInbox]);
    expect(() => parseRegistry([{ ...one, inboxId: "Not.A.Token" }], "registry.json")).toThrow(/\[0\.inboxId\]/);
    expect(() => mergeRegistries([[withInbox], [{ ...one, inboxId: "other" }]])).toThrow(/two inbox ids/);
    expect(() => mergeRegistries([[withInbox], [{ meterId: "h2", address: b as `0x${string}`, name: "H2", inboxId: withInbox.inboxId }]])).toThrow(
      /inbox id 0fa783e54ce4bf81 is provisioned for two meters/,
    );
  });
});
