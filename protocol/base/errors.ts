// One base error for the whole project: a short message, the offending value, and a hint (viem's style).
//
// The convention every error module follows:
// - each domain declares its errors in one module named errors.ts (protocol/errors.ts, actors/db/errors.ts, …);
// - each class takes the facts of the failure as constructor parameters and builds its own short message, value and
//   hint from them, so a throw site says what happened (`new UnknownTradeError({ tradeId })`), never how to word it;
// - a class that answers a NATS request carries the wire's error code (`replyCode`).
// test/architecture/errors.test.ts checks the first two on the source.

export type ErrorDetails = {
  /** The value that was rejected, rendered for humans. */
  value?: unknown;
  /** What the caller can do about it. */
  hint?: string;
  cause?: unknown;
};

/** A message and its details, for a class that picks one of a few texts before it calls `super(...text)`. */
export type ErrorText = [shortMessage: string, details: ErrorDetails];

export class GridveilError extends Error {
  override name = "GridveilError";
  readonly shortMessage: string;
  readonly value: unknown;
  readonly hint: string | undefined;

  constructor(shortMessage: string, details: ErrorDetails = {}) {
    const lines = [shortMessage];
    if (details.value !== undefined) lines.push(`Value: ${render(details.value)}`);
    if (details.hint) lines.push(`Hint: ${details.hint}`);
    super(lines.join("\n"), details.cause === undefined ? undefined : { cause: details.cause });
    this.shortMessage = shortMessage;
    this.value = details.value;
    this.hint = details.hint;
  }
}

/** Bad command-line flag, environment variable, configuration file or value: the family of the classes below. */
export class ConfigError extends GridveilError {
  override name = "ConfigError";
}

/** A setting has a value it may not have: "<setting> must be <expected>". */
export class InvalidSettingError extends ConfigError {
  override name = "InvalidSettingError";
  constructor(params: { setting: string; expected: string; value?: unknown; hint?: string; cause?: unknown }) {
    super(`${params.setting} must be ${params.expected}`, { value: params.value, hint: params.hint, cause: params.cause });
  }
}

/** A required setting was not given: "<who> needs <setting>", with where to give it as the hint. */
export class MissingSettingError extends ConfigError {
  override name = "MissingSettingError";
  constructor(params: { who: string; setting: string; hint: string }) {
    super(`${params.who} needs ${params.setting}`, { hint: params.hint });
  }
}

/** Two settings that exclude each other were both given. */
export class ConflictingSettingsError extends ConfigError {
  override name = "ConflictingSettingsError";
  constructor(params: { settings: readonly [string, string]; what?: string; hint?: string }) {
    const [a, b] = params.settings;
    super(`${params.what ? `give ${params.what} once: ` : ""}${a} or ${b}, not both`, { hint: params.hint });
  }
}

/** A file a setting names cannot be read, or does not hold what it should. */
export class UnreadableSettingFileError extends ConfigError {
  override name = "UnreadableSettingFileError";
  constructor(params: { setting: string; path: string; expected?: string; hint?: string; cause?: unknown }) {
    super(params.expected ? `the ${params.setting} file must hold ${params.expected}` : `cannot read the ${params.setting} file`, {
      value: params.path,
      hint: params.hint,
      cause: params.cause,
    });
  }
}

/** A configuration object failed its schema: every problem, each as "path: message". */
export class InvalidConfigurationError extends ConfigError {
  override name = "InvalidConfigurationError";
  constructor(params: { what: string; issues: readonly { path: readonly PropertyKey[]; message: string }[]; schemaIn: string; value?: unknown }) {
    const problems = params.issues.map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`);
    super(`invalid ${params.what}: ${problems.join("; ") || "invalid"}`, {
      value: params.value,
      hint: `See ${params.schemaIn} for every field, its unit and its default.`,
    });
  }
}

/** Not an Ethereum address (protocol/base/hex.ts `toAddress`). */
export class InvalidAddressError extends GridveilError {
  override name = "InvalidAddressError";
  constructor(value: unknown) {
    super("not an Ethereum address", { value, hint: "0x and 40 hex digits; mixed case must carry a valid EIP-55 checksum" });
  }
}

function render(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  try {
    const text = JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    return String(value);
  }
}
