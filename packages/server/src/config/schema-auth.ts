/**
 * The `auth` and `apiKeys` sections of the configuration schema: how connection tokens are
 * verified (keys, issuers, algorithms), and the server API's keys.
 */
import { z } from 'zod';
import { SUPPORTED_ALGORITHMS } from '../auth/token-verifier.js';
import { duration } from './schema-values.js';

/** Secrets may arrive from env vars that look numeric. */
const secretString = z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string().min(1));

const keySources = {
  secret: secretString.optional(),
  publicKey: z.string().min(1).optional(),
  publicKeyFile: z.string().min(1).optional(),
  jwksFile: z.string().min(1).optional(),
  jwksUrl: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
};

const stringOrList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const issuerSchema = z.strictObject({ issuer: z.string().min(1), audience: stringOrList.optional(), ...keySources });

export const authSchema = z.strictObject({
  ...keySources,
  issuers: z.array(issuerSchema).default([]),
  audience: stringOrList.optional(),
  issuer: stringOrList.optional(),
  algorithms: z.array(z.enum(SUPPORTED_ALGORITHMS)).min(1).optional(),
  clockTolerance: duration('5s'),
  allowAnonymous: z.boolean().default(false),
  requireExp: z.boolean().default(false),
  jwksCacheMaxAge: duration('10m'),
  jwksCooldown: duration('30s'),
  jwksTimeout: duration('5s'),
});

export const apiKeySchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected 1-64 characters of A-Z a-z 0-9 _ . -'),
  key: z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string().min(16, 'expected at least 16 characters')),
  scopes: z.array(z.enum(['publish', 'read', 'admin'])).min(1),
});
