// The monitor interface: DeepSpeed's `write_events([(name, value, step), ...])`.

/** `[name, value, step]`: a scalar, e.g. `['Train/Samples/lr', 1e-3, 4096]` (DeepSpeed steps monitors by samples). */
export type MonitorEvent = [name: string, value: number, step: number];

export interface Monitor {
  /** Record scalars; written through to disk before returning. */
  writeEvents(events: readonly MonitorEvent[]): void;
  /** Push anything buffered to the operating system. */
  flush(): void;
  /** Flush and release the files; later writes throw. */
  close(): Promise<void>;
}
