import { defineProject } from 'vitest/config';

// Tests run against each package's TypeScript source (the `@ds/source` export
// condition), so a change is tested without rebuilding its dependencies.
export function project(name: string, extra: { testTimeout?: number } = {}) {
  return defineProject({
    resolve: { conditions: ['@ds/source', 'import', 'module', 'node', 'default'] },
    ssr: { resolve: { conditions: ['@ds/source', 'import', 'module', 'node', 'default'] } },
    test: { name, pool: 'forks', testTimeout: extra.testTimeout ?? 60_000 },
  });
}
