/**
 * Runs a script's `main` and exits with its code; an unexpected error is printed (with the
 * script's name when given) and exits 1. Every script in scripts/ ends with it.
 */
export function runMain(main: () => Promise<number | void>, name?: string): void {
  main().then(
    code => process.exit(code ?? 0),
    (e: unknown) => {
      const message = (e as Error)?.message ?? String(e);
      // The first thing a user meets without `npm start` or a project: say what to do.
      if (/Unable to detect a Project Id/.test(message)) {
        console.error(
          `${name ?? 'script'}: no target: start the local stack (npm start) and the scripts use it, or pass --project P (or set GOOGLE_CLOUD_PROJECT) for a real project`
        );
        process.exit(2);
      }
      if (name) console.error(`${name}: ${message}`);
      else console.error(e);
      process.exit(1);
    }
  );
}

/**
 * Glues each named option to its value (`--scale -1,1` → `--scale=-1,1`): node's parseArgs
 * would otherwise read a value that starts with a dash as another option.
 */
export function glueValues(argv: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (names.includes(arg) && i + 1 < argv.length) out.push(`${arg}=${argv[++i]!}`);
    else out.push(arg);
  }
  return out;
}
