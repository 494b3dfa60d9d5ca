import { project } from '../vitest.shared.ts';

export default project('repo', { testTimeout: 240_000 });
