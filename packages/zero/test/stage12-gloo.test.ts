// Acceptance over real processes: golden GPT-2 trajectories (a), (b), (c) under ZeRO stages 1
// and 2 on 2 forked ranks talking through the Gloo backend (the launcher's RANK / WORLD_SIZE /
// MASTER_ADDR / MASTER_PORT environment), within the manifest tolerance.
import { describe, expect, it } from 'vitest';
import { checkGolden, runProcesses } from './fixtures/run-ranks.js';

describe('ZeRO stages 1 and 2 on 2 processes (gloo)', () => {
  for (const stage of [1, 2] as const) {
    for (const setup of ['a_adamw', 'b_adamw_clip', 'c_adamw_accum2'] as const) {
      it(`stage ${stage}, ${setup}`, async () => {
        const out = await runProcesses(2, { setup, stage });
        expect(out[0]!.updater).toBe(`zero stage ${stage}`);
        expect(out[0]!.optimizerElements).toBe(out[0]!.modelElements / 2);
        checkGolden(setup, out);
      });
    }
  }
});
