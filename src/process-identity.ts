// Who a pid is, and how to stop a whole process group. A pid alone names a process only while
// it lives: after it exits (or after a reboot) the same number can belong to anything. Linux
// gives each process a start time (/proc/<pid>/stat field 22, clock ticks since boot) and each
// boot an id, and the pair (boot id, pid, start time) never repeats.
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessIdentity {
  pid: number;
  /** /proc/<pid>/stat field 22; absent where /proc is not available. */
  startTime?: string;
  bootId?: string;
}

const readText = (file: string): string | undefined => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
const statFields = (pid: number): string[] | undefined => {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
};

/** Field 22 of /proc/<pid>/stat; field 3 (state) is the first after the name. */
const processStartTime = (pid: number): string | undefined => statFields(pid)?.[22 - 3];

/** Field 5: the process group. */
const processGroupOf = (pid: number): number | undefined => {
  const value = statFields(pid)?.[5 - 3];
  return value === undefined ? undefined : Number(value);
};

let cachedBootId: string | undefined;
const bootId = (): string | undefined => (cachedBootId ??= readText('/proc/sys/kernel/random/boot_id')?.trim());

export const identityOf = (pid: number): ProcessIdentity => ({
  pid,
  startTime: processStartTime(pid),
  bootId: bootId(),
});

/** One text for an identity, unique across boots: "<boot id>/<pid>/<start time>". */
export const identityText = (identity: ProcessIdentity): string =>
  `${identity.bootId ?? ''}/${identity.pid}/${identity.startTime ?? ''}`;

/**
 * Process groups of the processes (readable by this user) whose environment holds
 * `name=value`, except cronvault's own group.
 */
export const groupsWithEnvironment = (name: string, value: string): number[] => {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const wanted = `${name}=${value}`;
  const own = processGroupOf(process.pid);
  const groups = new Set<number>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = readText(`/proc/${entry}/environ`);
    if (environ === undefined || !environ.split('\0').includes(wanted)) continue;
    const group = processGroupOf(Number(entry));
    if (group !== undefined && group > 1 && group !== own) groups.add(group);
  }
  return [...groups];
};

/** Whether a process with this pid exists (a zombie included); EPERM means it is someone else's. */
export const pidExists = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Whether the process that `identity` recorded is still running: same boot, pid alive, same
 * start time. A record without a start time (written where /proc was missing) falls back to the pid.
 */
export const isSameProcessAlive = (identity: ProcessIdentity): boolean => {
  if (!Number.isInteger(identity.pid) || identity.pid <= 0) return false;
  const currentBoot = bootId();
  if (identity.bootId && currentBoot && identity.bootId !== currentBoot) return false;
  if (!pidExists(identity.pid) || statFields(identity.pid)?.[0] === 'Z') return false;
  if (identity.startTime === undefined) return true;
  const startTime = processStartTime(identity.pid);
  return startTime === undefined || startTime === identity.startTime;
};

/**
 * Whether any process of group `pgid` still runs. Exited members nobody has reaped yet
 * (zombies: in a container whose init does not reap, they stay) do not count.
 */
const groupAlive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  return entries.some((name) => {
    if (!/^\d+$/.test(name)) return false;
    const fields = statFields(Number(name));
    return fields !== undefined && fields[5 - 3] === String(pgid) && fields[0] !== 'Z';
  });
};

/** Signals every process of a group; false when the group is already gone. */
export const signalGroup = (pgid: number, signal: NodeJS.Signals): boolean => {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
};

/** Resolves true once the group has no process left, false when `ms` ran out first. */
export const waitForGroupGone = async (pgid: number, ms: number): Promise<boolean> => {
  const deadline = Date.now() + ms;
  while (groupAlive(pgid)) {
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
};

/**
 * Whether process group `leader.pid` is still the one that `leader` started: its leader is that
 * very process, or the leader has exited and members remain (Linux does not hand a pid out again
 * while a process group of that number exists, so the members can only be the leader's).
 */
export const isOwnGroupAlive = (leader: ProcessIdentity): boolean => {
  if (!groupAlive(leader.pid)) return false;
  const currentBoot = bootId();
  if (leader.bootId && currentBoot && leader.bootId !== currentBoot) return false;
  const leaderRunning = pidExists(leader.pid) && statFields(leader.pid)?.[0] !== 'Z';
  if (!leaderRunning) return true;
  return isSameProcessAlive(leader) && processGroupOf(leader.pid) === leader.pid;
};

/** SIGINT to the group (restic removes its lock on it), SIGKILL after `graceMs`; resolves once it is gone. */
export const stopGroup = async (pgid: number, graceMs: number): Promise<void> => {
  if (!signalGroup(pgid, 'SIGINT')) return;
  if (await waitForGroupGone(pgid, graceMs)) return;
  signalGroup(pgid, 'SIGKILL');
  await waitForGroupGone(pgid, 10_000);
};
