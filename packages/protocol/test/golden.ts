/**
 * Loads the golden frame fixtures of protocol v1 (test/golden/*.json).
 *
 * The fixtures are language-neutral: a client in another language can check its
 * encoder and decoder against the same files. Test-only; not part of the package build.
 */
import { readFileSync } from 'node:fs';
import type { ClientFrame, ServerFrame } from '../src/frames.js';

/** One frame and its exact encoded text. */
export interface FrameFixture<F> {
  name: string;
  frame: F;
  text: string;
}

/** Several frames in one message. `canonical`: `text` is exactly `encodeFrames(frames)`. */
export type MultiFrameFixture =
  | { name: string; direction: 'client'; canonical: boolean; text: string; frames: ClientFrame[] }
  | { name: string; direction: 'server'; canonical: boolean; text: string; frames: ServerFrame[] };

/** A client message that must decode to exactly one error. */
export interface InvalidClientFixture {
  name: string;
  text: string;
  expect: { ok: false; fatal: boolean; id?: number; code: string; message: string };
}

function load<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(`./golden/${file}`, import.meta.url), 'utf8')) as T;
}

export const clientFrames = load<FrameFixture<ClientFrame>[]>('client-frames.json');
export const serverFrames = load<FrameFixture<ServerFrame>[]>('server-frames.json');
export const multiFrames = load<MultiFrameFixture[]>('multi-frame.json');
export const invalidClientFrames = load<InvalidClientFixture[]>('invalid-client-frames.json');
