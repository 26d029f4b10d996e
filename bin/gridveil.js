#!/usr/bin/env node
// The `gridveil` command: loads the TypeScript CLI through tsx (no separate build step).
import { register } from "tsx/esm/api";

register();
await import("../actors/cli/main.ts");
