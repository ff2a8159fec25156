/**
 * Runs a script's `main` and exits with its code; an unexpected error is printed (with the
 * script's name when given) and exits 1. Every script in scripts/ ends with it.
 */
export function runMain(main: () => Promise<number | void>, name?: string): void {
  main().then(
    code => process.exit(code ?? 0),
    (e: unknown) => {
      if (name) console.error(`${name}: ${(e as Error)?.message ?? String(e)}`);
      else console.error(e);
      process.exit(1);
    }
  );
}
