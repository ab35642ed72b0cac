/**
 * Keeps the team board in one JSON file in the data directory, so tasks, comments and
 * their ids survive a restart of `tidings dev` (and the links in activity entries and
 * notifications, which Tidings stores durably, keep opening their task).
 *
 * Writes are atomic (a temporary file renamed over the old one) and coalesced: changes
 * made while a write runs go out together in the next one. `flush()` resolves once
 * everything changed before the call is on disk, so the backend can answer a change
 * only after it is saved.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export const BOARD_FILE_VERSION = 1;

export class BoardFile {
  #path;
  #snapshot;
  #dirty = false;
  /** @type {Promise<void>} the last write, settled or not (never rejects) */
  #queue = Promise.resolve();
  /** @type {Promise<void> | null} the write that will take the next changes */
  #scheduled = null;

  /**
   * @param {string} path
   * @param {() => unknown} snapshot  the state to write, called when a write starts
   */
  constructor(path, snapshot) {
    this.#path = path;
    this.#snapshot = snapshot;
  }

  get path() {
    return this.#path;
  }

  /**
   * The saved state, or undefined when there is no file yet. A file that is not a board
   * of this version is an error that names it, rather than silently replaced by an empty board.
   *
   * @returns {Record<string, unknown> | undefined}
   */
  read() {
    let text;
    try {
      text = readFileSync(this.#path, 'utf8');
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code === 'ENOENT') return undefined;
      throw err;
    }
    let data;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new Error(`demo board file ${this.#path} is not valid JSON (${/** @type {Error} */ (err).message}); move it away to start with a fresh board`);
    }
    if (typeof data !== 'object' || data === null || data.version !== BOARD_FILE_VERSION) {
      throw new Error(`demo board file ${this.#path} is not a board of version ${BOARD_FILE_VERSION}; move it away to start with a fresh board`);
    }
    return data;
  }

  /** Marks the state changed; the next `flush()` writes it. */
  changed() {
    this.#dirty = true;
  }

  /** Resolves once every change made before this call is on disk. */
  flush() {
    if (!this.#dirty) return this.#queue;
    if (this.#scheduled) return this.#scheduled;
    const next = this.#queue.then(() => {
      this.#scheduled = null;
      return this.#write();
    });
    this.#scheduled = next;
    this.#queue = next.catch(() => {});
    return next;
  }

  async #write() {
    if (!this.#dirty) return;
    this.#dirty = false;
    const text = `${JSON.stringify(this.#snapshot())}\n`;
    const tmp = `${this.#path}.${process.pid}.tmp`;
    try {
      await mkdir(dirname(this.#path), { recursive: true });
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, this.#path);
    } catch (err) {
      this.#dirty = true;
      throw err;
    }
  }
}
