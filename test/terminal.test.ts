// One decision for colour and one table layout, shared by the logger and every command.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { painter, renderTable, useColor } from '../src/terminal.ts';

describe('terminal colour and tables', () => {
  const saved = { NO_COLOR: process.env.NO_COLOR, TERM: process.env.TERM };
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  const tty = { isTTY: true };

  it('colours a terminal, and nothing else', () => {
    delete process.env.NO_COLOR;
    process.env.TERM = 'xterm-256color';
    assert.equal(useColor(tty), true);
    assert.equal(useColor({ isTTY: false }), false);
    assert.equal(useColor({}), false);
  });

  it('--no-color, NO_COLOR (even empty) and TERM=dumb each turn colour off on a terminal', () => {
    delete process.env.NO_COLOR;
    process.env.TERM = 'xterm';
    assert.equal(useColor(tty, { color: false }), false);
    process.env.NO_COLOR = '';
    assert.equal(useColor(tty), false);
    delete process.env.NO_COLOR;
    process.env.TERM = 'dumb';
    assert.equal(useColor(tty), false);
  });

  it('paints only when colour is on', () => {
    assert.equal(painter(true)('red', 'x'), '\u001b[31mx\u001b[0m');
    assert.equal(painter(false)('red', 'x'), 'x');
  });

  it('aligns columns two spaces apart, without padding the last column or trailing blanks', () => {
    assert.deepEqual(
      renderTable([
        ['JOB', 'OUTCOME', 'NOTE'],
        ['influxdb', 'ok', ''],
        ['etc', 'failed', 'exit 1'],
      ]),
      ['JOB       OUTCOME  NOTE', 'influxdb  ok', 'etc       failed   exit 1'],
    );
    assert.deepEqual(renderTable([]), []);
  });
});
