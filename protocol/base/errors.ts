// One base error for the whole project: a short message, the offending value, and a hint (viem's style).
//
// The convention every error module follows:
// - each domain declares its errors in one module named errors.ts (protocol/errors.ts, actors/db/errors.ts, …);
// - each class takes the facts of the failure as constructor parameters and builds its own short message, value and
//   hint from them, so a throw site says what happened (`new UnknownTradeError({ tradeId })`), never how to word it;
// - a class is declared with `errorClass(Family, (facts) => [message, details])`; a family (ConfigError,
//   DatabaseError, …) is a plain subclass that callers catch, and is never thrown itself;
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
export type ErrorText = [shortMessage: string, details?: ErrorDetails];

export class GridveilError extends Error {
  readonly shortMessage: string;
  readonly value: unknown;
  readonly hint: string | undefined;

  constructor(shortMessage: string, details: ErrorDetails = {}) {
    const lines = [shortMessage];
    if (details.value !== undefined) lines.push(`Value: ${render(details.value)}`);
    if (details.hint) lines.push(`Hint: ${details.hint}`);
    super(lines.join("\n"), details.cause === undefined ? undefined : { cause: details.cause });
    // The class's own name, whichever subclass was constructed (errorClass's classes declare none of their own).
    this.name = new.target.name;
    this.shortMessage = shortMessage;
    this.value = details.value;
    this.hint = details.hint;
  }
}

/** A family of errors: a class whose constructor takes the message and details, as GridveilError's does. */
export type ErrorFamily<E extends GridveilError = GridveilError> = new (shortMessage: string, details?: ErrorDetails) => E;

/**
 * Declares an error class of `family` whose constructor takes the facts `text` needs and builds the message from
 * them: `export class UnknownTradeError extends errorClass(NotFoundError, (p: { tradeId: Hex }) => ["unknown trade",
 * { value: p.tradeId }]) {}`. The declared class keeps its own name, `instanceof` the family, and any fields it adds.
 */
export function errorClass<E extends GridveilError, P extends unknown[]>(
  family: ErrorFamily<E>,
  text: (...facts: P) => ErrorText,
): new (...facts: P) => E {
  const Family = family as unknown as new (...args: ErrorText) => GridveilError;
  return class extends Family {
    constructor(...facts: P) {
      super(...text(...facts));
    }
  } as unknown as new (...facts: P) => E;
}

/**
 * Declares an error class of `family` for a closed set of reasons, each with its text: `new TradeEffectError({ reason:
 * "noTxHash", value: matchKey })` says `texts.noTxHash`, shows `value`, and keeps `reason` for callers that branch on it.
 */
export function reasonErrorClass<R extends string, E extends GridveilError>(
  family: ErrorFamily<E>,
  texts: Readonly<Record<R, string>>,
  hint?: string,
): new (facts: { reason: R; value?: unknown }) => E & { readonly reason: R } {
  const Family = family as unknown as ErrorFamily;
  return class extends Family {
    readonly reason: R;
    constructor(facts: { reason: R; value?: unknown }) {
      super(texts[facts.reason], { value: facts.value, hint });
      this.reason = facts.reason;
    }
  } as unknown as new (facts: { reason: R; value?: unknown }) => E & { readonly reason: R };
}

/** A fault's texts by its kind: each builds the message and details from the fault's own facts. */
type FaultTexts = Record<string, (fault: never) => ErrorText>;
/** The faults a table of texts describes: `{ kind, ...facts }` for each kind, the facts being what its text reads. */
export type FaultOf<T extends FaultTexts> = {
  [K in keyof T & string]: { kind: K } & (T[K] extends (fault: infer F) => ErrorText ? F : object);
}[keyof T & string];

/**
 * Declares an error class of `family` for a few kinds of one failure, each with its own facts and text:
 * `faultErrorClass(DatabaseError, { notText: (f: { column: string; value: unknown }) => [`column ${f.column} is not
 * text`, { value: f.value }], … })` takes `{ kind: "notText", column, value }` and keeps `kind` on the error.
 */
export function faultErrorClass<E extends GridveilError, T extends FaultTexts>(
  family: ErrorFamily<E>,
  texts: T,
): new (fault: FaultOf<T>) => E & { readonly kind: FaultOf<T>["kind"] } {
  const Family = family as unknown as ErrorFamily;
  return class extends Family {
    readonly kind: FaultOf<T>["kind"];
    constructor(fault: FaultOf<T>) {
      const { kind } = fault as { kind: FaultOf<T>["kind"] };
      super(...(texts[kind] as unknown as (fault: FaultOf<T>) => ErrorText)(fault));
      this.kind = kind;
    }
  } as unknown as new (fault: FaultOf<T>) => E & { readonly kind: FaultOf<T>["kind"] };
}

/** Bad command-line flag, environment variable, configuration file or value: the family of the classes below. */
export class ConfigError extends GridveilError {}

/** A setting has a value it may not have: "<setting> must be <expected>". */
export class InvalidSettingError extends errorClass(
  ConfigError,
  (params: { setting: string; expected: string; value?: unknown; hint?: string; cause?: unknown }) => [
    `${params.setting} must be ${params.expected}`,
    { value: params.value, hint: params.hint, cause: params.cause },
  ],
) {}

/** A required setting was not given: "<who> needs <setting>", with where to give it as the hint. */
export class MissingSettingError extends errorClass(ConfigError, (params: { who: string; setting: string; hint: string }) => [
  `${params.who} needs ${params.setting}`,
  { hint: params.hint },
]) {}

/** Two settings that exclude each other were both given. */
export class ConflictingSettingsError extends errorClass(
  ConfigError,
  (params: { settings: readonly [string, string]; what?: string; hint?: string }) => {
    const [a, b] = params.settings;
    return [`${params.what ? `give ${params.what} once: ` : ""}${a} or ${b}, not both`, { hint: params.hint }];
  },
) {}

/** A file a setting names cannot be read, or does not hold what it should. */
export class UnreadableSettingFileError extends errorClass(
  ConfigError,
  (params: { setting: string; path: string; expected?: string; hint?: string; cause?: unknown }) => [
    params.expected ? `the ${params.setting} file must hold ${params.expected}` : `cannot read the ${params.setting} file`,
    {
      value: params.path,
      hint: params.hint,
      cause: params.cause,
    },
  ],
) {}

/** A file a setting names was read, but is not JSON: says where the parser stopped. */
export class InvalidJsonSettingFileError extends ConfigError {
  constructor(params: { setting: string; path: string; detail: string; hint?: string; cause?: unknown }) {
    super(`the ${params.setting} file is not valid JSON (${params.detail})`, { value: params.path, hint: params.hint, cause: params.cause });
  }
}

/** A configuration object failed its schema: every problem, each as "path: message". */
export class InvalidConfigurationError extends errorClass(
  ConfigError,
  (params: { what: string; issues: readonly { path: readonly PropertyKey[]; message: string }[]; schemaIn: string; value?: unknown }) => {
    const problems = params.issues.map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`);
    return [
      `invalid ${params.what}: ${problems.join("; ") || "invalid"}`,
      {
        value: params.value,
        hint: `See ${params.schemaIn} for every field, its unit and its default.`,
      },
    ];
  },
) {}

/** Not an Ethereum address (protocol/base/hex.ts `toAddress`). */
export class InvalidAddressError extends errorClass(GridveilError, (value: unknown) => [
  "not an Ethereum address",
  { value, hint: "0x and 40 hex digits; mixed case must carry a valid EIP-55 checksum" },
]) {}

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
