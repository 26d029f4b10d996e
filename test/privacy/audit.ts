// The privacy audit's search (issue 13's sealed-wire test): whether any of a run's ground truth — openings, permanent
// ids, quantities, bill lines — appears in clear in what an outsider collects (NATS traffic on `>`, calldata, logs,
// spans). A value is searched in every form it could travel in: decimal (as a whole number, not inside another
// number or a hex blob), 0x-hex, a 32-byte ABI word, raw bytes, UTF-8 text and its hex, and Wh quantities also in kWh.

export type Secret = { label: string; value: string | number | bigint | Uint8Array };
export type Haystack = { source: string; data: Uint8Array | string };
export type Finding = { label: string; form: string; source: string; offset: number };

type Needle = { form: string; bytes?: Buffer; pattern?: RegExp };

/** Numbers shorter than this (in decimal digits) are too common to mean anything when found. */
const MIN_DECIMAL_DIGITS = 4;

export function needlesOf(secret: Secret): Needle[] {
  const { value } = secret;
  if (value instanceof Uint8Array) {
    const bytes = Buffer.from(value);
    const hex = bytes.toString("hex");
    return [
      { form: "raw bytes", bytes },
      { form: "hex", pattern: new RegExp(hex, "i") },
      { form: "base64", bytes: Buffer.from(bytes.toString("base64")) },
    ];
  }
  if (typeof value === "string") {
    if (/^0x[0-9a-fA-F]+$/.test(value) && value.length >= 10) return needlesOf({ label: secret.label, value: new Uint8Array(Buffer.from(value.slice(2), "hex")) });
    const utf8 = Buffer.from(value, "utf8");
    return [
      { form: "utf-8", bytes: utf8 },
      { form: "utf-8 as hex", pattern: new RegExp(utf8.toString("hex"), "i") },
    ];
  }
  const number = BigInt(value);
  const decimal = number.toString(10);
  const needles: Needle[] = [];
  if (decimal.length >= MIN_DECIMAL_DIGITS) {
    // A whole number: not part of a longer number, a decimal fraction or a hex blob.
    needles.push({ form: "decimal", pattern: new RegExp(`(?<![0-9a-fA-F.])${decimal}(?![0-9a-fA-F]|\\.[0-9])`) });
    if (number % 10n === 0n && /Wh$/i.test(secret.label)) {
      const kwh = (Number(number) / 1000).toString();
      needles.push({ form: "decimal kWh", pattern: new RegExp(`(?<![0-9.])${kwh.replace(".", "\\.")}(?![0-9])`) });
    }
    const hex = number.toString(16);
    needles.push({ form: "0x-hex", pattern: new RegExp(`0x0*${hex}(?![0-9a-fA-F])`, "i") });
    needles.push({ form: "abi word", bytes: Buffer.from(hex.padStart(64, "0"), "hex") });
    needles.push({ form: "abi word as hex", pattern: new RegExp(hex.padStart(64, "0"), "i") });
  }
  return needles;
}

/** Every place a secret's form occurs in a haystack (binary haystacks are searched as bytes and as latin-1 text). */
export function audit(secrets: readonly Secret[], haystacks: readonly Haystack[]): Finding[] {
  const findings: Finding[] = [];
  for (const haystack of haystacks) {
    const bytes = typeof haystack.data === "string" ? Buffer.from(haystack.data, "utf8") : Buffer.from(haystack.data);
    const text = bytes.toString("latin1");
    for (const secret of secrets) {
      for (const needle of needlesOf(secret)) {
        const offset = needle.bytes !== undefined ? bytes.indexOf(needle.bytes) : text.search(needle.pattern!);
        if (offset !== -1) findings.push({ label: secret.label, form: needle.form, source: haystack.source, offset });
      }
    }
  }
  return findings;
}
