// deploy/kubernetes: the manifests parse and fit together (every Secret and ConfigMap key a pod
// uses exists; the config's files are files the container sees), the CronJob is shaped as the
// docs say, the Dockerfile is sane, and the image's own command line, run here against the
// bundle with the ConfigMap's config (its paths moved into a temporary "pod filesystem"),
// backs up, pushes to a real Pushgateway as instance=<CronJob name>, and the alert rules fire
// on the pushed series in a real Prometheus. No docker or cluster is needed (none is here).

import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { cronvaultBin, makeTempDir, projectRoot, runCronvault } from './support/cli.ts';
import { copyOf, envOf, execForm, instructionsOf, parseDockerfile } from './support/dockerfile.ts';
import { renderRulesFile } from './support/rules.ts';
import { queryPrometheus, type Service, startPrometheus, startPushgateway, waitFor } from './support/services.ts';

const DIR = join(projectRoot, 'deploy', 'kubernetes');

interface KeyRef {
  name: string;
  key: string;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: KeyRef; configMapKeyRef?: KeyRef };
}
interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: { secretRef?: { name: string }; configMapRef?: { name: string } }[];
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: VolumeMount[];
}
interface Items {
  items?: { key: string; path: string }[];
}
interface Volume {
  name: string;
  configMap?: Items & { name: string };
  secret?: Items & { secretName: string; defaultMode?: number };
  emptyDir?: { medium?: string; sizeLimit?: string };
}
interface PodSpec {
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  activeDeadlineSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number };
  initContainers?: Container[];
  containers: Container[];
  volumes?: Volume[];
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: Record<string, unknown>;
}
interface CronJobSpec {
  schedule: string;
  concurrencyPolicy?: string;
  startingDeadlineSeconds?: number;
  successfulJobsHistoryLimit?: number;
  failedJobsHistoryLimit?: number;
  jobTemplate: { spec: { backoffLimit?: number; activeDeadlineSeconds?: number; template: { spec: PodSpec } } };
}
interface CronvaultConfig {
  state_dir: string;
  metrics: { textfile_dir: string; pushgateway_url?: string };
  defaults: Record<string, unknown> & {
    hostname?: string;
    schedule?: string;
    verify_schedule?: string;
    timeout?: string;
    password_file: string;
  };
  jobs: Record<string, Record<string, unknown>>;
}

const manifestFiles = (await readdir(DIR)).filter((file) => file.endsWith('.yaml')).sort();
const manifests: (Manifest & { file: string })[] = [];
for (const file of manifestFiles)
  for (const doc of parseAllDocuments(await readFile(join(DIR, file), 'utf8'))) {
    assert.deepEqual(doc.errors, [], `${file} parses as YAML`);
    manifests.push({ ...(doc.toJS() as Manifest), file });
  }
const only = (kind: string): Manifest & { file: string } => {
  const found = manifests.filter((m) => m.kind === kind);
  assert.equal(found.length, 1, `one ${kind} in deploy/kubernetes`);
  return found[0]!;
};
const named = (kind: string, name: string): Manifest & { file: string } => {
  const found = manifests.filter((m) => m.kind === kind && m.metadata.name === name);
  assert.equal(found.length, 1, `one ${kind} ${name} in deploy/kubernetes`);
  return found[0]!;
};
const cronJob = named('CronJob', 'cronvault-backup');
const cronSpec = cronJob.spec as unknown as CronJobSpec;
const pod = cronSpec.jobTemplate.spec.template.spec;
const main = pod.containers[0]!;
const verifyCronJob = named('CronJob', 'cronvault-verify');
const verifySpec = verifyCronJob.spec as unknown as CronJobSpec;
const verifyPod = verifySpec.jobTemplate.spec.template.spec;
const verifyMain = verifyPod.containers[0]!;
const restorePod = only('Pod');
const secret = only('Secret');
const configMap = only('ConfigMap');
const secretKeys = new Set(Object.keys({ ...secret.data, ...secret.stringData }));
const configMapKeys = new Set(Object.keys(configMap.data ?? {}));
const configText = configMap.data?.['config.yml'] ?? '';
const config = parseYaml(configText) as CronvaultConfig;
const dockerfile = parseDockerfile(await readFile(join(DIR, 'Dockerfile'), 'utf8'));
const imageEnv = envOf(dockerfile);
const [entrypoint] = instructionsOf(dockerfile, 'ENTRYPOINT').map(execForm);
const [cmd] = instructionsOf(dockerfile, 'CMD').map(execForm);

/** What Kubernetes runs: command replaces ENTRYPOINT (and drops CMD), args replace CMD. */
const effectiveArgv = (container: Container): string[] => [
  ...(container.command ?? entrypoint ?? []),
  ...(container.args ?? (container.command ? [] : (cmd ?? []))),
];

const isUnder = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir.replace(/\/$/, '')}/`);

type FileSource = { secretKey: string } | { configMapKey: string };

/**
 * The files a container sees from Secret and ConfigMap volumes (path -> key), plus the copies
 * init containers make with `install -m MODE SRC… DIR/` into an emptyDir the container mounts.
 */
const filesOf = (spec: PodSpec, container: Container): Map<string, FileSource & { mode?: string }> => {
  const files = new Map<string, FileSource & { mode?: string }>();
  const volume = (name: string) => spec.volumes?.find((v) => v.name === name);
  for (const mount of container.volumeMounts ?? []) {
    const v = volume(mount.name);
    const source = v?.secret ?? v?.configMap;
    // A Secret volume's files have its defaultMode (Kubernetes' default 0644).
    const secretMode = v?.secret ? { mode: (v.secret.defaultMode ?? 0o644).toString(8).padStart(4, '0') } : {};
    for (const item of source?.items ?? []) {
      const key = v?.secret ? { secretKey: item.key, ...secretMode } : { configMapKey: item.key };
      if (mount.subPath === undefined) files.set(posix.join(mount.mountPath, item.path), key);
      else if (mount.subPath === item.path) files.set(mount.mountPath, key);
    }
  }
  for (const init of spec.initContainers ?? []) {
    const [program, flag, mode, ...rest] = init.command ?? [];
    if (program !== 'install' || flag !== '-m') continue;
    const seen = filesOf({ ...spec, initContainers: [] }, init);
    const target = rest.at(-1)!;
    const targetMount = init.volumeMounts?.find((m) => isUnder(target, m.mountPath));
    const shared = container.volumeMounts?.find((m) => m.name === targetMount?.name);
    if (!targetMount || !shared || !volume(targetMount.name)?.emptyDir) continue;
    for (const source of rest.slice(0, -1)) {
      const from = seen.get(source);
      assert.ok(from, `init container ${init.name} copies ${source}, a file it does not see`);
      const inTarget = posix.join(target, basename(source)).slice(targetMount.mountPath.length);
      files.set(posix.join(shared.mountPath, inTarget), { ...from, mode });
    }
  }
  return files;
};

describe('deploy/kubernetes manifests', () => {
  test('every manifest parses, and kustomization.yaml applies the Secret, ConfigMap and CronJob', async () => {
    assert.ok(manifests.length >= 5, manifestFiles.join(', '));
    for (const m of manifests) {
      assert.ok(m.apiVersion && m.kind, `${m.file}: apiVersion and kind`);
      if (m.kind !== 'Kustomization') assert.match(m.metadata?.name ?? '', /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, m.file);
    }
    const kustomization = only('Kustomization') as unknown as { resources: string[] };
    assert.deepEqual(
      new Set(kustomization.resources.map((file) => manifests.find((m) => m.file === file)?.kind)),
      new Set(['Secret', 'ConfigMap', 'CronJob']),
    );
    assert.ok(!kustomization.resources.includes(restorePod.file), 'the restore pod is applied by hand only');
  });

  test('kustomize renders the Secret, ConfigMap and CronJob unchanged but for the namespace', async (t) => {
    // kubectl is not a Debian package; where it is installed, its built-in kustomize renders offline.
    const kubectl = await execa('kubectl', ['kustomize', DIR], { reject: false }).catch(() => undefined);
    if (kubectl === undefined || kubectl.exitCode === undefined) {
      t.skip('kubectl is not installed');
      return;
    }
    assert.equal(kubectl.exitCode, 0, kubectl.stderr);
    const rendered = parseAllDocuments(kubectl.stdout).map((doc) => doc.toJS() as Manifest);
    assert.deepEqual(rendered.map((m) => m.kind).sort(), ['ConfigMap', 'CronJob', 'CronJob', 'Secret']);
    for (const m of rendered) {
      const { namespace, ...metadata } = m.metadata as Manifest['metadata'] & { namespace?: string };
      assert.equal(namespace, 'backup', m.kind);
      const { file: _, ...source } = named(m.kind, m.metadata.name);
      assert.deepEqual({ ...m, metadata }, source, `${m.kind} as written`);
    }
  });

  test('the pods use only Secret and ConfigMap keys that secret.yaml and configmap.yaml define', () => {
    for (const spec of [pod, verifyPod, restorePod.spec as unknown as PodSpec]) {
      let refs = 0;
      for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
        for (const env of container.env ?? []) {
          const { secretKeyRef, configMapKeyRef } = env.valueFrom ?? {};
          if (secretKeyRef) {
            refs++;
            assert.equal(secretKeyRef.name, secret.metadata.name, env.name);
            assert.ok(secretKeys.has(secretKeyRef.key), `${env.name}: Secret key ${secretKeyRef.key}`);
          }
          if (configMapKeyRef) {
            refs++;
            assert.equal(configMapKeyRef.name, configMap.metadata.name, env.name);
            assert.ok(configMapKeys.has(configMapKeyRef.key), `${env.name}: ConfigMap key ${configMapKeyRef.key}`);
          }
        }
        for (const from of container.envFrom ?? []) {
          if (from.secretRef) assert.equal(from.secretRef.name, secret.metadata.name);
          if (from.configMapRef) assert.equal(from.configMapRef.name, configMap.metadata.name);
        }
        for (const mount of container.volumeMounts ?? [])
          assert.ok(
            spec.volumes?.some((v) => v.name === mount.name),
            `${container.name} mounts volume ${mount.name}`,
          );
      }
      for (const volume of spec.volumes ?? []) {
        if (volume.secret) {
          assert.equal(volume.secret.secretName, secret.metadata.name);
          for (const item of volume.secret.items ?? []) {
            refs++;
            assert.ok(secretKeys.has(item.key), `volume ${volume.name}: Secret key ${item.key}`);
          }
        }
        if (volume.configMap) {
          assert.equal(volume.configMap.name, configMap.metadata.name);
          for (const item of volume.configMap.items ?? []) {
            refs++;
            assert.ok(configMapKeys.has(item.key), `volume ${volume.name}: ConfigMap key ${item.key}`);
          }
        }
      }
      assert.ok(refs >= 5, `the pod refers to the Secret and ConfigMap (${refs} references)`);
    }
    for (const key of ['repository-password', 'pgpass', 'aws-access-key-id', 'aws-secret-access-key'])
      assert.ok(secretKeys.has(key), `Secret key ${key}`);
  });

  test('the S3 keys come from the Secret as env; the password file, PGPASSFILE and config are private mounted files', () => {
    const env = new Map((main.env ?? []).map((e) => [e.name, e]));
    for (const [name, key] of [
      ['AWS_ACCESS_KEY_ID', 'aws-access-key-id'],
      ['AWS_SECRET_ACCESS_KEY', 'aws-secret-access-key'],
    ] as const)
      assert.deepEqual(env.get(name)?.valueFrom?.secretKeyRef, { name: secret.metadata.name, key });
    const files = filesOf(pod, main);
    assert.deepEqual(files.get(config.defaults.password_file), { secretKey: 'repository-password', mode: '0400' });
    assert.deepEqual(files.get(env.get('PGPASSFILE')?.value ?? ''), { secretKey: 'pgpass', mode: '0400' });
    const configArg = effectiveArgv(main).find((arg) => arg.endsWith('.yml'));
    assert.deepEqual(files.get(configArg ?? ''), { configMapKey: 'config.yml' });
    assert.match(String(config.defaults.repository), /^s3:/, 'the repository URL is in the config');
    // Values are never in the config: only files and env carry them.
    for (const value of Object.values(secret.stringData ?? {})) assert.ok(!configText.includes(value));
  });

  test('the CronJob forbids overlaps, gives up missed runs, keeps history and never retries a pod', () => {
    assert.equal(cronSpec.concurrencyPolicy, 'Forbid');
    assert.ok((cronSpec.startingDeadlineSeconds ?? 0) > 0, 'startingDeadlineSeconds');
    assert.ok((cronSpec.successfulJobsHistoryLimit ?? 0) > 0, 'successfulJobsHistoryLimit');
    assert.ok((cronSpec.failedJobsHistoryLimit ?? 0) > 0, 'failedJobsHistoryLimit');
    assert.equal(cronSpec.jobTemplate.spec.backoffLimit, 0, 'cronvault retries itself');
    assert.ok((cronSpec.jobTemplate.spec.activeDeadlineSeconds ?? 0) > 0, 'activeDeadlineSeconds');
    assert.equal(pod.restartPolicy, 'Never');
    assert.equal(pod.containers.length, 1);
    assert.equal(main.command, undefined, "the container runs the image's ENTRYPOINT");
  });

  test('the pod runs as non-root on a read-only root filesystem, with emptyDirs for state, restic cache and /tmp', () => {
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    const uid = Number(/^(\d+)/.exec(instructionsOf(dockerfile, 'USER').at(-1)?.args ?? '')?.[1]);
    assert.equal(pod.securityContext?.runAsUser, uid, "the pod's user is the image's");
    for (const container of [...(pod.initContainers ?? []), main]) {
      assert.equal(container.securityContext?.readOnlyRootFilesystem, true, container.name);
      assert.equal(container.securityContext?.allowPrivilegeEscalation, false, container.name);
      assert.ok(container.resources?.requests?.memory && container.resources.limits?.memory, container.name);
      assert.equal(container.image, main.image);
    }
    const emptyDirMounts = (main.volumeMounts ?? []).filter(
      (m) => pod.volumes?.find((v) => v.name === m.name)?.emptyDir && !m.readOnly,
    );
    const writable = (path: string) => emptyDirMounts.some((m) => isUnder(path, m.mountPath));
    for (const [what, path] of [
      ['state_dir', config.state_dir],
      ['metrics.textfile_dir', config.metrics.textfile_dir],
      ['RESTIC_CACHE_DIR', imageEnv.RESTIC_CACHE_DIR ?? ''],
      ['HOME', imageEnv.HOME ?? ''],
      ['/tmp', '/tmp'],
    ])
      assert.ok(writable(path ?? ''), `${what} (${path}) is on a writable emptyDir`);
  });

  test('the config names the CronJob: hostname is its name (the pushed instance), schedule is its schedule', () => {
    assert.equal(config.defaults.hostname, cronJob.metadata.name);
    assert.equal(config.defaults.schedule, cronSpec.schedule);
    for (const [name, job] of Object.entries(config.jobs)) {
      assert.equal(job.hostname, undefined, `${name} keeps the CronJob's name as host`);
      assert.equal(job.schedule, undefined, `${name} runs on the CronJob's schedule`);
    }
    assert.ok(config.jobs['app-db']?.postgresql, 'the ConfigMap backs up PostgreSQL with the preset');
    const hours = Number(/^(\d+)h$/.exec(config.defaults.timeout ?? '')?.[1]);
    assert.ok(
      hours * 3600 < (cronSpec.jobTemplate.spec.activeDeadlineSeconds ?? 0),
      "cronvault's timeout ends the run before Kubernetes kills the pod",
    );
  });

  test('the restore pod has the CronJob pod’s init containers, env, mounts, volumes and security', () => {
    const restore = restorePod.spec as unknown as PodSpec;
    const [container] = restore.containers;
    assert.ok(container);
    assert.deepEqual(restore.securityContext, pod.securityContext);
    assert.deepEqual(restore.initContainers, pod.initContainers);
    assert.deepEqual(container.env, main.env);
    assert.deepEqual(container.securityContext, main.securityContext);
    assert.equal(container.image, main.image);
    const restoreVolumes = new Map(restore.volumes?.map((v) => [v.name, v]));
    for (const volume of pod.volumes ?? []) assert.deepEqual(restoreVolumes.get(volume.name), volume, volume.name);
    for (const mount of main.volumeMounts ?? []) assert.ok(container.volumeMounts?.some((m) => isDeepEqual(m, mount)));
  });

  test('the verify CronJob runs `cronvault verify --all` weekly, alone, once, with the backup pod’s files and security', () => {
    assert.deepEqual(effectiveArgv(verifyMain), [entrypoint?.[0], 'verify', '--all', ...effectiveArgv(main).slice(-2)]);
    assert.equal(verifySpec.schedule, config.defaults.verify_schedule, 'BackupNotVerified reads the same schedule');
    const [minute, hour, dayOfMonth, month, dayOfWeek] = verifySpec.schedule.split(' ');
    assert.match(`${minute} ${hour} ${dayOfMonth} ${month}`, /^\d+ \d+ \* \*$/, 'once a day at most');
    assert.match(dayOfWeek ?? '', /^[0-6]$/, 'one weekday');
    assert.notEqual(hour, cronSpec.schedule.split(' ')[1], 'not in the hour of the backups');
    assert.equal(verifySpec.concurrencyPolicy, 'Forbid');
    assert.ok((verifySpec.startingDeadlineSeconds ?? 0) > 0, 'startingDeadlineSeconds');
    assert.equal(verifySpec.jobTemplate.spec.backoffLimit, 0, 'cronvault retries a locked check itself');
    assert.ok((verifySpec.jobTemplate.spec.activeDeadlineSeconds ?? 0) > 0, 'activeDeadlineSeconds');
    assert.equal(verifyPod.restartPolicy, 'Never');
    assert.ok((verifyPod.terminationGracePeriodSeconds ?? 0) >= 10, 'time to remove the lock and the drill');
    assert.equal(verifyPod.containers.length, 1);
    assert.deepEqual(verifyPod.securityContext, pod.securityContext);
    assert.deepEqual(verifyPod.initContainers, pod.initContainers);
    assert.deepEqual(verifyMain.env, main.env);
    assert.deepEqual(verifyMain.securityContext, main.securityContext);
    assert.deepEqual(verifyMain.volumeMounts, main.volumeMounts);
    assert.equal(verifyMain.image, main.image);
    const volumes = new Map(verifyPod.volumes?.map((v) => [v.name, v]));
    assert.deepEqual([...volumes.keys()].sort(), (pod.volumes ?? []).map((v) => v.name).sort());
    for (const volume of pod.volumes ?? [])
      if (volume.name !== 'state') assert.deepEqual(volumes.get(volume.name), volume, volume.name);
    assert.ok(volumes.get('state')?.emptyDir, 'state_dir: an emptyDir, room for a drill');
    assert.deepEqual(filesOf(verifyPod, verifyMain), filesOf(pod, main), 'the same private files and config');
  });

  test("the ConfigMap's config.yml passes `cronvault check --config-only`", async () => {
    const tmp = await makeTempDir();
    try {
      const file = join(tmp.dir, 'config.yml');
      await writeFile(file, configText);
      const result = await runCronvault(['check', '--config-only', '-c', file]);
      assert.equal(result.exitCode, 0, result.stderr);
    } finally {
      await tmp.cleanup();
    }
  });

  test('the Dockerfile: Node slim, restic and postgresql-client from apt, the bundle, a numeric non-root USER', async () => {
    const [from, ...moreFroms] = instructionsOf(dockerfile, 'FROM');
    assert.equal(moreFroms.length, 0, 'one stage');
    assert.match(from?.args ?? '', /^node:\d+(-[a-z]+)?-slim$/);
    const install = instructionsOf(dockerfile, 'RUN').find((r) => /apt-get install/.test(r.args))?.args ?? '';
    for (const word of ['apt-get update', '--no-install-recommends', ' restic ', ' postgresql-client ', 'lists/*'])
      assert.ok(install.includes(word), `RUN … ${word}: ${install}`);
    for (const run of instructionsOf(dockerfile, 'RUN')) {
      const syntax = await execa('sh', ['-n', '-c', run.args], { reject: false });
      assert.equal(syntax.exitCode, 0, `Dockerfile:${run.line}: RUN is valid sh: ${syntax.stderr}`);
    }
    const user = instructionsOf(dockerfile, 'USER').at(-1)?.args ?? '';
    assert.match(user, /^[1-9]\d*(:\d+)?$/, 'numeric, so runAsNonRoot can verify it');
    assert.match(install, new RegExp(`--uid ${user.split(':')[0]}\\b`), 'the user exists in /etc/passwd');
    const copies = instructionsOf(dockerfile, 'COPY').map(copyOf);
    const bundle = copies.find((c) => c.dest === entrypoint?.[0]);
    assert.deepEqual(bundle?.sources, ['dist/cronvault.mjs'], 'ENTRYPOINT is the bundle, copied from the build');
    assert.equal(entrypoint?.length, 1);
    assert.equal((await readFile(cronvaultBin, 'utf8')).slice(0, 19), '#!/usr/bin/env node');
  });
});

const isDeepEqual = (a: unknown, b: unknown): boolean => {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
};

describe("the image's command line, run here with the ConfigMap's config, pushing to a Pushgateway", () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let gateway: Service;
  let prometheus: Service;
  let run: { exitCode: number; stderr: string };
  /** The container's environment, its paths moved into the "pod filesystem". */
  const env: Record<string, string> = {};
  const instance = cronJob.metadata.name;
  const pgpassFile = main.env?.find((e) => e.name === 'PGPASSFILE')?.value ?? '';

  /** Where a path of the container lives in the temporary "pod filesystem". */
  const local = (containerPath: string): string => join(tmp.dir, 'pod', containerPath);

  /** ENTRYPOINT + CMD (or args) as Kubernetes runs them; the bundle stands in for /usr/bin/cronvault. */
  const runContainer = (container: Container) => {
    const [program, ...args] = effectiveArgv(container);
    assert.equal(program, entrypoint?.[0]);
    return runCronvault(
      args.map((arg) => (arg.startsWith('/') ? local(arg) : arg)),
      { env },
    );
  };

  before(async () => {
    tmp = await makeTempDir('cronvault-k8s-');
    gateway = await startPushgateway();
    // The shipped rules with `for: 0s`, so an alert fires at the first evaluation.
    const rules = await renderRulesFile(tmp.dir, { backup_alert_for: '0s' });
    // As prometheus/examples/prometheus.yml scrapes a Pushgateway: honor_labels keeps `instance`.
    const example = parseYaml(await readFile(join(projectRoot, 'prometheus', 'examples', 'prometheus.yml'), 'utf8'));
    const scrape = (example as { scrape_configs: { job_name: string; honor_labels?: boolean }[] }).scrape_configs;
    assert.ok(scrape.some((s) => s.job_name.includes('pushgateway') && s.honor_labels === true));
    prometheus = await startPrometheus({
      scrapeTargets: [new URL(gateway.url).host],
      ruleFiles: [rules],
      honorLabels: true,
    });

    // The pod's files: the Secret volume as the kubelet writes it (the Secret's values, the
    // volume's mode), then the init container's own command making the private copies.
    const password = secret.stringData?.['repository-password'] ?? '';
    for (const container of [...(pod.initContainers ?? []), main])
      for (const mount of container.volumeMounts ?? [])
        await mkdir(mount.subPath === undefined ? local(mount.mountPath) : dirname(local(mount.mountPath)), {
          recursive: true,
        });
    for (const init of pod.initContainers ?? []) {
      for (const [path, source] of filesOf({ ...pod, initContainers: [] }, init)) {
        if (!('secretKey' in source)) continue;
        await writeFile(local(path), secret.stringData?.[source.secretKey] ?? '');
        await chmod(local(path), Number.parseInt(source.mode ?? '0644', 8));
      }
      const [program, ...args] = init.command ?? [];
      await execa(
        program ?? '',
        args.map((arg) => (arg.startsWith('/') ? local(arg) : arg)),
      );
    }
    const repository = join(tmp.dir, 'repo');
    await execa('restic', ['init', '--repo', repository], { env: { RESTIC_PASSWORD: password } });
    const data = join(tmp.dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'app.txt'), 'files to keep\n');
    const adapted: CronvaultConfig = {
      ...config,
      state_dir: local(config.state_dir),
      metrics: { ...config.metrics, textfile_dir: local(config.metrics.textfile_dir), pushgateway_url: gateway.url },
      defaults: { ...config.defaults, repository, password_file: local(config.defaults.password_file) },
      // Two healthy jobs (files, and a dump that reads PGPASSFILE as pg_dump would), and the
      // ConfigMap's job name failing fast (its repository does not exist).
      jobs: {
        files: { path: data },
        'app-dump': { command: 'head -c 0 "$PGPASSFILE" && printf "pretend dump"' },
        'app-db': { command: "printf 'not a real dump'", repository: join(tmp.dir, 'missing-repo') },
      },
    };
    const configArg = effectiveArgv(main).find((arg) => arg.endsWith('.yml')) ?? '';
    await writeFile(local(configArg), stringify(adapted));

    for (const [name, value] of Object.entries(imageEnv)) env[name] = value.startsWith('/') ? local(value) : value;
    for (const e of main.env ?? [])
      env[e.name] = e.value?.startsWith('/')
        ? local(e.value)
        : (e.value ?? secret.stringData?.[e.valueFrom?.secretKeyRef?.key ?? ''] ?? '');
    run = await runContainer(main);
  });

  after(async () => {
    await prometheus?.stop();
    await gateway?.stop();
    await tmp?.cleanup();
  });

  test('runs every job of the config, and pushes each as instance=<CronJob name>', async () => {
    assert.equal(run.exitCode, 1, `one job fails, so the pod fails:\n${run.stderr}`);
    assert.match(run.stderr, /app-db/);
    assert.doesNotMatch(run.stderr, /readable by/, 'the password file is a private copy');
    for (const path of [config.defaults.password_file, pgpassFile])
      assert.equal(
        ((await stat(local(path))).mode & 0o777).toString(8),
        '400',
        `${path} made private by the init container`,
      );
    assert.doesNotMatch(run.stderr, /could not push/);
    const pushed = await (await fetch(`${gateway.url}/metrics`)).text();
    const success = (backup: string) =>
      pushed
        .split('\n')
        .find(
          (line) =>
            line.startsWith('backup_last_run_success{') &&
            line.includes(`backup="${backup}"`) &&
            line.includes(`instance="${instance}"`),
        );
    assert.match(success('files') ?? pushed.slice(0, 800), / 1$/);
    assert.match(success('app-dump') ?? pushed.slice(0, 800), / 1$/, 'PGPASSFILE reaches a dump command');
    assert.match(success('app-db') ?? pushed.slice(0, 800), / 0$/);
    assert.equal((await readdir(local(imageEnv.RESTIC_CACHE_DIR ?? ''))).length > 0, true, 'restic cached there');
  });

  test('BackupFailed fires for the failed job on instance=<CronJob name>; the healthy jobs raise nothing', async () => {
    // Prometheus scraped the Pushgateway during the run too (a job's start push has no success
    // yet): judge the alerts of a rule evaluation made after it scraped every job's final push.
    await waitFor(
      async () =>
        (await queryPrometheus(prometheus.url, `count(backup_running{instance="${instance}"} == 0) == 3`)).length > 0,
      { timeoutMs: 20_000, message: 'the final push of every job scraped' },
    );
    const scrapedBy = Date.now();
    await waitFor(
      async () => {
        const rules = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as {
          data: { groups: { rules: { name: string }[]; lastEvaluation: string }[] };
        };
        // BackupFailed's group (the others run at their own, slower intervals).
        return rules.data.groups
          .filter((group) => group.rules.some((rule) => rule.name === 'BackupFailed'))
          .every((group) => Date.parse(group.lastEvaluation) > scrapedBy);
      },
      { timeoutMs: 20_000, message: 'a rule evaluation after that scrape' },
    );
    const firing = (await queryPrometheus(prometheus.url, 'ALERTS{alertname="BackupFailed", alertstate="firing"}')) as {
      metric: Record<string, string>;
    }[];
    assert.equal(firing.length, 1, JSON.stringify(firing));
    assert.equal(firing[0]!.metric.backup, 'app-db');
    assert.equal(firing[0]!.metric.instance, instance);
    assert.equal(firing[0]!.metric.host, instance);
    assert.equal(firing[0]!.metric.engine, 'restic');
    assert.deepEqual(await queryPrometheus(prometheus.url, 'ALERTS{backup=~"files|app-dump"}'), []);
  });

  test("the verify CronJob's command line drills the jobs and pushes backup_last_verify_* beside the run's series", async () => {
    const verify = await runContainer(verifyMain);
    assert.equal(verify.exitCode, 1, `app-db's repository is missing, so the pod fails:\n${verify.stderr}`);
    assert.doesNotMatch(verify.stderr, /could not push/);
    const pushed = (await (await fetch(`${gateway.url}/metrics`)).text()).split('\n');
    const value = (name: string, backup: string) =>
      pushed.find(
        (line) =>
          line.startsWith(`${name}{`) && line.includes(`backup="${backup}"`) && line.includes(`instance="${instance}"`),
      );
    assert.match(value('backup_last_verify_success', 'files') ?? verify.stderr, /command="verify".* 1$/);
    assert.match(value('backup_last_verify_success', 'app-dump') ?? verify.stderr, / 1$/);
    assert.match(value('backup_last_verify_success', 'app-db') ?? verify.stderr, / 0$/);
    assert.match(value('backup_last_run_success', 'files') ?? '', / 1$/, "the run's series stay");
  });
});
