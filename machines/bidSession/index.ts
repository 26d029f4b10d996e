// What the bid session exposes to its parent meter, its runtime and its tests: events, effects, context and outcomes.
export * from "./context.ts";
export * from "./effects.ts";
export * from "./events.ts";
