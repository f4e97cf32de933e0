// One exit-code table per engine (EXIT_CODES in src/backends/<engine>.ts), one for the codes
// cronvault records itself (src/exit-meaning.ts) and one for its process exit codes
// (src/errors.ts). The alert rules and the docs say the same codes in words; these tests make
// a change to a table fail until the rules and docs follow.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EXIT_CODES as BORG } from '../src/backends/borg.ts';
import { EXIT_CODES as DUPLICATI } from '../src/backends/duplicati.ts';
import { classifyResticFailure, EXIT_CODES as RESTIC } from '../src/backends/restic.ts';
import { EXIT, RECORDED_EXIT } from '../src/errors.ts';
import { CRONVAULT_EXIT_CODES, type ExitMeaning } from '../src/exit-meaning.ts';
import { projectRoot } from './support/cli.ts';

const read = (file: string): Promise<string> => readFile(join(projectRoot, file), 'utf8');
const alertWords = (entry: ExitMeaning): string => entry.alert ?? entry.meaning;
const codes = (table: Record<number, unknown>): number[] =>
  Object.keys(table)
    .map(Number)
    .sort((a, b) => a - b);
const noBackticks = (text: string): string => text.replaceAll('`', '');

/** Codes an engine's table counts as a failed run: these are the ones BackupFailed names. */
const failing = {
  restic: codes(RESTIC).filter((code) => !['success', 'warning'].includes(classifyResticFailure(code, '').kind)),
  duplicati: codes(DUPLICATI).filter((code) => !['success', 'warning'].includes(DUPLICATI[code]!.kind)),
  // borg 1.2 fails with 2 only; the specific codes of 1.4's modern mode are named where the
  // rules name them, each with its table's words (checked below).
  borg: [2],
};

/** `{ code: words }` from the `eq $code "N" }} (WORDS)` branches of one part of the macro. */
const branchWords = (text: string, prefix = ''): Record<number, string> =>
  Object.fromEntries(
    [...text.matchAll(/eq \$code "(-?\d+)" \}\} \(([^\n]*?)\)(?:\{\{|\n|$)/g)].map(([, code, words]) => [
      Number(code),
      words!.replace(prefix, ''),
    ]),
  );

describe('exit-code tables', async () => {
  const rules = await read('prometheus/rules.yml.j2');
  const macro = /\{%- macro exit_code_text\(minus_one\) -%\}([\s\S]*?)\{%- endmacro -%\}/.exec(rules)?.[1] ?? '';
  const [ownPart = '', enginePart = ''] = macro.split('$labels.engine "restic"');
  const [resticPart = '', otherEngines = ''] = enginePart.split('$labels.engine "duplicati"');
  const [duplicatiPart = '', borgPart = ''] = otherEngines.split('$labels.engine "borg"');

  it("the rules' exit_code_text macro has one branch per engine", () => {
    assert.ok(macro.length > 0, 'macro exit_code_text not found in prometheus/rules.yml.j2');
    assert.ok(resticPart.length > 0 && duplicatiPart.length > 0 && borgPart.length > 0);
  });

  it("the rules say cronvault's own codes with the words of CRONVAULT_EXIT_CODES", () => {
    const expected = Object.fromEntries(
      codes(CRONVAULT_EXIT_CODES)
        .filter((c) => c !== RECORDED_EXIT.engineNeverStarted)
        .map((c) => [c, alertWords(CRONVAULT_EXIT_CODES[c]!)]),
    );
    const { [RECORDED_EXIT.engineNeverStarted]: _argument, ...named } = branchWords(ownPart);
    assert.deepEqual(named, expected);
    // -1 reads differently per alert (engine never started / retention refused), so the macro takes it as an argument.
    assert.match(ownPart, /eq \$code "-1"/);
  });

  /** Every failing code named (a warning code may be too), each with its table's words. */
  const assertEngineBranch = (
    part: string,
    engine: 'restic' | 'duplicati' | 'borg',
    table: Record<number, ExitMeaning>,
  ) => {
    const named = branchWords(part, `${engine}: `);
    // cronvault's own branch comes first, so the engine's 130 is never reached.
    const expected = failing[engine].filter((c) => CRONVAULT_EXIT_CODES[c] === undefined);
    for (const code of expected)
      assert.ok(code in named, `rules: ${engine} exit ${code} (${table[code]!.meaning}) has no words`);
    for (const [code, words] of Object.entries(named)) {
      assert.ok(table[Number(code)], `rules: ${engine} exit ${code} is not in the table`);
      assert.equal(words, alertWords(table[Number(code)]!), `rules: ${engine} exit ${code}`);
    }
  };

  it("the rules name every failing restic code with the restic table's words", () =>
    assertEngineBranch(resticPart, 'restic', RESTIC));

  it("the rules name every failing duplicati code with the duplicati table's words", () =>
    assertEngineBranch(duplicatiPart, 'duplicati', DUPLICATI));

  it("the rules name borg's failing code and the modern codes they name with the borg table's words", () =>
    assertEngineBranch(borgPart, 'borg', BORG));

  it("the runbook's table of cronvault's own codes lists exactly those codes, in their words", async () => {
    const runbook = await read('docs/runbook.md');
    const rows = [...runbook.matchAll(/^\| both \| (-?\d+) \| ([^|]+) \|/gm)].map(
      ([, code, text]) => [Number(code), noBackticks(text!.trim())] as const,
    );
    assert.deepEqual(
      rows.map(([code]) => code).sort((a, b) => a - b),
      codes(CRONVAULT_EXIT_CODES),
    );
    for (const [code, text] of rows) {
      const entry = CRONVAULT_EXIT_CODES[code]!;
      assert.ok(
        text.startsWith(entry.meaning) || text.startsWith(alertWords(entry)),
        `runbook: ${code} "${text}" does not start with "${entry.meaning}" or "${alertWords(entry)}"`,
      );
    }
  });

  it("the runbook's BackupFailed advice names only failing codes, each in its table's words", async () => {
    const runbook = await read('docs/runbook.md');
    const section = /## BackupFailed\n([\s\S]*?)\n## /.exec(runbook)?.[1] ?? '';
    const mentions = [...section.matchAll(/(restic|duplicati) ((?:`\d+`(?:\/| or )?)+)(?: \/ ([a-z ]+):)?/g)];
    assert.ok(mentions.length >= 5, `expected engine codes in the BackupFailed section, found ${mentions.length}`);
    for (const [whole, engine, list, words] of mentions) {
      const table: Record<number, ExitMeaning> = engine === 'restic' ? RESTIC : DUPLICATI;
      for (const code of [...list!.matchAll(/`(\d+)`/g)].map((m) => Number(m[1]))) {
        assert.ok(
          failing[engine as 'restic' | 'duplicati'].includes(code),
          `runbook "${whole}": ${engine} ${code} is not a failing code in its table`,
        );
        if (words)
          assert.ok(
            table[code]!.meaning.includes(words),
            `runbook "${whole}": "${words}" is not in "${table[code]!.meaning}"`,
          );
      }
    }
  });

  it("docs/metrics.md and the README list the codes that count as success per engine, and cronvault's own codes", async () => {
    // Exit 0 goes without saying; the docs name the non-zero codes that are not failures.
    const successes = {
      restic: codes(RESTIC).filter((c) => c !== 0 && !failing.restic.includes(c)),
      duplicati: codes(DUPLICATI).filter((c) => c !== 0 && !failing.duplicati.includes(c)),
      // 1 is borg 1.2's warning; 100-127 (1.4's specific warnings) are not in the table.
      borg: codes(BORG).filter((c) => BORG[c]!.kind === 'warning'),
    };
    const metrics = await read('docs/metrics.md');
    const readme = await read('README.md');
    for (const [file, text] of [
      ['docs/metrics.md', metrics],
      ['README.md', readme],
    ] as const) {
      const claims = [
        ...text.matchAll(/(Duplicati|restic|borg)(?:'s)? (\d+(?: and \d+)*) (?:are successes|is a warning)/g),
      ];
      assert.ok(claims.length >= 2, `${file}: no "Duplicati 1 and 2 are successes" sentence found`);
      for (const [whole, engine, list] of claims) {
        const listed = list!.split(' and ').map(Number);
        assert.deepEqual(listed, successes[engine!.toLowerCase() as keyof typeof successes], `${file}: "${whole}"`);
      }
    }
    const own = /cronvault's own: (.*)\|/.exec(metrics)?.[1] ?? '';
    assert.deepEqual(
      [...own.matchAll(/`(-?\d+)`/g)].map((m) => Number(m[1])).sort((a, b) => a - b),
      codes(CRONVAULT_EXIT_CODES),
    );
  });

  it("the README's exit-code table lists exactly cronvault's process exit codes (EXIT)", async () => {
    const readme = await read('README.md');
    const listed = [...readme.matchAll(/^\| (\d+(?: \/ \d+)*) \| /gm)].flatMap(([, list]) =>
      list!.split(' / ').map(Number),
    );
    assert.deepEqual(
      listed.sort((a, b) => a - b),
      [...new Set(Object.values(EXIT))].sort((a, b) => a - b),
    );
  });

  it("docs/engines.md's restic table is restic's EXIT_CODES, meaning and version for each code", async () => {
    const engines = await read('docs/engines.md');
    const section = /## restic\n([\s\S]*?)\n## Duplicati/.exec(engines)?.[1] ?? '';
    const rows = [...section.matchAll(/^\| (\d+) \| ([^|]+) \| ([^|]+) \|$/gm)].map(([, code, meaning, since]) => [
      Number(code),
      meaning!.trim(),
      since!.trim(),
    ]);
    assert.deepEqual(
      rows,
      codes(RESTIC).map((c) => [c, RESTIC[c]!.meaning, RESTIC[c]!.since]),
    );
  });

  it("docs/engines.md's duplicati table is duplicati's EXIT_CODES, meaning and kind for each code", async () => {
    const engines = await read('docs/engines.md');
    const section = /## Duplicati[^\n]*\n([\s\S]*)$/.exec(engines)?.[1] ?? '';
    const rows = [...section.matchAll(/^\| (\d+) \| ([^|]+) \| ([^|]+) \|$/gm)].map(([, code, meaning, kind]) => [
      Number(code),
      meaning!.trim(),
      kind!.trim(),
    ]);
    assert.deepEqual(
      rows,
      codes(DUPLICATI).map((c) => [c, DUPLICATI[c]!.meaning, DUPLICATI[c]!.kind]),
    );
  });

  it('classification follows the restic table: a code that proves its cause ignores stderr', () => {
    for (const code of codes(RESTIC)) {
      if (code === 1) continue;
      assert.deepEqual(
        classifyResticFailure(code, 'Fatal: wrong password or no key found'),
        classifyResticFailure(code, ''),
        `restic exit ${code}`,
      );
    }
    // Exit 1 is read from stderr, as restic 0.14 reports nearly everything with it.
    assert.notEqual(
      classifyResticFailure(1, 'Fatal: wrong password or no key found').kind,
      classifyResticFailure(1, 'unable to create lock in backend: repository is already locked').kind,
    );
  });
});
