/** queue.json in a sweep folder: which queue the sweep runs through, and its id there. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CollapseError } from '../errors.js';

/** queue.json. */
export interface QueueFile {
  version: 1;
  /** The sweep's id: the prefix of its job ids and the name of its folder under each worker's root. */
  id: string;
  /** The queue's URL without password. */
  queue: string;
}

export const QUEUE_FILE = 'queue.json';

export async function readQueueFile(dir: string): Promise<QueueFile | null> {
  let text: string;
  try {
    text = await readFile(join(dir, QUEUE_FILE), 'utf8');
  } catch {
    return null;
  }
  try {
    const q = JSON.parse(text) as QueueFile;
    if (q.version === 1 && typeof q.id === 'string' && typeof q.queue === 'string') return q;
  } catch {
    /* reported below */
  }
  throw new CollapseError('E_BAD_CONFIG', `${dir}/${QUEUE_FILE} is not a collapse-lab queue file`);
}

