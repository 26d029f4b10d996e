// Pure generator: an XState v5 machine definition → a Mermaid `stateDiagram-v2`, walked from the StateNode tree.
import type { AnyStateMachine, AnyStateNode } from "xstate";

/**
 * What is drawn, and how:
 * - every state node, nested (`state "x" as id { … }`); parallel regions separated by `--`; the initial child with
 *   `[*] -->`, final states with `--> [*]`; history states as `history`/`history*` nodes;
 * - every transition that has a target, labelled by its trigger: the event type, `after <delay>` (the delay's name,
 *   or `<n>ms` when it is a number), `onDone <actor>` / `onError <actor>` of an invoked actor, `onDone` of a
 *   compound/parallel state, `always` for eventless transitions, followed by ` [guard]` when guarded;
 * - invoked actors as the state's description (`invoke <src>`);
 * - transitions defined on the machine's root ("from any state") as a note on their target.
 * Targetless transitions (actions only, no state change) are not drawn: they do not move the machine.
 */
export type MermaidOptions = {
  /** A comment line naming where the machine comes from, e.g. `machines/gateway.ts`. */
  source?: string;
};

type Edge = { from: string; to: string; label: string };

/** Mermaid-safe id of a state node: its path joined with `_`, prefixed with the machine id. */
function idOf(node: AnyStateNode): string {
  return [node.machine.id, ...node.path].join("_").replace(/[^A-Za-z0-9_]/g, "_");
}

/** Text safe inside a Mermaid label or state name (no statement separators, quotes or entity starts). */
function text(raw: string): string {
  return raw.replace(/[;#"]/g, " ").replace(/:/g, " ").replace(/\s+/g, " ").trim();
}

/** True when `label` has an `and`/`or` outside parentheses (so it needs them inside another composition). */
function hasTopLevelOperator(label: string): boolean {
  let depth = 0;
  for (let index = 0; index < label.length; index++) {
    const char = label[index];
    if (char === "(") depth++;
    else if (char === ")") depth--;
    else if (depth === 0 && (label.startsWith(" and ", index) || label.startsWith(" or ", index))) return true;
  }
  return false;
}

type GuardFunction = ((...args: never[]) => unknown) & { guards?: unknown[]; stateValue?: unknown };

/** A guard as written in the machine: its name, `and`/`or`/`not` compositions spelled out, `inline` for functions. */
export function guardLabel(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === "string") return guard;
  if (typeof guard === "object" && typeof (guard as { type?: unknown }).type === "string") return (guard as { type: string }).type;
  if (typeof guard === "function") {
    const fn = guard as GuardFunction;
    const parts = Array.isArray(fn.guards) ? fn.guards.map((inner) => guardLabel(inner) ?? "inline") : [];
    const grouped = parts.map((part) => (hasTopLevelOperator(part) ? `(${part})` : part));
    switch (fn.name) {
      case "and":
        if (grouped.length > 0) return grouped.join(" and ");
        break;
      case "or":
        if (grouped.length > 0) return grouped.join(" or ");
        break;
      case "not":
        if (grouped.length === 1) return `not ${grouped[0]}`;
        break;
      case "stateIn":
        return `in ${JSON.stringify(fn.stateValue)}`;
    }
    return "inline";
  }
  return "inline";
}

/** The trigger of a transition, as the machine author wrote it. */
function triggerLabel(node: AnyStateNode, eventType: string): string {
  if (eventType.startsWith("xstate.after.")) {
    const delayed = node.after.find((transition) => transition.eventType === eventType);
    const delay: unknown = delayed?.delay;
    return typeof delay === "number" ? `after ${delay}ms` : `after ${String(delay ?? eventType.split(".")[2])}`;
  }
  const doneActor = /^xstate\.done\.actor\.(.+)$/.exec(eventType);
  if (doneActor) return `onDone ${doneActor[1]}`;
  const errorActor = /^xstate\.error\.actor\.(.+)$/.exec(eventType);
  if (errorActor) return `onError ${errorActor[1]}`;
  if (eventType.startsWith("xstate.done.state.")) return "onDone";
  return eventType;
}

function label(trigger: string, guard: unknown): string {
  const guardText = guardLabel(guard);
  return text(guardText === undefined ? trigger : `${trigger} [${guardText}]`);
}

/** The deepest node that contains both (the block in which Mermaid gets the edge). */
function commonAncestor(a: AnyStateNode, b: AnyStateNode): AnyStateNode {
  const ancestorsOfA = new Set<AnyStateNode>();
  for (let node: AnyStateNode | undefined = a; node; node = node.parent) ancestorsOfA.add(node);
  for (let node: AnyStateNode | undefined = b.parent; node; node = node.parent) if (ancestorsOfA.has(node) && node !== a) return node;
  return a.machine.root;
}

type Collected = {
  /** Edges to emit inside the block of a given node (keyed by that node). */
  edges: Map<AnyStateNode, Edge[]>;
  /** "From any state" transitions of the root, as notes on their targets. */
  notes: Map<AnyStateNode, string[]>;
};

function collect(machine: AnyStateMachine): Collected {
  const edges = new Map<AnyStateNode, Edge[]>();
  const notes = new Map<AnyStateNode, string[]>();
  const seen = new Set<string>();
  const add = (source: AnyStateNode, target: AnyStateNode, edgeLabel: string): void => {
    if (source === machine.root) {
      const list = notes.get(target) ?? [];
      if (!list.includes(edgeLabel)) list.push(edgeLabel);
      notes.set(target, list);
      return;
    }
    const edge = { from: idOf(source), to: idOf(target), label: edgeLabel };
    const key = `${edge.from}\u0000${edge.to}\u0000${edge.label}`;
    if (seen.has(key)) return;
    seen.add(key);
    // A self-transition sits beside the state, in its parent's block.
    let block = source === target ? (source.parent ?? machine.root) : commonAncestor(source, target);
    // Inside a parallel block every line belongs to a region: edges go to the nearest enclosing sequential block.
    while (block.type === "parallel" && block.parent) block = block.parent;
    const list = edges.get(block) ?? [];
    list.push(edge);
    edges.set(block, list);
  };
  const visit = (node: AnyStateNode): void => {
    for (const [eventType, transitions] of node.transitions) {
      for (const transition of transitions) {
        for (const target of transition.target ?? []) add(node, target, label(triggerLabel(node, eventType), transition.guard));
      }
    }
    for (const transition of node.always ?? []) {
      for (const target of transition.target ?? []) add(node, target, label("always", transition.guard));
    }
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  return { edges, notes };
}

function children(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states);
}

function render(node: AnyStateNode, collected: Collected, indent: string, lines: string[]): void {
  const kids = children(node);
  const renderChild = (child: AnyStateNode): void => {
    const id = idOf(child);
    const name = child.type === "history" ? (child.history === "deep" ? "history*" : "history") : text(child.key);
    if (children(child).length > 0) {
      lines.push(`${indent}state "${name}" as ${id} {`);
      render(child, collected, `${indent}  `, lines);
      lines.push(`${indent}}`);
    } else {
      lines.push(`${indent}state "${name}" as ${id}`);
    }
    for (const invoked of child.invoke) {
      const src = typeof invoked.src === "string" ? invoked.src : invoked.id;
      lines.push(`${indent}${id} : invoke ${text(src)}`);
    }
    if (child.type === "final") lines.push(`${indent}${id} --> [*]`);
    for (const note of collected.notes.get(child) ?? []) lines.push(`${indent}note left of ${id} : from any state, ${note}`);
  };

  if (node.type === "parallel") {
    kids.forEach((child, index) => {
      if (index > 0) lines.push(`${indent}--`);
      renderChild(child);
    });
  } else {
    for (const target of node.initial?.target ?? []) lines.push(`${indent}[*] --> ${idOf(target)}`);
    for (const child of kids) renderChild(child);
  }
  for (const edge of collected.edges.get(node) ?? []) lines.push(`${indent}${edge.from} --> ${edge.to} : ${edge.label}`);
}

/** The machine as Mermaid `stateDiagram-v2` source (deterministic: definition order, no timestamps). */
export function machineToMermaid(machine: AnyStateMachine, options: MermaidOptions = {}): string {
  const lines = ["stateDiagram-v2"];
  const origin = options.source ? ` from ${options.source}` : "";
  lines.push(`  %% ${machine.id}: generated by \`gridveil diagrams\`${origin}; do not edit by hand`);
  render(machine.root, collect(machine), "  ", lines);
  return `${lines.join("\n")}\n`;
}
