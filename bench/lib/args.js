/**
 * Command-line flags of the bench scripts: `--name value`, `--name=value`, and
 * boolean `--name`. Each script keeps its own table of what the flags mean.
 */

/** Yields `[name, value]` per flag; `booleans` lists the flags that take no value. */
export function* flags(argv, booleans) {
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    arg = arg.slice(2);
    const eq = arg.indexOf('=');
    if (eq >= 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (!booleans.includes(arg) && value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new Error(`--${arg} needs a value`);
    }
    yield [arg, value];
  }
}

export function positiveNumber(flag, value) {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag}: expected a positive number, got ${JSON.stringify(value)}`);
  return n;
}

/** `--kebab-case` → `camelCase`, the options' key. */
export const optionKey = (flag) => flag.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
