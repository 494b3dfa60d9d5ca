// initialize(): DeepSpeed's entry point. Resolves the config, joins the job, builds the
// optimizer and scheduler, and assembles the strategies the config names (data parallelism
// always; precision, ZeRO, ... from their packages) into an Engine.
import { getWorldGroup, initDistributed, isInitialized, type ProcessGroup } from '@ds/comm';
import { nn, optim, type Tensor } from '@ds/core';
import type { EngineParts, Strategy, StrategyContext } from '@ds/strategy';
import { formatConfig, missingPackageError, requiredPackages, resolveConfig, type ResolvedConfig } from './config/index.js';
import { dataParallel, dataParallelFromConfig, replicatedGradNorm } from './data-parallel/index.js';
import { Engine, broadcastModel, type SchedulerLike } from './engine.js';
import { buildOptimizer } from './optimizers.js';
import type { EngineReporter } from './report.js';
import { createScheduler } from './lr/index.js';
import { settingsFrom, type EngineSettings } from './settings.js';
import { reporterFromConfig } from './reporter.js';

type ParamsInput = Iterable<Tensor> | Iterable<optim.ParamGroupInput>;

export interface InitializeOptions {
  model: nn.Module;
  /** A DeepSpeed JSON config: an object, or a path to a JSON file (comments and trailing commas allowed). */
  config: string | Record<string, unknown>;
  /** A client optimizer, or a function building one from the parameters; overrides the config's "optimizer". */
  optimizer?: optim.Optimizer<object> | ((params: ParamsInput) => optim.Optimizer<object>);
  /** Parameters (or groups) the config's optimizer is built over; default: the model's trainable parameters. */
  modelParameters?: ParamsInput;
  /** A client scheduler, or a function building one from the optimizer; overrides the config's "scheduler". */
  lrScheduler?: SchedulerLike | ((optimizer: optim.Optimizer<object>) => SchedulerLike);
  /** The world group; default: `initDistributed()` (the launcher's environment, or a world of one). */
  dist?: ProcessGroup;
  /** Strategies applied after the ones the config names (your own, or a third party's). */
  strategies?: Strategy[];
  /** Where rank 0's log lines go (default: stdout with a "[ds]" prefix). */
  log?: (line: string) => void;
  /**
   * Model FLOPs of one training sample (forward + backward, e.g. 6 · parameters · tokens for
   * a transformer): the progress line then reports model FLOPs utilisation (MFU).
   */
  flopsPerSample?: number;
}

export interface InitializeResult {
  engine: Engine;
  optimizer: optim.Optimizer<object> | null;
  lrScheduler: SchedulerLike | null;
  config: ResolvedConfig;
}

export async function initialize(opts: InitializeOptions): Promise<InitializeResult> {
  if (!opts.model || !(opts.model instanceof nn.Module)) throw new TypeError('initialize: `model` must be an nn.Module');
  const world = opts.dist ?? (isInitialized() ? getWorldGroup() : await initDistributed());
  const dataParallelGroup = world;
  const { config, warnings } = resolveConfig(opts.config, { worldSize: dataParallelGroup.size });
  const log = logger(opts.log, world.rank === 0);
  for (const w of warnings) log.warn(w);

  const strategies: Strategy[] = [dataParallelFromConfig(config)];
  for (const { section, package: pkg, reason } of requiredPackages(config)) {
    const s = await loadStrategy(section, pkg, config, reason);
    if (s) strategies.push(s);
  }
  strategies.push(...(opts.strategies ?? []));

  let optimizer: optim.Optimizer<object> | null = null;
  const params = opts.modelParameters ?? opts.model.parameters().filter((p) => p.requiresGrad);
  if (opts.optimizer instanceof optim.Optimizer) optimizer = opts.optimizer;
  else if (typeof opts.optimizer === 'function') optimizer = opts.optimizer(params);
  else if (config.optimizer) optimizer = buildOptimizer(config.optimizer, params);

  const engine = await assemble({
    model: opts.model,
    world,
    dataParallel: dataParallelGroup,
    optimizer,
    strategies,
    settings: settingsFrom(config),
    config: config as unknown as Record<string, unknown>,
    log,
    reporter: reporterFromConfig(config, { log: log.info, isRankZero: world.rank === 0, flopsPerSample: opts.flopsPerSample }),
  });

  if (optimizer) {
    if (opts.lrScheduler && typeof opts.lrScheduler === 'function') engine.lrScheduler = opts.lrScheduler(optimizer);
    else if (opts.lrScheduler) engine.lrScheduler = opts.lrScheduler;
    else if (config.scheduler) engine.lrScheduler = createScheduler(config.scheduler.type, optimizer, config.scheduler.params ?? {}, { warn: log.warn });
  }
  if (world.rank === 0) log.info(`DeepSpeed-style engine configuration (world size ${world.size}):\n${formatConfig(config)}`);
  return { engine, optimizer: engine.optimizer, lrScheduler: engine.lrScheduler, config };
}

export interface CreateEngineOptions {
  model: nn.Module;
  optimizer?: optim.Optimizer<object> | null;
  /** Applied in order after data parallelism (which is always first). */
  strategies?: Strategy[];
  dist?: ProcessGroup;
  lrScheduler?: SchedulerLike | null;
  /** Batch layout and loop settings; default: micro batch 1, no accumulation, no clipping. */
  settings?: Partial<EngineSettings>;
  log?: (line: string) => void;
}

/** Compose an engine in code, without a config: your optimizer and the strategies you pick. */
export async function createEngine(opts: CreateEngineOptions): Promise<Engine> {
  const world = opts.dist ?? (isInitialized() ? getWorldGroup() : await initDistributed());
  const micro = opts.settings?.microBatchSize ?? 1;
  const gas = opts.settings?.gradientAccumulationSteps ?? 1;
  const settings: EngineSettings = {
    trainBatchSize: micro * gas * world.size,
    microBatchSize: micro,
    gradientAccumulationSteps: gas,
    gradientClipping: 0,
    stepsPerPrint: null,
    wallClockBreakdown: false,
    ...opts.settings,
  };
  const log = logger(opts.log, world.rank === 0);
  const engine = await assemble({
    model: opts.model,
    world,
    dataParallel: world,
    optimizer: opts.optimizer ?? null,
    strategies: [dataParallel(), ...(opts.strategies ?? [])],
    settings,
    config: {},
    log,
    reporter: reporterFromConfig(
      { steps_per_print: settings.stepsPerPrint, wall_clock_breakdown: settings.wallClockBreakdown, train_batch_size: settings.trainBatchSize },
      { log: log.info, isRankZero: world.rank === 0 },
    ),
  });
  engine.lrScheduler = opts.lrScheduler ?? null;
  return engine;
}

async function assemble(a: {
  model: nn.Module;
  world: ProcessGroup;
  dataParallel: ProcessGroup;
  optimizer: optim.Optimizer<object> | null;
  strategies: Strategy[];
  settings: EngineSettings;
  config: Record<string, unknown>;
  log: { info(line: string): void; warn(line: string): void };
  reporter: EngineReporter;
}): Promise<Engine> {
  // Replicas must start equal before any strategy reshapes or casts the parameters.
  await broadcastModel(a.model, a.dataParallel);
  const unset = (what: string) => () => {
    throw new Error(`engine: no strategy provided ${what}`);
  };
  const parts: EngineParts = {
    model: a.model,
    optimizer: a.optimizer,
    gradSync: { name: 'none', beforeBackward: () => {}, finish: async () => unset('gradient synchronisation')(), close: () => {} },
    updater: { name: 'none', step: async () => unset('an updater')(), zeroGrad: () => {} },
    lossScale: { scale: 1 },
    gradNorm: replicatedGradNorm,
    state: new Map(),
    checkpointOptimizer: true,
  };
  const ctx: StrategyContext = {
    world: a.world,
    dataParallel: a.dataParallel,
    config: a.config,
    gradientAccumulationSteps: a.settings.gradientAccumulationSteps,
    gradientClipping: a.settings.gradientClipping,
    log: a.log.info,
    warn: a.log.warn,
  };
  for (const s of a.strategies) await s.apply(parts, ctx);
  return new Engine({
    module: a.model,
    world: a.world,
    dataParallel: a.dataParallel,
    settings: a.settings,
    parts,
    lrScheduler: null,
    reporter: a.reporter,
  });
}

interface StrategyPackage {
  /** Builds the package's strategy from the resolved config (null: nothing to do for this config). */
  strategyFromConfig?: (config: unknown) => Strategy | null;
}

/** Import the package that owns a config section; a missing one is a clear error, not a crash. */
async function loadStrategy(section: string, pkg: string, config: ResolvedConfig, reason?: string): Promise<Strategy | null> {
  let mod: StrategyPackage;
  try {
    mod = (await import(pkg)) as StrategyPackage;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((e as Error).message).includes(pkg)) {
      throw missingPackageError(section, pkg, reason);
    }
    throw e;
  }
  const build = mod.strategyFromConfig;
  if (!build) throw new Error(`${pkg} does not export strategyFromConfig(config); it cannot serve the config section "${section}"`);
  return build(config);
}

function logger(custom: ((line: string) => void) | undefined, rankZero: boolean) {
  const out = custom ?? ((line: string) => console.log(`[ds] ${line}`));
  return {
    info: (line: string) => {
      if (rankZero) out(line);
    },
    warn: (line: string) => {
      if (rankZero) (custom ?? ((l: string) => console.warn(`[ds] warning: ${l}`)))(custom ? `warning: ${line}` : line);
    },
  };
}
