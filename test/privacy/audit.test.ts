// The privacy audit's search on made-up haystacks: it finds a secret in each form it can travel in, and does not
// mistake a number inside a hex blob or a longer number for it.
import { randomBytes } from "node:crypto";
import { AbiCoder } from "ethers";
import { describe, expect, it } from "vitest";
import { audit } from "./audit.ts";

describe("privacy audit", () => {
  it("finds a quantity as decimal, kWh, hex and an ABI word, and an id as text or hex", () => {
    const secrets = [
      { label: "quantityWh", value: 1500 },
      { label: "meterId", value: "meter-007" },
    ];
    const forms = (data: string | Uint8Array) => audit(secrets, [{ source: "s", data }]).map((finding) => `${finding.label}:${finding.form}`);
    expect(forms(`{"energyWh":1500}`)).toContain("quantityWh:decimal");
    expect(forms(`{"memo":"1.5 kWh at 12 ct"}`)).toContain("quantityWh:decimal kWh");
    expect(forms(`{"q":"0x5dc"}`)).toContain("quantityWh:0x-hex");
    expect(forms(AbiCoder.defaultAbiCoder().encode(["uint64"], [1500]))).toContain("quantityWh:abi word as hex");
    expect(forms(Buffer.from(AbiCoder.defaultAbiCoder().encode(["uint64"], [1500]).slice(2), "hex"))).toContain("quantityWh:abi word");
    expect(forms(`{"account":"meter:meter-007"}`)).toContain("meterId:utf-8");
    expect(forms(`0x${Buffer.from("meter-007").toString("hex")}`)).toContain("meterId:utf-8 as hex");
  });

  it("finds salts and seeds as raw bytes, hex and base64", () => {
    const salt = randomBytes(32);
    const secrets = [{ label: "salt", value: new Uint8Array(salt) }];
    expect(audit(secrets, [{ source: "raw", data: Buffer.concat([randomBytes(7), salt]) }])).toHaveLength(1);
    expect(audit(secrets, [{ source: "json", data: `{"salt":"0x${salt.toString("hex").toUpperCase()}"}` }])[0]?.form).toBe("hex");
    expect(audit(secrets, [{ source: "b64", data: salt.toString("base64") }])[0]?.form).toBe("base64");
    // A 0x-hex string secret is searched as its bytes.
    expect(audit([{ label: "salt", value: `0x${salt.toString("hex")}` }], [{ source: "raw", data: salt }])).toHaveLength(1);
  });

  it("does not mistake part of a longer number, a fraction or a hex blob for the value", () => {
    const secrets = [{ label: "quantityWh", value: 1500 }];
    for (const data of [`{"x":21500}`, `{"x":15001}`, `{"x":"ab1500cd"}`, `{"x":0.1500}`, `{"x":1500.5}`]) {
      expect(audit(secrets, [{ source: "s", data }]), data).toEqual([]);
    }
    // Too short to mean anything: not searched.
    expect(audit([{ label: "level", value: 42 }], [{ source: "s", data: `{"a":42}` }])).toEqual([]);
  });
});
