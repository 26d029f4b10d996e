// One base error for the whole project: a short message, the offending value, and a hint (viem's style).

export type ErrorDetails = {
  /** The value that was rejected, rendered for humans. */
  value?: unknown;
  /** What the caller can do about it. */
  hint?: string;
  cause?: unknown;
};

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

/** Bad command-line flag or configuration value. */
export class ConfigError extends GridveilError {
  override name = "ConfigError";
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
