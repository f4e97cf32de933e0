// The restore drill: part 2 of `cronvault verify`. A path job restores a seeded sample of its
// newest snapshot's files into a private directory and compares each with the snapshot's own
// record of it (its content dumped by the engine) and, where the source file is unchanged since
// (same size and mtime), with the source. A command job streams its newest dump through a
// validator (validators.ts).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Backend, EngineContext, Snapshot, SnapshotFile } from '../backends/types.ts';
import type { JobConfig } from '../config.ts';
import { quote } from '../input-text.ts';
import type { Logger } from '../log.ts';
import { seededSample } from './sample.ts';
import { validateDump, validatorFor } from './validators.ts';

export interface DrillResult {
  ok: boolean;
  snapshot?: string;
  filesChecked: number;
  /** What failed, one line each. */
  problems: string[];
  /** The drill's one-line account, for the log and the state. */
  summary: string;
}

/** A sink that only hashes what it is given. */
const hashSink = () => {
  const hash = createHash('sha256');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done();
    },
  });
  return { sink, digest: () => hash.digest('hex') };
};

const hashFile = async (file: string): Promise<string> => {
  const { sink, digest } = hashSink();
  await pipeline(createReadStream(file), sink);
  return digest();
};

/** Engine dumps run at once while a drill compares its files. */
const DUMPS_AT_ONCE = 4;

/** restic's --include is a glob: a file named "a[1].txt" must match itself only. */
const globLiteral = (path: string): string => path.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

interface DrillInput {
  job: JobConfig;
  backend: Backend;
  snapshot: Snapshot;
  dir: string;
  seed: string;
  context: EngineContext;
  log: Logger;
}

/** Compares one restored file with the snapshot's record and, when unchanged there, the source. */
const checkFile = async (input: DrillInput, file: SnapshotFile): Promise<string[]> => {
  const { job, backend, snapshot, dir, context } = input;
  const restored = join(dir, file.path);
  const problems: string[] = [];
  const info = await stat(restored).catch(() => undefined);
  if (!info?.isFile()) return [`${quote(file.path)} was not restored`];
  const restoredHash = await hashFile(restored);
  const record = hashSink();
  await backend.dumpFile!(job, snapshot.id, file.path, record.sink, context);
  const recordHash = record.digest();
  if (restoredHash !== recordHash || info.size !== file.size)
    problems.push(
      `${quote(file.path)} restored with content that differs from the snapshot's record (${info.size} bytes, sha256 ${restoredHash.slice(0, 12)}, snapshot says ${file.size} bytes, sha256 ${recordHash.slice(0, 12)})`,
    );
  const source = await stat(file.path, { bigint: true }).catch(() => undefined);
  // Changed in the source since the snapshot (or gone): nothing to compare with, and no fault.
  if (source?.isFile() && source.size === BigInt(file.size) && source.mtimeNs === file.mtimeNs) {
    const sourceHash = await hashFile(file.path).catch(() => undefined);
    if (sourceHash !== undefined && sourceHash !== restoredHash)
      problems.push(
        `${quote(file.path)} differs from the source although the source has the snapshot's size and mtime (silent corruption in the source or the backup)`,
      );
  }
  return problems;
};

const pathDrill = async (input: DrillInput): Promise<DrillResult> => {
  const { job, backend, snapshot, dir, seed, context, log } = input;
  const files = await backend.listSnapshotFiles!(job, snapshot.id, context);
  const eligible = files.filter((file) => file.size <= job.verify.maxFileBytes);
  const sample = seededSample(eligible, job.verify.sample, seed);
  if (sample.length === 0) {
    const why = files.length === 0 ? 'it holds no files' : `all ${files.length} files are larger than max_file_size`;
    return {
      ok: true,
      snapshot: snapshot.id,
      filesChecked: 0,
      problems: [],
      summary: `drill restored nothing: ${why}`,
    };
  }
  log.info(
    `restore drill: ${sample.length} of ${files.length} files of snapshot ${snapshot.id} into ${dir} (seed ${seed})`,
  );
  await backend.restore(
    job,
    { snapshot: snapshot.id, target: dir, include: sample.map((file) => globLiteral(file.path)), verify: true },
    { ...context, onOutput: (line) => log.engine(line) },
  );
  // Each file costs one engine start (its dump); a few at once keep a 20-file drill short.
  const found = new Map<SnapshotFile, string[]>();
  const queue = [...sample];
  const worker = async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift())
      found.set(file, await checkFile(input, file));
  };
  await Promise.all(Array.from({ length: Math.min(DUMPS_AT_ONCE, sample.length) }, worker));
  const problems = sample.flatMap((file) => found.get(file) ?? []);
  return {
    ok: problems.length === 0,
    snapshot: snapshot.id,
    filesChecked: sample.length,
    problems,
    summary: problems.length
      ? `restore drill of snapshot ${snapshot.id}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in ${sample.length} files`
      : `restore drill of snapshot ${snapshot.id}: ${sample.length} files restored and identical to the snapshot's record`,
  };
};

const streamDrill = async (input: DrillInput): Promise<DrillResult> => {
  const { job, backend, snapshot, dir, context, log } = input;
  const validator = validatorFor(job);
  const path = `/${(job.stdinFilename ?? `${job.name}.dump`).replace(/^\/+/, '')}`;
  log.info(`restore drill: streaming ${path} of snapshot ${snapshot.id} through ${validator}`);
  const result = await validateDump(
    validator,
    dir,
    (into) => backend.dumpFile!(job, snapshot.id, path, into, context),
    context.signal,
  );
  return {
    ok: result.ok,
    snapshot: snapshot.id,
    filesChecked: result.ok ? 1 : 0,
    problems: result.ok ? [] : [result.reason],
    summary: `restore drill of snapshot ${snapshot.id}: ${result.reason}`,
  };
};

/** The drill on the job's newest snapshot on this host; a job with no snapshot fails it. */
export const restoreDrill = async (input: Omit<DrillInput, 'snapshot'>): Promise<DrillResult> => {
  const { job, backend, context } = input;
  const snapshots = await backend.snapshots(job, context);
  const newest = [...snapshots].sort((a, b) => Date.parse(b.time) - Date.parse(a.time))[0];
  if (!newest) {
    const problem = `job ${job.name} has no snapshot on this host to restore`;
    return { ok: false, filesChecked: 0, problems: [problem], summary: problem };
  }
  if (job.command === undefined && job.verify.sample === 0)
    return {
      ok: true,
      snapshot: newest.id,
      filesChecked: 0,
      problems: [],
      summary: 'no restore drill (verify.sample: 0)',
    };
  const drill = job.command === undefined ? pathDrill : streamDrill;
  return drill({ ...input, snapshot: newest });
};
