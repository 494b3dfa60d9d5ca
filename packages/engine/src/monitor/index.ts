// Monitors (CSV, TensorBoard event files), wall-clock and throughput timers, the progress
// line, and model-flops utilisation.
export type { Monitor, MonitorEvent } from './types.js';
export { CsvMonitor, csvFileName, type CsvMonitorOptions } from './csv.js';
export { TensorBoardMonitor, type TensorBoardMonitorOptions } from './tensorboard.js';
export { crc32c, maskedCrc32c } from './crc32c.js';
export { createMonitors, type MonitorSections, type OutputMonitorSection, type CreateMonitorsOptions } from './create.js';
export {
  Timer, Timers, MICRO_STEP_TIMERS, GLOBAL_STEP_TIMERS, TIMER_MONITOR_EVENTS, type Clock, type GlobalStepTimer, type TimersOptions,
} from './timers.js';
export { ThroughputTimer, type ThroughputTimerOptions, type MemoryReading } from './throughput.js';
export { formatProgress, type ProgressFields } from './progress.js';
export { pyFloat } from './python-format.js';
export { mfu, transformerFlopsPerToken, cpuPeakFlops, cpuPeakFlopsEstimate, type CpuPeakEstimate, type CpuPeakOptions, type CpuVectorIsa } from './flops.js';
