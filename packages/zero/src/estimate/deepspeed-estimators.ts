// DeepSpeed's model-state memory estimators (deepspeed/runtime/zero/stage_1_and_2.py and
// stage3.py: estimate_zero{2,3}_model_states_mem_needs and their *_all_cold tables), with the
// same arithmetic in the same order, so every result matches DeepSpeed's byte for byte.
// P = total parameters, L = largest layer's own parameters, g = GPUs per node, n = nodes,
// N = g * n, f = additional_buffer_factor.

export interface HardwareOptions {
  /** GPUs (ranks) per node; default 1. */
  numGpusPerNode?: number;
  /** Nodes; default 1. */
  numNodes?: number;
  /** Safety factor on CPU memory; default 1.5. */
  additionalBufferFactor?: number;
}

export interface Zero2EstimateOptions extends HardwareOptions {
  /** offload_optimizer to the CPU; default true (DeepSpeed's default). */
  cpuOffload?: boolean;
}

export interface Zero3EstimateOptions extends HardwareOptions {
  /** offload_optimizer to the CPU; default true. */
  cpuOffload?: boolean;
  /** offload_param to the CPU (needs cpuOffload); default true. */
  cpuOffloadParams?: boolean;
  /** Parameters created partitioned (zero.Init) instead of whole on every rank first; default true. */
  zeroInit?: boolean;
}

export interface MemoryNeeds {
  /** Bytes of CPU memory per node. */
  cpu: number;
  /** Bytes of accelerator memory per GPU. */
  gpu: number;
}

export interface Zero3MemoryNeeds extends MemoryNeeds {
  /** 4 L bytes: the largest layer's 16-bit parameters and gradients, gathered whole on every GPU. */
  largestLayerMemory: number;
}

function resolveHardware(fn: string, o: HardwareOptions): { g: number; n: number; f: number } {
  const g = o.numGpusPerNode ?? 1;
  const n = o.numNodes ?? 1;
  const f = o.additionalBufferFactor ?? 1.5;
  if (!Number.isInteger(g) || g < 1) throw new RangeError(`${fn}: numGpusPerNode must be an integer >= 1, got ${g}`);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${fn}: numNodes must be an integer >= 1, got ${n}`);
  if (typeof f !== 'number' || !Number.isFinite(f) || f < 0) throw new RangeError(`${fn}: additionalBufferFactor must be a number >= 0, got ${f}`);
  return { g, n, f };
}

function checkCount(fn: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`${fn}: ${name} must be a number of parameters >= 0, got ${v}`);
}

function checkBool(fn: string, name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${fn}: ${name} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * ZeRO-1/2 model states (DeepSpeed's `estimate_zero2_model_states_mem_needs`):
 *   offload:    gpu = 2P,                 cpu = P * max(4N, 16) * f
 *   no offload: gpu = 2P + trunc(18P / N), cpu = P * 4g * f
 */
export function estimateZero2ModelStatesMemNeeds(totalParams: number, opts: Zero2EstimateOptions = {}): MemoryNeeds {
  const fn = 'estimateZero2ModelStatesMemNeeds';
  checkCount(fn, 'totalParams', totalParams);
  const { g, n, f } = resolveHardware(fn, opts);
  const cpuOffload = checkBool(fn, 'cpuOffload', opts.cpuOffload ?? true);
  const totalGpus = n * g;
  let gpu: number;
  let cpu: number;
  if (cpuOffload) {
    gpu = 2 * totalParams;
    cpu = totalParams * Math.max(4 * totalGpus, 16) * f;
  } else {
    gpu = 2 * totalParams + Math.trunc((18 * totalParams) / totalGpus);
    cpu = totalParams * 4 * g * f;
  }
  return { cpu: Math.trunc(cpu), gpu: Math.trunc(gpu) };
}

/**
 * ZeRO-3 model states (DeepSpeed's `estimate_zero3_model_states_mem_needs`), with 4L for the
 * largest layer:
 *   params + optimizer offload: gpu = 4L,                  cpu = P*18*f/n (zero_init) or P*max(4g, 18/n)*f
 *   optimizer offload only:     gpu = 4L + trunc(2P / N),  cpu = P*16*f/n (zero_init) or P*max(4g, 16/n)*f
 *   no offload:                 gpu = 4L + trunc(18P / N), cpu = L*4g*f (zero_init) or P*4g*f
 */
export function estimateZero3ModelStatesMemNeeds(totalParams: number, largestLayerParams: number, opts: Zero3EstimateOptions = {}): Zero3MemoryNeeds {
  const fn = 'estimateZero3ModelStatesMemNeeds';
  checkCount(fn, 'totalParams', totalParams);
  checkCount(fn, 'largestLayerParams', largestLayerParams);
  const { g, n, f } = resolveHardware(fn, opts);
  const cpuOffload = checkBool(fn, 'cpuOffload', opts.cpuOffload ?? true);
  const cpuOffloadParams = checkBool(fn, 'cpuOffloadParams', opts.cpuOffloadParams ?? true);
  const zeroInit = checkBool(fn, 'zeroInit', opts.zeroInit ?? true);
  const totalGpus = n * g;
  const gpusFactor = 1 / n;
  const largestLayerMemory = 4 * largestLayerParams;
  let gpu: number;
  let cpu: number;
  // NOTE: as in DeepSpeed, cpuOffloadParams only counts when cpuOffload is on.
  if (cpuOffload) {
    if (cpuOffloadParams) {
      gpu = largestLayerMemory;
      cpu = zeroInit ? totalParams * 18 * gpusFactor * f : totalParams * Math.max(4 * g, 18 * gpusFactor) * f;
    } else {
      gpu = largestLayerMemory + Math.trunc((2 * totalParams) / totalGpus);
      cpu = zeroInit ? totalParams * 16 * gpusFactor * f : totalParams * Math.max(4 * g, 16 * gpusFactor) * f;
    }
  } else {
    gpu = largestLayerMemory + Math.trunc((18 * totalParams) / totalGpus);
    cpu = zeroInit ? largestLayerParams * 4 * g * f : totalParams * 4 * g * f;
  }
  return { cpu: Math.trunc(cpu), gpu: Math.trunc(gpu), largestLayerMemory };
}

export interface Zero2Row extends MemoryNeeds {
  offloadOptimizer: 'cpu' | 'none';
}

export interface Zero3Row extends MemoryNeeds {
  offloadParam: 'cpu' | 'none';
  offloadOptimizer: 'cpu' | 'none';
  zeroInit: boolean;
}

/** The rows of DeepSpeed's ZeRO-2 table: optimizer offload on, then off. */
export function zero2Rows(totalParams: number, hw: HardwareOptions = {}): Zero2Row[] {
  return [true, false].map((cpuOffload) => ({
    offloadOptimizer: cpuOffload ? 'cpu' : 'none',
    ...estimateZero2ModelStatesMemNeeds(totalParams, { ...hw, cpuOffload }),
  }));
}

/** The six rows of DeepSpeed's ZeRO-3 table (parameter offload only ever with optimizer offload). */
export function zero3Rows(totalParams: number, largestLayerParams: number, hw: HardwareOptions = {}): Zero3Row[] {
  const rows: Zero3Row[] = [];
  for (const cpuOffload of [true, false]) {
    for (const cpuOffloadParams of [true, false]) {
      if (!cpuOffload && cpuOffloadParams) continue;
      for (const zeroInit of [true, false]) {
        const { cpu, gpu } = estimateZero3ModelStatesMemNeeds(totalParams, largestLayerParams, { ...hw, cpuOffload, cpuOffloadParams, zeroInit });
        rows.push({ offloadParam: cpuOffloadParams ? 'cpu' : 'none', offloadOptimizer: cpuOffload ? 'cpu' : 'none', zeroInit, cpu, gpu });
      }
    }
  }
  return rows;
}

/**
 * Python's `f"{x:.2f}"`: JavaScript's toFixed rounds exact ties up, Python to even. A double
 * lies exactly halfway between two hundredths only when it is an odd multiple of 1/8.
 */
export function pyFixed2(x: number): string {
  const eighths = x * 8;
  if (Number.isInteger(eighths) && Math.abs(eighths) % 2 === 1) {
    const hundredths = x * 100; // exact: 12.5 * an odd integer
    const lo = Math.floor(hundredths);
    const even = lo % 2 === 0 ? lo : lo + 1;
    return (even / 100).toFixed(2);
  }
  return x.toFixed(2);
}

const GIB = 2 ** 30;

function header(totalParams: number, hw: HardwareOptions, largest?: number): string {
  const g = hw.numGpusPerNode ?? 1;
  const n = hw.numNodes ?? 1;
  const sw = `SW: Model with ${Math.trunc(totalParams / 1e6)}M total params` +
    (largest === undefined ? '.' : `, ${Math.trunc(largest / 1e6)}M largest layer params.`);
  return (
    'Estimated memory needed for params, optim states and gradients for a:\n' +
    `HW: Setup with ${n} ${n > 1 ? 'nodes' : 'node'}, ${g} ${g > 1 ? 'GPUs' : 'GPU'} per node.\n` +
    `${sw}\n` +
    '  per CPU  |  per GPU |   Options\n'
  );
}

function row(r: MemoryNeeds, options: string): string {
  return ` ${pyFixed2(r.cpu / GIB).padStart(7)}GB | ${pyFixed2(r.gpu / GIB).padStart(6)}GB | ${options}\n`;
}

// DeepSpeed pads "cpu" to 4 characters (f'{OffloadDeviceEnum.cpu:4}') so the columns line up.
const device = (d: 'cpu' | 'none') => (d === 'cpu' ? 'cpu ' : 'none');

/** DeepSpeed's `estimate_zero2_model_states_mem_needs_all_cold` printout. */
export function formatZero2Estimate(totalParams: number, hw: HardwareOptions = {}): string {
  const rows = zero2Rows(totalParams, hw);
  return header(totalParams, hw) + rows.map((r) => row(r, `offload_optimizer=${device(r.offloadOptimizer)}`)).join('');
}

/** DeepSpeed's `estimate_zero3_model_states_mem_needs_all_cold` printout. */
export function formatZero3Estimate(totalParams: number, largestLayerParams: number, hw: HardwareOptions = {}): string {
  const rows = zero3Rows(totalParams, largestLayerParams, hw);
  return (
    header(totalParams, hw, largestLayerParams) +
    rows
      .map((r) => row(r, `offload_param=${device(r.offloadParam)}, offload_optimizer=${device(r.offloadOptimizer)}, zero_init=${r.zeroInit ? 1 : 0}`))
      .join('')
  );
}
