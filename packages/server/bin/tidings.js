#!/usr/bin/env node
// The `tidings` command. A committed shim, so npm links the bin even before
// dist/ is built (npm ci on a fresh clone); it runs the compiled CLI.
import { main } from '../dist/cli.js';

await main();
