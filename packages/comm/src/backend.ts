// The backend registry: process backends live in their own packages and register a factory
// under a name. initDistributed({ backend: 'gloo' }) imports the owning package on demand.
import type { BackendFactory } from './types.js';

const REGISTRY_KEY = Symbol.for('@ds/comm.backends');

/** Shared by every copy of @ds/comm in this thread, so a backend built against another copy still registers. */
function registry(): Map<string, BackendFactory> {
  const g = globalThis as { [REGISTRY_KEY]?: Map<string, BackendFactory> };
  return (g[REGISTRY_KEY] ??= new Map());
}

/**
 * Register a process backend. A backend package calls this when it is imported
 * (`registerBackend('gloo', createGlooWorld)`); it may instead export `createWorldGroup`
 * (or a default export) with the BackendFactory signature.
 */
export function registerBackend(name: string, factory: BackendFactory): void {
  if (!/^[a-z0-9@/._-]+$/i.test(name)) throw new TypeError(`registerBackend: invalid backend name ${JSON.stringify(name)}`);
  if (typeof factory !== 'function') throw new TypeError(`registerBackend('${name}'): factory must be a function`);
  registry().set(name, factory);
}

export function getBackend(name: string): BackendFactory | undefined {
  return registry().get(name);
}

export function registeredBackends(): string[] {
  return [...registry().keys()];
}

/** The package that owns a backend: 'gloo' -> '@ds/comm-gloo'; a package name maps to itself. */
export function backendPackage(name: string): string {
  if (name.startsWith('@') || name.includes('/')) return name;
  return `@ds/comm-${name}`;
}

/**
 * Find (importing its package when needed) the factory of a backend. Throws
 * "backend 'gloo' needs the package @ds/comm-gloo: pnpm add @ds/comm-gloo" when it is missing.
 */
export async function loadBackend(name: string, importer: (specifier: string) => Promise<unknown> = (s) => import(s)): Promise<BackendFactory> {
  const known = getBackend(name);
  if (known) return known;
  const pkg = backendPackage(name);
  let mod: Record<string, unknown>;
  try {
    mod = (await importer(pkg)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as { code?: string }).code;
    const msg = (e as Error).message ?? '';
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || msg.includes(`'${pkg}'`) || msg.includes(`"${pkg}"`)) {
      throw new Error(`backend '${name}' needs the package ${pkg}: pnpm add ${pkg}`);
    }
    throw new Error(`backend '${name}': loading ${pkg} failed: ${msg}`, { cause: e });
  }
  const registered = getBackend(name);
  if (registered) return registered;
  const candidate = mod.createWorldGroup ?? mod.default;
  if (typeof candidate === 'function') return candidate as BackendFactory;
  throw new Error(
    `backend '${name}': ${pkg} was imported but registered no backend named '${name}' ` +
      `(it should call registerBackend('${name}', factory) or export createWorldGroup); registered: ${registeredBackends().join(', ') || 'none'}`,
  );
}
