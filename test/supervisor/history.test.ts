import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { BackendHistory } from '../../src/supervisor/history.js';

// [dashboard] #33: a backend's lifecycle as the drawer shows it: states, crashes with their error, circuit transitions, bounded.

function setup(size?: number): { history: BackendHistory; supervisor: EventEmitter; circuit: (name: string, to: string) => void } {
  const supervisor = new EventEmitter();
  let listener: (name: string, to: string) => void = () => undefined;
  const history = new BackendHistory({ supervisor, onCircuit: (fn) => (listener = fn), lastError: (name) => `Backend '${name}' exited with code 1` }, size);
  return { history, supervisor, circuit: (name, to) => listener(name, to) };
}

describe('BackendHistory', () => {
  it('records starts, a crash with its error, the restart and circuit transitions in order', () => {
    const { history, supervisor, circuit } = setup();
    supervisor.emit('added', 'demo');
    supervisor.emit('state', 'demo', 'starting', 'stopped');
    supervisor.emit('state', 'demo', 'running', 'starting');
    supervisor.emit('state', 'demo', 'restarting', 'running');
    supervisor.emit('state', 'demo', 'running', 'restarting');
    circuit('demo', 'open');
    circuit('demo', 'half_open');
    circuit('demo', 'closed');
    circuit('gone', 'open'); // a backend it never saw
    const events = history.of('demo').map((e) => [e.kind, e.from, e.to, e.error]);
    expect(events).toEqual([
      ['added', null, null, null],
      ['state', 'stopped', 'starting', null],
      ['state', 'starting', 'running', null],
      ['crash', 'running', 'restarting', "Backend 'demo' exited with code 1"],
      ['state', 'restarting', 'running', null],
      ['circuit', 'closed', 'open', null],
      ['circuit', 'open', 'half_open', null],
      ['circuit', 'half_open', 'closed', null],
    ]);
    expect(history.of('gone')).toEqual([]);
    // A failed start is no crash, but carries the error.
    supervisor.emit('state', 'demo', 'starting', 'running');
    supervisor.emit('state', 'demo', 'failed', 'starting');
    expect(history.of('demo').at(-1)).toMatchObject({ kind: 'state', to: 'failed', error: "Backend 'demo' exited with code 1" });
    supervisor.emit('removed', 'demo');
    expect(history.of('demo')).toEqual([]);
  });

  it('keeps the newest entries only', () => {
    const { history, supervisor } = setup(3);
    for (let i = 0; i < 5; i += 1) supervisor.emit('state', 'b', i % 2 ? 'running' : 'stopped', i % 2 ? 'stopped' : 'running');
    expect(history.of('b')).toHaveLength(3);
    expect(history.of('b')[0]?.to).toBe('stopped');
  });
});
