// @ds/comm: process groups and collectives, the in-process (threads) backend, the process
// topology, rendezvous stores and the launcher environment. Imports only @ds/core.
export type {
  BackendFactory, BackendInitOptions, CollectiveCall, CollectiveOp, CollectiveOptions, CollectiveResult, ProcessGroup,
  RankInfo, ReduceOp, Store, Work,
} from './types.js';
export { REDUCE_OPS } from './types.js';
export {
  CommError, CommMismatchError, CommTimeoutError, GroupAbortedError, RankFailedError, StoreTimeoutError,
  serializeError, deserializeError, type CommErrorDetails, type SerializedError,
} from './errors.js';
export {
  BaseProcessGroup, PromiseWork, defaultTimeoutMs, type BackendWork, type BaseGroupInit, type CollectiveRequest, type RunContext,
} from './group.js';
export {
  callKey, checkNumel, checkRank, checkReduceOp, checkSameDtype, checkSplits, checkTag, checkTensor, checkTimeout, formatCall,
  hashString, listRanks, mismatchMessage, rankLabel, rowsOf,
} from './validate.js';
export { registerBackend, getBackend, loadBackend, backendPackage, registeredBackends } from './backend.js';
export {
  CommsLogger, commsLogger, configureCommsLogger, logSummary, busFactor, convertSize, trimMean,
  type CommsLoggerConfig, type CommsRecord, type DeepSpeedCommsLoggerSection, type SummaryRow,
} from './logger.js';
export { readLaunchEnv, type LaunchEnv } from './env.js';
export { rankNodeFlags, SINGLE_THREADED_GC, type RankNodeFlagsOptions } from './node-flags.js';
export {
  initDistributed, isInitialized, getRank, getWorldSize, getLocalRank, getWorldGroup, getStore, destroyProcessGroup, rendezvous,
  type InitOptions,
} from './init.js';
export { MemoryStore } from './store/memory.js';
export { TCPStore, TCPStoreServer, type TCPStoreOptions } from './store/tcp.js';
export { launchInProcess, spawnInProcess, LaunchError, type LaunchOptions, type RankOutcome } from './inproc/launch.js';
export { InprocGroup } from './inproc/group.js';
export { setSmallAllReduceBytes } from './inproc/ops.js';
export {
  ProcessTopology, PipeDataParallelTopology, PipeModelDataParallelTopology, PipelineParallelGrid, primeFactors, type Coord,
} from './topology.js';
export { buildParallelGroups, expertGroupLists, type ParallelGroups, type ParallelShape } from './parallel.js';
export { runCommBench, BENCH_OPS, DEFAULT_BENCH_SIZES, type BenchOp, type CommBenchOptions, type CommBenchRecord } from './bench.js';
export { allocShared, isShared } from './inproc/shared.js';
export {
  allGatherObject, allReduceCoalesced, broadcastObjectList, gather, monitoredBarrier, scatter, type CompositeOptions,
} from './composite.js';
