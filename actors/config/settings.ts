// A setting: one tunable of a party, named once with its flag, its environment variable, its description and its
// default (taken from the config module's defaults object, which the runtime uses too). The CLI's options and
// `--help` are derived from these tables.
import { Option, type Command } from "commander";

export type Setting<T> = {
  /** The flag and its value placeholder (`--ack-wait <ms>`), or a bare flag for a switch (`--never-open`). */
  flag: string;
  description: string;
  /** The environment variable read when the flag is absent. */
  env?: string;
  /** The value when neither flag nor variable is given; `--help` shows it. */
  default?: T;
  /**
   * What `--help` shows as the default when it is not a value the flag takes: a computed default ("the block gas
   * limit") or one a lower layer supplies (a `--config` file, then machines/config.ts).
   */
  defaultText?: string;
  /** Reads the flag's (or the variable's) text; throws commander's InvalidArgumentError naming the flag. */
  parse?: (raw: string, previous: T) => T;
};

/** A setting, typed by its value (an identity: it only lets TypeScript check the parts against each other). */
export function setting<T>(definition: Setting<T>): Setting<T> {
  return definition;
}

/** Any setting, whatever its value type (what the tables hold). */
export type AnySetting = Omit<Setting<unknown>, "parse"> & { parse?: (raw: string, previous: never) => unknown };
export type Settings = Record<string, AnySetting>;

/** The commander option of a setting: flag, description, variable, parser and default (shown by `--help`). */
export function optionOf(definition: AnySetting): Option {
  // A default the flag does not take (computed, or from a lower layer) is said in the description: commander shows
  // only defaults that are values.
  const shownDefault = definition.default === undefined && definition.defaultText !== undefined ? ` (default: ${definition.defaultText})` : "";
  const option = new Option(definition.flag, `${definition.description}${shownDefault}`);
  if (definition.env !== undefined) option.env(definition.env);
  if (definition.parse !== undefined) option.argParser(definition.parse as (raw: string, previous: unknown) => unknown);
  if (definition.default !== undefined) option.default(definition.default, definition.defaultText);
  return option;
}

/** Adds every setting of the tables to the command, in order. */
export function addSettings(command: Command, ...tables: Settings[]): Command {
  for (const table of tables) for (const definition of Object.values(table)) command.addOption(optionOf(definition));
  return command;
}

/** Every environment variable the tables read (for deployment checks and docs). */
export function environmentOf(...tables: Settings[]): string[] {
  return tables.flatMap((table) => Object.values(table).flatMap((definition) => (definition.env === undefined ? [] : [definition.env])));
}
