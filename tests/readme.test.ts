// The first TypeScript example of every package README must run as written.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TMP = path.join(ROOT, 'tests', '.readme-examples');
mkdirSync(TMP, { recursive: true });
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

const READMES = [
  'packages/core/README.md', 'packages/models/README.md', 'packages/comm/README.md', 'packages/comm-gloo/README.md',
  'packages/strategy/README.md', 'packages/engine/README.md', 'packages/precision/README.md', 'packages/zero/README.md',
];

describe('README examples run', () => {
  for (const readme of READMES) {
    it(readme, () => {
      const text = readFileSync(path.join(ROOT, readme), 'utf8');
      const block = /```ts\n([\s\S]*?)```/.exec(text);
      expect(block, `${readme} has a ts example`).not.toBeNull();
      const file = path.join(TMP, `${readme.replace(/[/.]/g, '_')}.ts`);
      writeFileSync(file, block![1]!);
      const out = execFileSync('node', ['--conditions=@ds/source', '--import', 'tsx', file], { cwd: ROOT, encoding: 'utf8' });
      expect(out.length).toBeGreaterThan(0);
    });
  }
});
