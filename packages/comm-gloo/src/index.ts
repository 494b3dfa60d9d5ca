// @ds/comm-gloo: the 'gloo' backend of @ds/comm — CPU collectives between processes and hosts
// over Gloo's TCP transport, every call run off the JS thread. Importing it registers the
// backend, so `initDistributed({ backend: 'gloo' })` finds it.
import { registerBackend } from '@ds/comm';
import { createWorldGroup } from './create.js';

registerBackend('gloo', createWorldGroup);

export { createGlooGroup, createWorldGroup, requireGlooNative, type GlooGroupOptions } from './create.js';
export { GlooProcessGroup } from './group.js';
export { glooAvailable, glooLoadError, loadGlooNative, type GroupTransport } from './native.js';
export { localAddressFor, type StoreLike } from './rendezvous.js';
export { benchCollectives, formatBenchTable, type BenchOptions, type BenchRow, type BenchOp } from './bench.js';
