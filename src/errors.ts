/**
 * Typed errors. Every error collapse-lab raises on purpose is a CollapseError with a stable
 * string `code` that callers can branch on; the message is one line a user can act on.
 */
export type ErrorCode =
  | 'E_BAD_ARGUMENT' // an option or argument has the wrong type or an impossible value
  | 'E_TOKEN_RANGE' // a token id is outside the vocabulary
  | 'E_OFFSETS' // sequence offsets are not a valid, monotone CSR index
  | 'E_CORPUS_EMPTY' // a corpus holds no positions to learn from or to score
  | 'E_NOT_FITTED' // the model was used before fit/load
  | 'E_BAD_MODEL_FILE' // a saved model is truncated, corrupt or from another format
  | 'E_BAD_CORPUS' // a corpus file or folder cannot be read as asked (missing, binary, bad UTF-8)
  | 'E_BAD_CONFIG' // an experiment config fails validation
  | 'E_NATIVE_LOAD' // the native addon is missing or was built for another Node
  | 'E_ABORTED' // cancelled through an AbortSignal
  | 'E_IO' // a file or folder cannot be written (read-only or full file system, permissions)
  | 'E_MEMORY_LIMIT' // the estimated peak memory of a call exceeds the memory limit (src/util/memory.ts)
  | 'E_DIVERGED' // training diverged: a step's loss or gradient norm is not finite
  | 'E_QUEUE' // the job queue (Redis) cannot be reached, or holds jobs this sweep cannot take as its own
  | 'E_INTERNAL'; // a broken invariant: a bug, please report it

export class CollapseError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    // One line, always: messages that quote input (JSON.parse's excerpts, file text) may hold newlines.
    super(String(message).replace(/\s*[\r\n]+\s*/g, ' '), options);
    this.name = 'CollapseError';
    this.code = code;
  }
}

/** Re-throws an error from the native addon as a CollapseError, keeping its code. */
export function fromNative(err: unknown): never {
  if (err instanceof CollapseError) throw err;
  const e = err as { message?: string; code?: string } | undefined;
  const code = (e?.code ?? 'E_INTERNAL') as ErrorCode;
  throw new CollapseError(code, e?.message ?? String(err), { cause: err });
}
