// Multi-node launch over ssh (ds's default) or pdsh: one `ds run` per node, started remotely.
import { spawnSync } from 'node:child_process';

/** Quotes one word for a POSIX shell (left bare when it is safe). */
export function shellQuote(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_\-.,:/@%+=]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellJoin(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}

/** Splits a string into words like a POSIX shell (quotes and backslashes; no expansion). */
export function splitArgs(text: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!)) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in ${JSON.stringify(text)}`);
  if (inWord) out.push(word);
  return out;
}

/** `cd <cwd> && env K=V … <command…>` for a remote shell. */
export function remoteCommand(cwd: string, exports: ReadonlyMap<string, string>, command: readonly string[]): string {
  const env = [...exports].map(([k, v]) => shellQuote(`${k}=${v}`));
  return `cd ${shellQuote(cwd)} && ${env.length > 0 ? `env ${env.join(' ')} ` : ''}${shellJoin(command)}`;
}

export interface SshPlan {
  hosts: readonly string[];
  sshPort?: number;
  /** Extra ssh options (from --launcher_args). */
  launcherArgs: readonly string[];
  /** The remote shell command for node `i`. */
  remote: (nodeRank: number) => string;
}

/** One `ssh [-p port] [args] host '<command>'` per host, node rank = position in `hosts`. */
export function buildSshCommands(p: SshPlan): string[][] {
  return p.hosts.map((host, i) => [
    'ssh',
    ...(p.sshPort !== undefined ? ['-p', String(p.sshPort)] : []),
    ...p.launcherArgs,
    host,
    p.remote(i),
  ]);
}

export interface PdshPlan {
  hosts: readonly string[];
  launcherArgs: readonly string[];
  /** The remote shell command, with `%n` where pdsh puts the node rank. */
  remote: string;
}

/** DeepSpeed's pdsh runner: `pdsh -S -f 1024 -w h1,h2 [args] '<command with %n>'`, env PDSH_RCMD_TYPE=ssh. */
export function buildPdshCommand(p: PdshPlan): { argv: string[]; env: Record<string, string> } {
  return {
    argv: ['pdsh', '-S', '-f', '1024', '-w', p.hosts.join(','), ...p.launcherArgs, p.remote],
    env: { PDSH_RCMD_TYPE: 'ssh' },
  };
}

/** null if `host` accepts passwordless ssh, else why not. */
export function checkSsh(host: string, sshPort?: number): string | null {
  const args = ['-o', 'PasswordAuthentication=no', '-o', 'BatchMode=yes'];
  if (sshPort !== undefined) args.push('-p', String(sshPort));
  const r = spawnSync('ssh', [...args, host, 'hostname'], { stdio: 'ignore', timeout: 30_000 });
  if (r.error) return `cannot run ssh: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`;
  if (r.status !== 0) return `ssh ${host} hostname exited with ${r.status ?? r.signal}`;
  return null;
}

/** The first address `hostname -I` prints on `host` (DeepSpeed's master-address discovery). */
export function detectMasterAddr(host: string, sshPort?: number): string {
  const args = sshPort !== undefined ? ['-p', String(sshPort)] : [];
  const r = spawnSync('ssh', [...args, host, 'hostname -I'], { encoding: 'utf8', timeout: 30_000 });
  const addr = r.status === 0 ? r.stdout.trim().split(/\s+/)[0] : undefined;
  if (!addr) {
    throw new Error(`could not find the master address with \`ssh ${host} hostname -I\`; pass --master_addr`);
  }
  return addr;
}
