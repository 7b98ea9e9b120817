/**
 * A local sweep worker: a child process (child_process.fork) that loads the native addon once and
 * runs the cells its parent sends, one at a time, each as an ordinary run folder.
 *
 *   parent → worker  { type: 'run', dir, name, config, threads }   { type: 'stop' }
 *   worker → parent  { type: 'progress', name, event }   { type: 'done', name, result }
 *                    { type: 'error', name, code, message }
 */
import { CollapseError } from '../errors.js';
import type { ExperimentConfig } from '../experiment/config.js';
import { runCell } from './cell.js';

interface RunMessage {
  type: 'run';
  dir: string;
  name: string;
  config: ExperimentConfig;
  threads?: number;
}

let controller: AbortController | null = null;

// Ctrl-C reaches the whole process group: the parent decides when to stop (it sends 'stop').
process.on('SIGINT', () => undefined);
process.on('disconnect', () => {
  controller?.abort();
  process.exit(0);
});

process.on('message', (msg: RunMessage | { type: 'stop' }) => {
  if (msg.type === 'stop') {
    controller?.abort();
    return;
  }
  if (msg.type !== 'run') return;
  controller = new AbortController();
  const send = (m: object) => process.send?.(m);
  runCell(msg.dir, msg.name, msg.config, {
    ...(msg.threads ? { threads: msg.threads } : {}),
    signal: controller.signal,
    onProgress: (event) => {
      if (event.stage === 'done') send({ type: 'progress', name: msg.name, event });
    },
  }).then(
    (result) => send({ type: 'done', name: msg.name, result }),
    (err: unknown) => {
      const e = err as Error & { code?: string };
      send({ type: 'error', name: msg.name, code: err instanceof CollapseError || e.code ? e.code : 'E_INTERNAL', message: e.message ?? String(err) });
    },
  );
});
