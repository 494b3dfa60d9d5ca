// `ds config check FILE`: resolve a DeepSpeed config without a model or ranks and print the
// result (every key with its value, the packages it needs) or every problem in it.
import { ConfigError, formatConfig, requiredPackages, resolveConfig } from '@ds/engine';

export interface ConfigCheckOptions {
  file: string;
  /** Data-parallel world size the batch sizes are resolved for. */
  worldSize: number;
  json: boolean;
}

export interface ConfigCheckIO {
  stdout(s: string): void;
  stderr(s: string): void;
}

/** Returns the exit code: 0 when the config resolves, 1 when it has problems. */
export function configCheck(opts: ConfigCheckOptions, io: ConfigCheckIO): number {
  let result: ReturnType<typeof resolveConfig>;
  try {
    result = resolveConfig(opts.file, { worldSize: opts.worldSize });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    if (opts.json) io.stdout(`${JSON.stringify({ ok: false, file: opts.file, worldSize: opts.worldSize, issues: e.issues }, null, 2)}\n`);
    else {
      const n = e.issues.length;
      const lines = e.issues.map((i) => `  - ${i.path === '' ? '' : `${i.path}: `}${i.message}\n`);
      io.stderr(`ds config check: ${opts.file}: ${n} problem${n === 1 ? '' : 's'}\n${lines.join('')}`);
    }
    return 1;
  }
  const { config, warnings } = result;
  const packages = requiredPackages(config);
  if (opts.json) {
    io.stdout(`${JSON.stringify({ ok: true, file: opts.file, worldSize: opts.worldSize, warnings, requiredPackages: packages, config }, null, 2)}\n`);
    return 0;
  }
  for (const w of warnings) io.stderr(`warning: ${w}\n`);
  const W = opts.worldSize;
  io.stdout(
    `${opts.file}: OK for a data-parallel world size of ${W}: train_batch_size ${config.train_batch_size} = ` +
      `micro batch ${config.train_micro_batch_size_per_gpu} × ${config.gradient_accumulation_steps} accumulation step${config.gradient_accumulation_steps === 1 ? '' : 's'} × ${W} rank${W === 1 ? '' : 's'}\n`,
  );
  io.stdout(
    packages.length === 0
      ? 'needs no strategy package beyond @ds/engine\n'
      : `needs: ${packages.map((p) => `${p.package} (${p.section}: ${p.reason})`).join(', ')}\n`,
  );
  io.stdout(`resolved configuration:\n${formatConfig(config)}\n`);
  return 0;
}
