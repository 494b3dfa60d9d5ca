// The script the comm suite's start-up figure launches under `ds run --nproc 2`: what a minimal
// training script does up to its first collective (import @ds/core and @ds/comm, initDistributed,
// one all-reduce) and no more — PyTorch's figure is likewise `import torch`, init_process_group
// and one all_reduce. Rank 0 prints when the all-reduce completed.
import { destroyProcessGroup, initDistributed } from '@ds/comm';
import { Tensor } from '@ds/core';

const world = await initDistributed();
const t = new Tensor(new Float32Array([world.rank + 1]), [1], 'float32');
await world.allReduce(t);
const sum = (t.data() as Float32Array)[0];
if (sum !== (world.size * (world.size + 1)) / 2) throw new Error(`first collective: sum ${sum}`);
if (world.rank === 0) process.stdout.write(`first-collective ${Date.now()}\n`);
await destroyProcessGroup();
