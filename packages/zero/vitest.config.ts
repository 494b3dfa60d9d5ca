import { project } from '../../vitest.shared.ts';

export default project('zero', { testTimeout: 120_000 });
