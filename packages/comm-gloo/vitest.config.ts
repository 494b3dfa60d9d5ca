import { project } from '../../vitest.shared.ts';

export default project('comm-gloo', { testTimeout: 120000 });
