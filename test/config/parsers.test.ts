// Flag value parsers shared by the `gridveil` commands: what each accepts, and the usage error naming the flag.
import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { address, marketId, NATS_SCHEMES, privateKey, RPC_SCHEMES, url } from "../../actors/config/parsers.ts";

const HEX64 = "59c6995e998f97a78a4a2e48f5a7f2e2b2f6e0f5d3c5a3b1c2d3e4f5a6b7c8d9";

describe("url", () => {
  it("keeps a URL with an allowed scheme as given", () => {
    expect(url("--nats", NATS_SCHEMES)("nats://127.0.0.1:4222")).toBe("nats://127.0.0.1:4222");
    expect(url("--rpc", RPC_SCHEMES)("https://node.example/rpc/")).toBe("https://node.example/rpc/");
  });

  it("refuses what is not a URL, or another scheme, naming the flag", () => {
    expect(() => url("--nats", NATS_SCHEMES)("not a url")).toThrow(InvalidArgumentError);
    expect(() => url("--nats", NATS_SCHEMES)("not a url")).toThrow('--nats must be a URL, got "not a url"');
    expect(() => url("--rpc", RPC_SCHEMES)("nats://x")).toThrow('--rpc must use http: or https: or ws: or wss:, got "nats://x"');
  });
});

describe("marketId", () => {
  it("accepts a subject-safe id and refuses anything else", () => {
    expect(marketId("m1")).toBe("m1");
    expect(() => marketId("BAD!")).toThrow(`--market must be 1–64 characters of a-z, 0-9, '_' or '-', got "BAD!"`);
  });
});

describe("address", () => {
  it("accepts 0x + 40 hex (all lower case, or a valid checksum)", () => {
    expect(address("--contract")("0x5fbdb2315678afecb367f032d93f642f64180aa3")).toBe("0x5fbdb2315678afecb367f032d93f642f64180aa3");
    expect(address("--contract")("0x5FbDB2315678afecb367f032d93F642f64180aa3")).toBe("0x5FbDB2315678afecb367f032d93F642f64180aa3");
  });

  it("refuses a short value or a wrong checksum, naming the flag", () => {
    expect(() => address("--dso-address")("0x1234")).toThrow('--dso-address must be an address (0x + 40 hex), got "0x1234"');
    expect(() => address("--contract")("0x5FBDB2315678afecb367f032d93F642f64180aa3")).toThrow(/--contract must be an address/);
  });
});

describe("privateKey", () => {
  it("adds 0x and drops surrounding white space (a key file ends with a newline)", () => {
    expect(privateKey("--key")(HEX64)).toBe(`0x${HEX64}`);
    expect(privateKey("--key")(`  0x${HEX64}\n`)).toBe(`0x${HEX64}`);
  });

  it("with trim: false refuses white space instead of dropping it", () => {
    expect(privateKey("--key", { trim: false })(HEX64)).toBe(`0x${HEX64}`);
    expect(() => privateKey("--key", { trim: false })(`0x${HEX64}\n`)).toThrow("--key must be a private key (64 hex digits)");
  });

  it("refuses anything but 64 hex digits, naming where the key came from", () => {
    expect(() => privateKey("--key")("0xnothex")).toThrow("--key must be a private key (64 hex digits)");
    expect(() => privateKey("the --key-file content")(HEX64.slice(2))).toThrow("the --key-file content must be a private key (64 hex digits)");
  });
});
