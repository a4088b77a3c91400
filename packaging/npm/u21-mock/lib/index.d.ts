// Types for u21-mock's Node API.

export type Timing = "instant" | "fast" | "realistic" | "manual";
export type Status = "PENDING_UPLOAD" | "ADDED" | "QUEUED" | "PROCESSING" | "FINISHED" | "FAILED" | "DELETED";
export type FailureCode = "unparseable_file" | "invalid_schema" | "stream_not_configured" | "unknown";

export interface S3 {
  bucket: string;
  /** The form-POST URL, `<public url>/<bucket>/`. */
  url: string;
  accessKeyId: string;
  /** A fake's secret, for an S3 SDK that signs its own forms; never a real one. */
  secretAccessKey: string;
}

export interface Key {
  key: string;
  org: string;
}

/** What a test in another process needs (Vitest's `provide`, Jest's environment). */
export interface U21MockInfo {
  url: string;
  publicUrl: string;
  apiKey: string;
  keys: Key[];
  s3: S3 | null;
  pid: number | null;
  version: string | null;
  controlToken: string | null;
}

export interface StartOptions {
  /** Default `manual`: files move only when the test says so. */
  timing?: Timing;
  rateLimit?: number;
  /** A TOML configuration file. */
  config?: string;
  /** The same, as text. */
  configToml?: string;
  dataDir?: string;
  /** Keys, or `[key, org]` pairs; replace the default key. */
  apiKeys?: Array<string | [string, string]>;
  publicUrl?: string;
  controlToken?: string;
  extraArgs?: string[];
  /** Default: U21_MOCK_BINARY, else the platform package's binary. */
  binary?: string;
  startupTimeoutMs?: number;
}

export interface AttachOptions {
  /** Default: U21_MOCK_URL. */
  url?: string;
  /** Default: U21_MOCK_API_KEY, else the default key. */
  apiKey?: string;
  controlToken?: string;
  s3?: S3 | null;
  keys?: Key[];
}

/** A file as the control plane shows it: Unit21's fields plus the fake's own. */
export interface ControlFile {
  file_id: string;
  file_name: string;
  file_type: string;
  status: Status;
  failure_code: FailureCode | null;
  successful_count: number;
  failure_count: number;
  org: string;
  stream_name: string;
  key: string;
  [field: string]: unknown;
}

export interface ClockReading {
  now_ms: number;
  now: string;
  frozen: boolean;
  timing: Timing;
}

export interface JournalQuery {
  method?: string;
  path?: string;
  status?: number;
  after?: number;
  limit?: number;
}

export class U21MockError extends Error {
  status: number | null;
  errorCode: string | null;
  /** The fake's own message, when it gave one. */
  fakeMessage: string | null;
  body: string;
}

export class Control {
  constructor(url: string, options?: { token?: string | null; timeoutMs?: number });
  readonly url: string;
  call(method: string, route: string, body?: unknown, query?: Record<string, unknown>): Promise<any>;
  health(): Promise<{ status: string }>;
  reset(options?: { settings?: boolean }): Promise<void>;
  seed(seed: number): Promise<ClockReading>;
  clock(): Promise<ClockReading>;
  advance(seconds?: number, ms?: number): Promise<ClockReading>;
  setClock(epochMs: number): Promise<ClockReading>;
  setTiming(timing: Timing): Promise<ClockReading>;
  addFile(streamName: string, fileName: string, content?: string | Uint8Array, options?: { org?: string; process?: boolean }): Promise<ControlFile>;
  file(fileId: string | number): Promise<ControlFile>;
  transition(fileId: string | number, status: "PROCESSING" | "FINISHED" | "FAILED" | "DELETED", options?: { failureCode?: FailureCode; successfulCount?: number; failureCount?: number }): Promise<ControlFile>;
  process(fileId: string | number): Promise<ControlFile>;
  processQueued(): Promise<number>;
  streams(): Promise<unknown[]>;
  setStreams(streams: unknown[]): Promise<unknown[]>;
  faults(): Promise<unknown[]>;
  addFault(path: string, action: string | { kind: string; [field: string]: unknown }, options?: { method?: string; times?: number; probability?: number; seed?: number }): Promise<number>;
  removeFault(id: number): Promise<void>;
  clearFaults(): Promise<void>;
  requests(query?: JournalQuery): Promise<any[]>;
  clearRequests(): Promise<void>;
  exportState(): Promise<any>;
  importState(state: unknown): Promise<void>;
  waitForStatus(fileId: string | number, status?: Status | Status[], options?: { stepSeconds?: number; maxSeconds?: number }): Promise<ControlFile>;
}

export class U21Mock {
  readonly url: string;
  readonly publicUrl: string;
  readonly apiKey: string;
  readonly keys: Key[];
  readonly s3: S3 | null;
  readonly pid: number | null;
  readonly version: string | null;
  readonly control: Control;
  /** The JSON ready line the binary printed. */
  readonly ready: Record<string, unknown>;
  readonly headers: { "u21-key": string };
  readonly running: boolean;
  log(): string;
  toJSON(): U21MockInfo;
  stop(): Promise<number | string | null>;
}

export function startU21Mock(options?: StartOptions): Promise<U21Mock>;
export function attachU21Mock(options?: AttachOptions | U21MockInfo): Promise<U21Mock>;
export function findBinary(): string;
export const DEFAULT_API_KEY: string;
export const STATUSES: Status[];
export const FINAL_STATUSES: Status[];
export const version: string;
