import type { U21MockInfo } from "./index.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The fake the u21-mock global setup started. */
    u21Mock: U21MockInfo;
  }
}

export default function setup(context: { provide: (key: "u21Mock", value: U21MockInfo) => void }): Promise<() => Promise<void>>;
